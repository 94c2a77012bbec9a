//! The file-transfer kinds of inner messages (docs/PROTOCOL.md §6, capability `files`).
//!
//! ```text
//!   sender                                   receiver
//!   FOFR {offer}  ─────────────────────────▶  stored, ACKN (like a MESS)
//!                                            user accepts; space checked, preallocated
//!                 ◀─────────────────────────  FREQ {have: ranges held, window}
//!   FCHK <binary> ═══ bulk lane, ≤ window ══▶  hash checked, written, fdatasync'd
//!                 ◀─────────────────────────  FACK {n: more credit}
//!   FEND {root}   ═════════════════════════▶  all held: root over the chunk hashes
//!                 ◀─────────────────────────  FDON (stored and verified)
//!   FCAN {reason} ◀────── either way ───────▶ FCAN {reason}
//! ```
//!
//! `FREQ` is sent again after every reconnect or restart of either side, naming only
//! what the receiver holds *durably*; the sender starts over from it.
//!
//! Bodies are JSON except `FCHK`, whose layout is binary:
//!
//! ```text
//!   offset  size  field
//!   0       16    id      the transfer (the offer's id)
//!   16      8     index   u64 big-endian, chunk number
//!   24      32    hash    SHA-256 of data
//!   56      n     data    1..=MAX_CHUNK bytes (0 only for the one chunk of an empty file)
//! ```
//!
//! Limits here are structural (a malformed body closes the connection, §6); what a
//! receiver decides about an offer's content (a name to clean up, a size over its
//! limit) is not a parse error: the transfer ends with a reason and the session goes on.

use serde::de::Deserializer;
use serde::{Deserialize, Serialize, Serializer};

use super::inner::{InnerError, MsgId};
use super::json;

/// The chunk size purr sends (and the largest a receiver accepts): 128 KiB.
pub const MAX_CHUNK: usize = 128 * 1024;
/// Fixed part of an `FCHK` body before the data.
pub const CHUNK_HEADER: usize = 16 + 8 + 32;
/// Longest file name on the wire, in bytes (the receiver cuts what it keeps much
/// shorter; a longer one is malformed).
pub const MAX_WIRE_NAME: usize = 16 * 1024;
/// Longest media type, in bytes.
pub const MAX_MIME: usize = 255;
/// Largest thumbnail, in bytes (hex on the wire: twice that).
pub const MAX_THUMB: usize = 32 * 1024;
/// Longest caption, in bytes (as a message text).
pub const MAX_CAPTION: usize = crate::rules::MAX_TEXT_LEN;
/// Most ranges in one `FREQ`.
pub const MAX_RANGES: usize = 4096;
/// Longest `FCAN` reason, in bytes.
pub const MAX_REASON: usize = 1024;

/// `FOFR`: a file the sender offers. Fields serialized in this order; `thumb` and
/// `caption` are left out when absent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offer {
    /// The transfer's id, chosen at random by the sender (as a message id).
    pub id: MsgId,
    /// The sender's name for the file. Never used as a path by the receiver.
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// Media type as the sender guesses it (only a hint).
    pub mime: String,
    /// Chunk size in bytes, 1..=[`MAX_CHUNK`].
    pub chunk: u32,
    /// A small preview image, at most [`MAX_THUMB`] bytes (hex on the wire).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_thumb",
        deserialize_with = "de_thumb"
    )]
    pub thumb: Option<Vec<u8>>,
    /// Words that go with the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
}

impl Offer {
    /// Chunks in the file (an empty file has one empty chunk).
    pub fn chunks(&self) -> u64 {
        chunk_count(self.size, self.chunk)
    }
}

/// Chunks in a file of `size` bytes cut in chunks of `chunk` bytes (at least one).
pub fn chunk_count(size: u64, chunk: u32) -> u64 {
    let chunk = u64::from(chunk.max(1));
    size.div_ceil(chunk).max(1)
}

