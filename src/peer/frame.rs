//! Framing: the outermost layer of the peer protocol (SPEC §7 "Frame").
//!
//! This module owns the byte layout `cmd: 4 ASCII bytes | len: u32 BE | payload` and the
//! one rule that protects memory: a `len` above the limit is refused from the 8-byte
//! header alone, before any payload buffer exists. It knows nothing about what a `HAND`
//! or `DATA` payload means.
//!
//! Reading distinguishes a peer that closed cleanly between frames
//! ([`FrameError::Closed`]) from one that stopped in the middle of a frame
//! ([`FrameError::TruncatedHeader`] / [`FrameError::TruncatedPayload`]), so the caller
//! can log the first as normal and the second as a protocol failure.

use std::fmt;
use std::io::{self, Read, Write};

/// Largest payload a frame may carry: SPEC §7 "`len` above 1 MiB closes the connection"
/// and §9 "Max frame 1 MiB".
pub const MAX_FRAME_LEN: usize = 1_048_576;

/// Size of the header: 4 command bytes and a 4-byte big-endian length.
pub const HEADER_LEN: usize = 8;

/// Command of the handshake frame (SPEC §7 step 1).
pub const HAND: [u8; 4] = *b"HAND";

/// Command of every record after the handshake (SPEC §7 "Records").
pub const DATA: [u8; 4] = *b"DATA";

/// The first payload buffer is at most this big; it grows only as bytes really arrive,
/// so a peer that announces 1 MiB and sends nothing costs us 64 KiB, not 1 MiB.
const INITIAL_PAYLOAD_CAPACITY: usize = 64 * 1024;

/// One frame as read from (or to be written to) the wire.
#[derive(Clone, PartialEq, Eq)]
pub struct Frame {
    /// Four ASCII bytes naming the frame, e.g. `HAND` or `DATA`.
    pub cmd: [u8; 4],
    /// The payload, at most the reader's limit (by default [`MAX_FRAME_LEN`]).
    pub payload: Vec<u8>,
}

impl fmt::Debug for Frame {
    // Payloads may be large and are opaque at this layer: show the command and length.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Frame")
            .field("cmd", &CmdDisplay(&self.cmd))
            .field("len", &self.payload.len())
            .finish()
    }
}

/// Why a frame could not be read or written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// The peer closed the stream cleanly before the first byte of a frame.
    Closed,
    /// The stream ended inside the 8-byte header after `got` bytes.
    TruncatedHeader {
        /// Header bytes received before the end of the stream.
        got: usize,
    },
    /// The stream ended inside the payload after `got` of `expected` bytes.
    TruncatedPayload {
        /// Payload length announced by the header.
        expected: usize,
        /// Payload bytes received before the end of the stream.
        got: usize,
    },
    /// The announced (or offered) payload length is above the limit.
    TooLarge {
        /// The length in the header (or of the payload given to a writer).
        len: u64,
        /// The limit that applied.
        max: usize,
    },
    /// The command bytes are not printable ASCII.
    BadCmd([u8; 4]),
    /// The underlying stream failed (including timeouts: `WouldBlock`/`TimedOut`).
    Io(io::ErrorKind),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Closed => write!(f, "connection closed"),
            FrameError::TruncatedHeader { got } => {
                write!(
                    f,
                    "connection closed after {got} of {HEADER_LEN} header bytes"
                )
            }
            FrameError::TruncatedPayload { expected, got } => {
                write!(
                    f,
                    "connection closed after {got} of {expected} payload bytes"
                )
            }
            FrameError::TooLarge { len, max } => {
                write!(f, "frame of {len} bytes is over the {max}-byte limit")
            }
            FrameError::BadCmd(cmd) => write!(f, "frame command {} is not ASCII", CmdDisplay(cmd)),
            FrameError::Io(kind) => write!(f, "i/o error: {kind}"),
        }
    }
}

impl std::error::Error for FrameError {}

/// Shows a 4-byte command as text with non-printable bytes escaped (`"HA\x00D"`), so a
/// hostile peer cannot put control characters into our logs.
pub struct CmdDisplay<'a>(pub &'a [u8; 4]);

impl fmt::Display for CmdDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", self.0.escape_ascii())
    }
}

impl fmt::Debug for CmdDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Checks an 8-byte header and returns the command and payload length.
///
/// This is the only place a length from the wire is trusted, and only after the check
/// against `max`: SPEC §7 wants an oversize frame refused "before anything is allocated".
pub fn parse_header(header: &[u8; HEADER_LEN], max: usize) -> Result<([u8; 4], usize), FrameError> {
    let [c0, c1, c2, c3, l0, l1, l2, l3] = *header;
    let cmd = [c0, c1, c2, c3];
    check_cmd(&cmd)?;
    let len = u32::from_be_bytes([l0, l1, l2, l3]);
    match usize::try_from(len) {
        Ok(len) if len <= max => Ok((cmd, len)),
        _ => Err(FrameError::TooLarge {
            len: u64::from(len),
            max,
        }),
    }
}

fn check_cmd(cmd: &[u8; 4]) -> Result<(), FrameError> {
    // "4 ASCII bytes": printable, no spaces or controls, so every command is loggable.
    if cmd.iter().all(u8::is_ascii_graphic) {
        Ok(())
    } else {
        Err(FrameError::BadCmd(*cmd))
    }
}

/// Reads one frame with the protocol's limit, [`MAX_FRAME_LEN`].
pub fn read_frame<R: Read>(reader: &mut R) -> Result<Frame, FrameError> {
    read_frame_limited(reader, MAX_FRAME_LEN)
}

