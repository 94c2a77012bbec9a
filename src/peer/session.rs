//! The record layer (SPEC §7 "Records"): session keys and sealed `DATA` frames.
//!
//! This module owns the four session keys, their derivation from the handshake's
//! transcript hash and shared secret, and the per-direction sequence counters. A
//! [`Session`] turns inner-message bytes into complete `DATA` frames ([`Session::seal`])
//! and `DATA` payloads back into inner-message bytes ([`Session::open`]). It does no I/O
//! and never interprets the inner bytes.
//!
//! Record payload: `iv (16) | AES-256-CBC(key_enc, iv, PKCS#7(inner)) | tag (32)` with
//! `tag = HMAC-SHA256(key_mac, seq u64 BE | iv | ciphertext)`. Encrypt-then-MAC; the
//! receiver verifies the tag in constant time before it decrypts anything, so there is
//! no padding oracle. `seq` is never sent: a replayed, dropped or reordered record
//! fails the tag check because the receiver's counter has moved on.
//!
//! Every error is final: the caller closes the connection and drops the `Session`
//! (the keys are wiped on drop).

use std::fmt;

use aes::Aes256;
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::frame::{self, DATA, HEADER_LEN, MAX_FRAME_LEN};

/// Length of each AES-256 and HMAC-SHA256 key.
pub const KEY_LEN: usize = 32;
/// CBC initialisation vector, one AES block, sent in front of each record.
pub const IV_LEN: usize = 16;
/// HMAC-SHA256 output, sent at the end of each record.
pub const TAG_LEN: usize = 32;
/// AES block size; ciphertexts are whole blocks.
pub const BLOCK_LEN: usize = 16;
/// Shortest valid record: IV, one block (PKCS#7 always adds at least one byte), tag.
pub const MIN_RECORD_LEN: usize = IV_LEN + BLOCK_LEN + TAG_LEN;
/// Longest inner message that fits one frame: the ciphertext may use all of
/// [`MAX_FRAME_LEN`] minus IV and tag, rounded down to whole blocks, and PKCS#7 needs
/// at least one byte of it. (1_048_527 bytes.)
pub const MAX_INNER_LEN: usize = (MAX_FRAME_LEN - IV_LEN - TAG_LEN) / BLOCK_LEN * BLOCK_LEN - 1;

/// SPEC §7 step 2: the HKDF `info` string.
const KEYS_INFO: &[u8] = b"purr/1 keys";
/// SPEC §7 step 2: HKDF output, four 32-byte keys.
const OKM_LEN: usize = 4 * KEY_LEN;
/// IVs drawn from the OS per `getrandom(2)` call: one system call per 64 records instead
/// of one per record (it was over half the cost of sealing a small record).
const IV_BATCH: usize = 64;

type HmacSha256 = Hmac<Sha256>;
type CbcEnc = cbc::Encryptor<Aes256>;
type CbcDec = cbc::Decryptor<Aes256>;

/// Which end of the connection we are: the one that dialled, or the one that accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Dialled the connection and sent the first `HAND`.
    Initiator,
    /// Accepted the connection and answered the `HAND`.
    Responder,
}

impl Role {
    /// SPEC §7 step 3: the role byte in the AUTH input, `0x49 'I'` or `0x52 'R'`.
    pub fn auth_byte(self) -> u8 {
        match self {
            Role::Initiator => b'I',
            Role::Responder => b'R',
        }
    }

    /// The role of the other end.
    pub fn peer(self) -> Role {
        match self {
            Role::Initiator => Role::Responder,
            Role::Responder => Role::Initiator,
        }
    }
}