/// `FREQ`: what the receiver holds durably (half-open ranges of chunk indexes, sorted,
/// disjoint) and how many chunks the sender may send before more credit (`FACK`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// The transfer (the offer's id).
    pub id: MsgId,
    /// Half-open ranges of chunk indexes held durably.
    #[serde(deserialize_with = "de_ranges")]
    pub have: Vec<(u64, u64)>,
    /// Chunks the sender may send before more credit.
    pub window: u32,
}

/// `FACK`: `n` more chunks may be sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credit {
    /// The transfer (the offer's id).
    pub id: MsgId,
    /// Chunks added to the credit.
    pub n: u32,
}

/// `FEND`: the root hash, SHA-256 over the concatenated SHA-256 of every chunk in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct End {
    /// The transfer (the offer's id).
    pub id: MsgId,
    /// SHA-256 over the chunk hashes.
    #[serde(serialize_with = "json::ser_hex", deserialize_with = "json::hex_array")]
    pub root: [u8; 32],
}

/// `FDON` (the receiver stored and verified the file) or the id of anything else that
/// names only a transfer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Done {
    /// The transfer (the offer's id).
    pub id: MsgId,
}

/// `FCAN`: the transfer is over, for this reason (shown to the user).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cancel {
    /// The transfer (the offer's id).
    pub id: MsgId,
    /// Why, for the user.
    pub reason: String,
}

/// `FCHK`: one chunk (binary body, see the module docs).
#[derive(Clone, PartialEq, Eq)]
pub struct Chunk {
    /// The transfer (the offer's id).
    pub id: MsgId,
    /// Chunk number.
    pub index: u64,
    /// SHA-256 of `data`.
    pub hash: [u8; 32],
    /// The bytes.
    pub data: Vec<u8>,
}

impl std::fmt::Debug for Chunk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Chunk({}, #{}, {} bytes)",
            self.id,
            self.index,
            self.data.len()
        )
    }
}

impl Chunk {
    /// Parses an `FCHK` body; the data is copied once, its length checked first.
    pub fn parse(body: &[u8]) -> Result<Chunk, InnerError> {
        let bad = |why: &str| InnerError::Json {
            kind: super::inner::kind::FCHK,
            reason: why.into(),
        };
        if body.len() < CHUNK_HEADER {
            return Err(bad("shorter than its header"));
        }
        let data = &body[CHUNK_HEADER..];
        if data.len() > MAX_CHUNK {
            return Err(bad("data longer than 128 KiB"));
        }
        let (id, rest) = body.split_at(16);
        let (index, rest) = rest.split_at(8);
        let (hash, _) = rest.split_at(32);
        Ok(Chunk {
            id: MsgId(id.try_into().map_err(|_| bad("id"))?),
            index: u64::from_be_bytes(index.try_into().map_err(|_| bad("index"))?),
            hash: hash.try_into().map_err(|_| bad("hash"))?,
            data: data.to_vec(),
        })
    }

    /// Appends the body.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.id.0);
        out.extend_from_slice(&self.index.to_be_bytes());
        out.extend_from_slice(&self.hash);
        out.extend_from_slice(&self.data);
    }
}

/// Structural limits of the JSON kinds (called by `Inner::validate`).
pub fn validate_offer(o: &Offer) -> Result<(), InnerError> {
    let too_long = |what: &'static str, count: usize, max: usize| {
        (count > max)
            .then_some(InnerError::TooMany { what, count, max })
            .map_or(Ok(()), Err)
    };
    too_long("bytes of file name", o.name.len(), MAX_WIRE_NAME)?;
    too_long("bytes of media type", o.mime.len(), MAX_MIME)?;
    too_long(
        "bytes of thumbnail",
        o.thumb.as_ref().map_or(0, Vec::len),
        MAX_THUMB,
    )?;
    too_long(
        "bytes of caption",
        o.caption.as_ref().map_or(0, String::len),
        MAX_CAPTION,
    )?;
    if o.chunk == 0 || o.chunk as usize > MAX_CHUNK {
        return Err(InnerError::TooMany {
            what: "bytes per chunk",
            count: o.chunk as usize,
            max: MAX_CHUNK,
        });
    }
    Ok(())
}