/// Reads one frame whose payload may be at most `max` bytes (clamped to
/// [`MAX_FRAME_LEN`]). The handshake uses a smaller limit: an unauthenticated peer has no
/// business sending more than a `HAND`.
pub fn read_frame_limited<R: Read>(reader: &mut R, max: usize) -> Result<Frame, FrameError> {
    let mut header = [0u8; HEADER_LEN];
    read_header(reader, &mut header)?;
    let (cmd, len) = parse_header(&header, max.min(MAX_FRAME_LEN))?;
    let payload = read_payload(reader, len)?;
    Ok(Frame { cmd, payload })
}

/// Fills the header, telling "nothing at all" apart from "part of a header".
fn read_header<R: Read>(reader: &mut R, header: &mut [u8; HEADER_LEN]) -> Result<(), FrameError> {
    let mut filled = 0;
    while let Some(rest) = header.get_mut(filled..).filter(|rest| !rest.is_empty()) {
        match reader.read(rest) {
            Ok(0) if filled == 0 => return Err(FrameError::Closed),
            Ok(0) => return Err(FrameError::TruncatedHeader { got: filled }),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(FrameError::Io(e.kind())),
        }
    }
    Ok(())
}

/// Reads exactly `len` payload bytes. The buffer grows with the data actually received
/// (see [`INITIAL_PAYLOAD_CAPACITY`]); `len` was checked against the limit already.
fn read_payload<R: Read>(reader: &mut R, len: usize) -> Result<Vec<u8>, FrameError> {
    let mut payload = Vec::with_capacity(len.min(INITIAL_PAYLOAD_CAPACITY));
    // `as u64` cannot truncate: usize is at most 64 bits on every supported target.
    let limit = len as u64;
    // `read_to_end` retries on `Interrupted` and stops at the `take` limit or at EOF.
    reader
        .take(limit)
        .read_to_end(&mut payload)
        .map_err(|e| FrameError::Io(e.kind()))?;
    if payload.len() < len {
        return Err(FrameError::TruncatedPayload {
            expected: len,
            got: payload.len(),
        });
    }
    Ok(payload)
}

/// Appends the frame `cmd | len | payload` to `out`.
///
/// Refuses a payload over [`MAX_FRAME_LEN`] (the peer would close on it) and a command
/// that is not printable ASCII; `out` is unchanged on error.
pub fn encode_into(cmd: &[u8; 4], payload: &[u8], out: &mut Vec<u8>) -> Result<(), FrameError> {
    check_cmd(cmd)?;
    let len = encoded_len(payload.len())?;
    out.reserve(HEADER_LEN + payload.len());
    out.extend_from_slice(cmd);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
    Ok(())
}

/// The header's length field for a payload of `len` bytes, if it is within the limit.
pub(crate) fn encoded_len(len: usize) -> Result<u32, FrameError> {
    match u32::try_from(len) {
        Ok(n) if len <= MAX_FRAME_LEN => Ok(n),
        _ => Err(FrameError::TooLarge {
            len: len as u64,
            max: MAX_FRAME_LEN,
        }),
    }
}

/// Writes one frame with a single `write_all` (header and payload in one buffer, so
/// Nagle's algorithm never holds the payload back behind a lone header) and flushes.
pub fn write_frame<W: Write>(
    writer: &mut W,
    cmd: &[u8; 4],
    payload: &[u8],
) -> Result<(), FrameError> {
    let mut buf = Vec::new();
    encode_into(cmd, payload, &mut buf)?;
    write_bytes(writer, &buf)
}

/// Writes already-encoded frames (e.g. from [`crate::peer::Session::seal`]) and flushes.
pub fn write_bytes<W: Write>(writer: &mut W, bytes: &[u8]) -> Result<(), FrameError> {
    writer
        .write_all(bytes)
        .and_then(|()| writer.flush())
        .map_err(|e| FrameError::Io(e.kind()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_then_read_round_trips() {
        let mut wire = Vec::new();
        encode_into(b"TEST", b"hello", &mut wire).unwrap();
        assert_eq!(wire, b"TEST\x00\x00\x00\x05hello");
        let frame = read_frame(&mut wire.as_slice()).unwrap();
        assert_eq!(frame.cmd, *b"TEST");
        assert_eq!(frame.payload, b"hello");
    }

    #[test]
    fn header_limit_is_inclusive() {
        let at_limit = [b'D', b'A', b'T', b'A', 0x00, 0x10, 0x00, 0x00];
        assert_eq!(
            parse_header(&at_limit, MAX_FRAME_LEN),
            Ok((DATA, MAX_FRAME_LEN))
        );
        let over = [b'D', b'A', b'T', b'A', 0x00, 0x10, 0x00, 0x01];
        assert_eq!(
            parse_header(&over, MAX_FRAME_LEN),
            Err(FrameError::TooLarge {
                len: 1_048_577,
                max: MAX_FRAME_LEN
            })
        );
    }

    #[test]
    fn non_ascii_command_is_refused_both_ways() {
        let header = [b'H', 0, b'N', b'D', 0, 0, 0, 0];
        assert_eq!(
            parse_header(&header, MAX_FRAME_LEN),
            Err(FrameError::BadCmd([b'H', 0, b'N', b'D']))
        );
        let mut out = Vec::new();
        assert!(encode_into(b"A B ", b"", &mut out).is_err());
        assert!(out.is_empty());
    }

    #[test]
    fn oversize_payload_is_not_encoded() {
        let big = vec![0u8; MAX_FRAME_LEN + 1];
        let mut out = Vec::new();
        assert!(matches!(
            encode_into(&DATA, &big, &mut out),
            Err(FrameError::TooLarge { .. })
        ));
        assert!(out.is_empty());
    }

    #[test]
    fn cmd_display_escapes_control_bytes() {
        assert_eq!(CmdDisplay(b"H\x1b[D").to_string(), "\"H\\x1b[D\"");
    }
}