/// Why a record could not be sealed or opened. Every one closes the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordError {
    /// A record payload shorter than [`MIN_RECORD_LEN`].
    TooShort {
        /// Its length.
        len: usize,
    },
    /// A ciphertext that is not a whole number of AES blocks.
    NotBlockAligned {
        /// The ciphertext length.
        len: usize,
    },
    /// The tag does not match: forged, corrupted, replayed, reordered, or wrong keys.
    BadTag,
    /// The tag matched but the PKCS#7 padding is wrong: the peer's encoder is broken.
    BadPadding,
    /// An inner message over [`MAX_INNER_LEN`] bytes cannot be sealed.
    TooLarge {
        /// Its length.
        len: usize,
    },
    /// 2^64 records in one direction; the connection must be replaced.
    SeqExhausted,
    /// The OS random source failed, so no IV could be drawn.
    Rng(String),
    /// A primitive refused its input. Cannot happen with the fixed sizes used here; it
    /// exists so that no code path needs a panic.
    Crypto,
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordError::TooShort { len } => {
                write!(f, "record of {len} bytes (min {MIN_RECORD_LEN})")
            }
            RecordError::NotBlockAligned { len } => {
                write!(f, "ciphertext of {len} bytes is not whole AES blocks")
            }
            RecordError::BadTag => write!(f, "record authentication failed"),
            RecordError::BadPadding => write!(f, "authenticated record has bad padding"),
            RecordError::TooLarge { len } => {
                write!(f, "inner message of {len} bytes (max {MAX_INNER_LEN})")
            }
            RecordError::SeqExhausted => write!(f, "record sequence number exhausted"),
            RecordError::Rng(e) => write!(f, "no IV: {e}"),
            RecordError::Crypto => write!(f, "internal cryptographic error"),
        }
    }
}

impl std::error::Error for RecordError {}

/// The four session keys, in HKDF output order (SPEC §7 step 2). Wiped on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Keys {
    /// Initiator → responder AES-256 key (okm bytes 0..32).
    pub i2r_enc: [u8; KEY_LEN],
    /// Initiator → responder HMAC key (okm bytes 32..64).
    pub i2r_mac: [u8; KEY_LEN],
    /// Responder → initiator AES-256 key (okm bytes 64..96).
    pub r2i_enc: [u8; KEY_LEN],
    /// Responder → initiator HMAC key (okm bytes 96..128).
    pub r2i_mac: [u8; KEY_LEN],
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Keys { .. }")
    }
}

/// SPEC §7 step 2: `HKDF-SHA256(salt = th, ikm = shared, info = "purr/1 keys")` → 128 bytes.
pub fn hkdf_okm(th: &[u8; 32], shared: &[u8; 32]) -> Result<Zeroizing<[u8; OKM_LEN]>, RecordError> {
    let mut okm = Zeroizing::new([0u8; OKM_LEN]);
    Hkdf::<Sha256>::new(Some(th), shared)
        .expand(KEYS_INFO, okm.as_mut())
        .map_err(|_| RecordError::Crypto)?;
    Ok(okm)
}

impl Keys {
    /// Derives the session keys from the transcript hash and the X25519 shared secret.
    pub fn derive(th: &[u8; 32], shared: &[u8; 32]) -> Result<Keys, RecordError> {
        let okm = hkdf_okm(th, shared)?;
        Ok(Keys::from_okm(&okm))
    }

    /// Splits the 128-byte HKDF output: i2r_enc, i2r_mac, r2i_enc, r2i_mac.
    pub fn from_okm(okm: &[u8; OKM_LEN]) -> Keys {
        let mut keys = Keys {
            i2r_enc: [0; KEY_LEN],
            i2r_mac: [0; KEY_LEN],
            r2i_enc: [0; KEY_LEN],
            r2i_mac: [0; KEY_LEN],
        };
        let slots = [
            &mut keys.i2r_enc,
            &mut keys.i2r_mac,
            &mut keys.r2i_enc,
            &mut keys.r2i_mac,
        ];
        // chunks_exact(KEY_LEN) of a 4 * KEY_LEN array: four chunks of exactly KEY_LEN.
        for (slot, chunk) in slots.into_iter().zip(okm.chunks_exact(KEY_LEN)) {
            slot.copy_from_slice(chunk);
        }
        keys
    }
}

/// One direction of a session: its two keys and its implicit sequence number.
#[derive(Zeroize, ZeroizeOnDrop)]
struct Direction {
    enc: [u8; KEY_LEN],
    mac: [u8; KEY_LEN],
    /// Sequence number of the next record in this direction (SPEC: from 0).
    seq: u64,
}

impl Direction {
    fn new(enc: &[u8; KEY_LEN], mac: &[u8; KEY_LEN]) -> Direction {
        Direction {
            enc: *enc,
            mac: *mac,
            seq: 0,
        }
    }