/// Ranges must be sorted, disjoint and non-empty.
pub fn validate_request(r: &Request) -> Result<(), InnerError> {
    let mut last_end = 0u64;
    for (i, &(start, end)) in r.have.iter().enumerate() {
        if start >= end || (i > 0 && start <= last_end) {
            return Err(InnerError::Json {
                kind: super::inner::kind::FREQ,
                reason: format!("range {start}..{end} empty, overlapping or out of order"),
            });
        }
        last_end = end;
    }
    if r.have.len() > MAX_RANGES {
        return Err(InnerError::TooMany {
            what: "ranges",
            count: r.have.len(),
            max: MAX_RANGES,
        });
    }
    Ok(())
}

/// A reason's length.
pub fn validate_cancel(c: &Cancel) -> Result<(), InnerError> {
    if c.reason.len() > MAX_REASON {
        return Err(InnerError::TooMany {
            what: "bytes of reason",
            count: c.reason.len(),
            max: MAX_REASON,
        });
    }
    Ok(())
}

fn ser_thumb<S: Serializer>(thumb: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
    match thumb {
        Some(t) => s.serialize_str(&crate::hex::encode(t)),
        None => s.serialize_none(),
    }
}

fn de_thumb<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
    use serde::de::Error;
    let text: &str = Deserialize::deserialize(d)?;
    if text.len() > 2 * MAX_THUMB
        || !text.len().is_multiple_of(2)
        || !crate::hex::is_lower_hex(text, text.len())
    {
        return Err(D::Error::custom("thumb: lowercase hex of at most 32 KiB"));
    }
    let bytes = (0..text.len() / 2)
        .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(D::Error::custom)?;
    Ok(Some(bytes))
}

fn de_ranges<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(u64, u64)>, D::Error> {
    json::bounded(d, MAX_RANGES, "ranges")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunk_round_trips_and_its_limits_hold() {
        let c = Chunk {
            id: MsgId([3; 16]),
            index: 7,
            hash: [9; 32],
            data: vec![1, 2, 3],
        };
        let mut out = Vec::new();
        c.encode(&mut out);
        assert_eq!(out.len(), CHUNK_HEADER + 3);
        assert_eq!(Chunk::parse(&out), Ok(c));
        assert!(Chunk::parse(&out[..CHUNK_HEADER - 1]).is_err());
        let big = vec![0u8; CHUNK_HEADER + MAX_CHUNK + 1];
        assert!(Chunk::parse(&big).is_err());
        assert!(Chunk::parse(&big[..CHUNK_HEADER + MAX_CHUNK]).is_ok());
    }

    #[test]
    fn chunk_counts() {
        assert_eq!(chunk_count(0, 10), 1);
        assert_eq!(chunk_count(1, 10), 1);
        assert_eq!(chunk_count(10, 10), 1);
        assert_eq!(chunk_count(11, 10), 2);
        assert_eq!(chunk_count(u64::MAX, 1 << 17), u64::MAX.div_ceil(1 << 17));
    }

    #[test]
    fn request_ranges_are_sorted_and_disjoint() {
        let r = |have: Vec<(u64, u64)>| {
            validate_request(&Request {
                id: MsgId([0; 16]),
                have,
                window: 1,
            })
        };
        assert!(r(vec![]).is_ok());
        assert!(r(vec![(0, 2), (3, 5)]).is_ok());
        assert!(r(vec![(0, 2), (2, 5)]).is_err(), "touching ranges are one");
        assert!(r(vec![(3, 5), (0, 2)]).is_err());
        assert!(r(vec![(2, 2)]).is_err());
    }
}