    /// SPEC §7: `tag = HMAC-SHA256(mac key, seq u64 BE | iv | ciphertext)`.
    fn mac(&self, iv: &[u8; IV_LEN], ciphertext: &[u8]) -> Result<HmacSha256, RecordError> {
        // HMAC takes keys of any length; the error arm exists only in the type.
        let mut mac = HmacSha256::new_from_slice(&self.mac).map_err(|_| RecordError::Crypto)?;
        mac.update(&self.seq.to_be_bytes());
        mac.update(iv);
        mac.update(ciphertext);
        Ok(mac)
    }
}

/// Fresh random IVs, drawn from the OS CSPRNG in batches of [`IV_BATCH`]. Each IV is
/// used once; the unused rest is wiped on drop. Empty until the first `seal`, so a
/// receiving half never allocates it.
struct IvPool {
    buf: Zeroizing<Vec<u8>>,
    used: usize,
}

impl IvPool {
    fn new() -> IvPool {
        IvPool {
            buf: Zeroizing::new(Vec::new()),
            used: 0,
        }
    }

    fn next(&mut self) -> Result<[u8; IV_LEN], RecordError> {
        if self.used + IV_LEN > self.buf.len() {
            self.buf.resize(IV_LEN * IV_BATCH, 0);
            crate::rng::fill(&mut self.buf).map_err(|e| RecordError::Rng(e.to_string()))?;
            self.used = 0;
        }
        let mut iv = [0u8; IV_LEN];
        let fresh = self
            .buf
            .get_mut(self.used..self.used + IV_LEN)
            .ok_or(RecordError::Crypto)?;
        iv.copy_from_slice(fresh);
        // An IV is handed out once: wipe it from the pool.
        fresh.fill(0);
        self.used += IV_LEN;
        Ok(iv)
    }
}

/// An established session: a sending and a receiving direction. Wiped on drop.
pub struct Session {
    send: Direction,
    recv: Direction,
    ivs: IvPool,
}

impl fmt::Debug for Session {
    // Only the counters: keys must never reach a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("send_seq", &self.send.seq)
            .field("recv_seq", &self.recv.seq)
            .finish_non_exhaustive()
    }
}

/// The sending half of a [`Session`]: what a connection seals.
#[derive(Debug)]
pub struct SendHalf(Session);

/// The receiving half of a [`Session`]: what a connection opens.
#[derive(Debug)]
pub struct RecvHalf(Session);

impl SendHalf {
    /// See [`Session::seal`].
    pub fn seal(&mut self, inner: &[u8], out: &mut Vec<u8>) -> Result<(), RecordError> {
        self.0.seal(inner, out)
    }
}

impl RecvHalf {
    /// See [`Session::open`].
    pub fn open(&mut self, payload: &[u8]) -> Result<Vec<u8>, RecordError> {
        self.0.open(payload)
    }
}

impl Session {
    /// Splits the session so one thread can seal while another opens. Each half keeps
    /// only its own direction's keys; the other direction is wiped right here.
    pub fn split(self) -> (SendHalf, RecvHalf) {
        let Session { send, recv, ivs } = self;
        let blank = || Direction {
            enc: [0; KEY_LEN],
            mac: [0; KEY_LEN],
            seq: 0,
        };
        (
            SendHalf(Session {
                send,
                recv: blank(),
                ivs,
            }),
            RecvHalf(Session {
                send: blank(),
                recv,
                ivs: IvPool::new(),
            }),
        )
    }

    /// The session of the end playing `role`: an initiator sends with the i2r keys and
    /// receives with the r2i keys, a responder the other way round.
    pub fn new(keys: &Keys, role: Role) -> Session {
        let i2r = Direction::new(&keys.i2r_enc, &keys.i2r_mac);
        let r2i = Direction::new(&keys.r2i_enc, &keys.r2i_mac);
        match role {
            Role::Initiator => Session {
                send: i2r,
                recv: r2i,
                ivs: IvPool::new(),
            },
            Role::Responder => Session {
                send: r2i,
                recv: i2r,
                ivs: IvPool::new(),
            },
        }
    }

    /// Sequence number the next sealed record will use.
    pub fn send_seq(&self) -> u64 {
        self.send.seq
    }

    /// Sequence number the next opened record must have.
    pub fn recv_seq(&self) -> u64 {
        self.recv.seq
    }

    /// Appends a complete `DATA` frame carrying `inner` to `out`, with a fresh random IV
    /// (SPEC §7 "Fresh random IV per record").
    pub fn seal(&mut self, inner: &[u8], out: &mut Vec<u8>) -> Result<(), RecordError> {
        let iv = self.ivs.next()?;
        self.seal_with_iv(inner, &iv, out)
    }

    /// [`Session::seal`] with a caller-chosen IV, for known-answer tests and fuzzing.
    /// Production code must use `seal`: CBC needs unpredictable IVs.
    ///
    /// Encrypts in place inside `out`, which grows once by exactly the frame's size.
    /// On error `out` is left as it was and the sequence number does not advance.
    pub fn seal_with_iv(
        &mut self,
        inner: &[u8],
        iv: &[u8; IV_LEN],
        out: &mut Vec<u8>,
    ) -> Result<(), RecordError> {
        if inner.len() > MAX_INNER_LEN {
            return Err(RecordError::TooLarge { len: inner.len() });
        }
        let next_seq = self
            .send
            .seq
            .checked_add(1)
            .ok_or(RecordError::SeqExhausted)?;
        // PKCS#7 always pads, 1..=16 bytes, up to the next whole block.
        let ct_len = (inner.len() / BLOCK_LEN + 1) * BLOCK_LEN;
        let payload_len = IV_LEN + ct_len + TAG_LEN;
        let len = frame::encoded_len(payload_len)
            .map_err(|_| RecordError::TooLarge { len: inner.len() })?;

        let start = out.len();
        out.reserve_exact(HEADER_LEN + payload_len);
        out.extend_from_slice(&DATA);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(iv);
        let ct_start = out.len();
        out.extend_from_slice(inner);
        out.resize(ct_start + ct_len, 0);
        match self.encrypt_and_tag(iv, inner.len(), out, ct_start) {
            Ok(()) => {
                self.send.seq = next_seq;
                Ok(())
            }
            Err(e) => {
                out.truncate(start);
                Err(e)
            }
        }
    }

    /// Encrypts `out[ct_start..]` (plaintext of `msg_len` bytes plus room for padding)
    /// in place and appends the tag.
    fn encrypt_and_tag(
        &self,
        iv: &[u8; IV_LEN],
        msg_len: usize,
        out: &mut Vec<u8>,
        ct_start: usize,
    ) -> Result<(), RecordError> {
        let buf = out.get_mut(ct_start..).ok_or(RecordError::Crypto)?;
        // SPEC §7: `AES-256-CBC(PKCS#7(inner))` under this direction's enc key.
        let ciphertext = CbcEnc::new((&self.send.enc).into(), iv.into())
            .encrypt_padded::<Pkcs7>(buf, msg_len)
            .map_err(|_| RecordError::Crypto)?;
        let tag: [u8; TAG_LEN] = self
            .send
            .mac(iv, ciphertext)?
            .finalize()
            .into_bytes()
            .into();
        out.extend_from_slice(&tag);
        Ok(())
    }

    /// Checks and decrypts the payload of one received `DATA` frame and returns the
    /// inner-message bytes. The receive counter advances only on success.
    pub fn open(&mut self, payload: &[u8]) -> Result<Vec<u8>, RecordError> {
        if payload.len() < MIN_RECORD_LEN {
            return Err(RecordError::TooShort { len: payload.len() });
        }
        let too_short = RecordError::TooShort { len: payload.len() };
        let (iv, rest) = payload
            .split_first_chunk::<IV_LEN>()
            .ok_or(too_short.clone())?;
        let (ciphertext, tag) = rest.split_last_chunk::<TAG_LEN>().ok_or(too_short)?;
        if ciphertext.len() % BLOCK_LEN != 0 {
            return Err(RecordError::NotBlockAligned {
                len: ciphertext.len(),
            });
        }
        let next_seq = self
            .recv
            .seq
            .checked_add(1)
            .ok_or(RecordError::SeqExhausted)?;

        // SPEC §7: "Verify the tag (constant time) before decrypting". `verify_slice`
        // compares with `subtle`, so timing says nothing about how many bytes matched.
        self.recv
            .mac(iv, ciphertext)?
            .verify_slice(tag)
            .map_err(|_| RecordError::BadTag)?;

        let mut plain = ciphertext.to_vec();
        let inner_len = CbcDec::new((&self.recv.enc).into(), iv.into())
            .decrypt_padded::<Pkcs7>(&mut plain)
            .map_err(|_| RecordError::BadPadding)?
            .len();
        plain.truncate(inner_len);
        self.recv.seq = next_seq;
        Ok(plain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Keys {
        let okm: [u8; OKM_LEN] = std::array::from_fn(|i| i as u8);
        Keys::from_okm(&okm)
    }

    #[test]
    fn okm_splits_in_spec_order() {
        let keys = keys();
        assert_eq!(keys.i2r_enc[0], 0);
        assert_eq!(keys.i2r_mac[0], 32);
        assert_eq!(keys.r2i_enc[0], 64);
        assert_eq!(keys.r2i_mac[31], 127);
    }

    #[test]
    fn max_inner_len_is_the_largest_that_fits() {
        assert_eq!(MAX_INNER_LEN, 1_048_527);
        let mut out = Vec::new();
        let mut tx = Session::new(&keys(), Role::Initiator);
        let inner = vec![0u8; MAX_INNER_LEN];
        tx.seal_with_iv(&inner, &[0; IV_LEN], &mut out).unwrap();
        assert_eq!(out.len(), HEADER_LEN + MAX_FRAME_LEN);
        assert_eq!(out.capacity(), out.len(), "seal must reserve exactly once");
        let too_big = vec![0u8; MAX_INNER_LEN + 1];
        assert_eq!(
            tx.seal_with_iv(&too_big, &[0; IV_LEN], &mut out),
            Err(RecordError::TooLarge {
                len: MAX_INNER_LEN + 1
            })
        );
        assert_eq!(tx.send_seq(), 1);
    }

    #[test]
    fn ivs_are_fresh_across_batches() {
        let mut pool = IvPool::new();
        let ivs: Vec<[u8; IV_LEN]> = (0..3 * IV_BATCH).map(|_| pool.next().unwrap()).collect();
        let distinct: std::collections::HashSet<_> = ivs.iter().collect();
        assert_eq!(distinct.len(), ivs.len(), "no IV is handed out twice");
        assert!(
            pool.buf[..pool.used].iter().all(|b| *b == 0),
            "used IVs are wiped"
        );
    }

    #[test]
    fn debug_output_hides_keys() {
        let keys = keys();
        let session = Session::new(&keys, Role::Responder);
        assert_eq!(format!("{keys:?}"), "Keys { .. }");
        let shown = format!("{session:?}");
        assert!(shown.contains("send_seq: 0"), "{shown}");
        assert!(!shown.contains("enc") && !shown.contains("mac"), "{shown}");
    }

    #[test]
    fn valid_tag_with_bad_padding_is_refused() {
        // Records whose tag is right but whose plaintext is not PKCS#7-padded: a zero
        // pad byte, and a lenient-looking `.. 01 02` (strict PKCS#7 needs `02 02`).
        let keys = keys();
        let tx = Session::new(&keys, Role::Initiator);
        let iv = [7u8; IV_LEN];
        let mut lenient = [0x41u8; BLOCK_LEN];
        lenient[14] = 1;
        lenient[15] = 2;
        for mut block in [[0u8; BLOCK_LEN], lenient] {
            CbcEnc::new((&keys.i2r_enc).into(), (&iv).into())
                .encrypt_padded::<cbc::cipher::block_padding::NoPadding>(&mut block, BLOCK_LEN)
                .unwrap();
            let tag: [u8; TAG_LEN] = tx
                .send
                .mac(&iv, &block)
                .unwrap()
                .finalize()
                .into_bytes()
                .into();
            let payload = [&iv[..], &block[..], &tag[..]].concat();
            let mut rx = Session::new(&keys, Role::Responder);
            assert_eq!(rx.open(&payload), Err(RecordError::BadPadding));
            assert_eq!(rx.recv_seq(), 0);
        }
    }
}
