//! The `HAND` payload (SPEC §7 step 1): who the peer claims to be.
//!
//! This module owns the JSON `{"v":1,"id":hex,"eph":hex,"port":u16,"name":str}`, its
//! exact serialization (field order and escaping are part of the transcript hash, so
//! both ends must hash the very bytes that were sent), and every check on it.
//! [`Hand::parse`] is the one place those untrusted bytes are read.
//!
//! Nothing here is authenticated yet: the claimed `id` is only believed once the
//! peer's `AUTH` signature verifies against it (see `handshake`).
//!
//! Choices where SPEC is silent (also in `docs/PROTOCOL.md`):
//! - unknown extra fields are ignored, so a later version can add fields without
//!   breaking version-1 peers; the `v` check is what refuses incompatible peers;
//! - `v` is checked first, so a version-2 peer gets "unsupported version 2" even if the
//!   rest of its `HAND` looks different;
//! - `id` must be a canonical encoding of an Ed25519 point that is not of small order:
//!   such a key could never pass strict signature verification, and canonical form
//!   keeps one id per key.

use std::fmt;

use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};

use super::inner::{validate_name, NameError};
use crate::hex;

/// SPEC §7 step 1: a `HAND` payload is "at most 1 KiB".
pub const MAX_HAND_LEN: usize = 1024;

/// The protocol version this code speaks (`"v":1`).
pub const PROTOCOL_VERSION: u64 = 1;

/// A checked `HAND` payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hand {
    /// Claimed Ed25519 identity public key (a canonical, full-order point).
    pub id: [u8; 32],
    /// X25519 ephemeral public key for this connection.
    pub eph: [u8; 32],
    /// TCP port the sender listens on (1..=65535).
    pub port: u16,
    /// Display name (1..=64 chars, no control characters).
    pub name: String,
}

/// Why a `HAND` payload was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandError {
    /// More than [`MAX_HAND_LEN`] bytes.
    TooLarge {
        /// Payload length.
        len: usize,
    },
    /// Not a JSON object with the required fields of the required types.
    NotJson(String),
    /// `v` is not 1.
    UnsupportedVersion(u64),
    /// `id` or `eph` is not 64 lowercase hex characters.
    BadHex {
        /// Which field.
        field: &'static str,
    },
    /// `id` is not a canonical Ed25519 public key of full order.
    BadIdentity,
    /// `name` is empty, too long or has control characters.
    BadName(NameError),
    /// `port` is 0 or above 65535.
    BadPort(u64),
}

impl fmt::Display for HandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandError::TooLarge { len } => {
                write!(f, "HAND too large ({len} bytes, max {MAX_HAND_LEN})")
            }
            HandError::NotJson(e) => write!(f, "HAND is not valid JSON: {e}"),
            HandError::UnsupportedVersion(v) => write!(f, "unsupported version {v}"),
            HandError::BadHex { field } => {
                write!(f, "HAND {field} is not 64 lowercase hex characters")
            }
            HandError::BadIdentity => write!(f, "HAND id is not a valid Ed25519 public key"),
            HandError::BadName(e) => write!(f, "HAND name: {e}"),
            HandError::BadPort(p) => write!(f, "HAND port {p} is not in 1..=65535"),
        }
    }
}

impl std::error::Error for HandError {}

/// Only `v`, read first so that the version decides how the rest is understood.
#[derive(Deserialize)]
struct VersionIn {
    v: u64,
}

/// The version-1 fields; unknown ones are ignored (serde's default).
#[derive(Deserialize)]
struct HandIn {
    id: String,
    eph: String,
    // Wider than u16 so that 0 and 70000 both reach the port check and get one error.
    port: u64,
    name: String,
}

/// Field order here is the wire order: v, id, eph, port, name.
#[derive(Serialize)]
struct HandOut<'a> {
    v: u64,
    id: String,
    eph: String,
    port: u16,
    name: &'a str,
}

impl Hand {
    /// Parses and checks a received `HAND` payload.
    pub fn parse(payload: &[u8]) -> Result<Hand, HandError> {
        if payload.len() > MAX_HAND_LEN {
            return Err(HandError::TooLarge { len: payload.len() });
        }
        let not_json = |e: serde_json::Error| HandError::NotJson(e.to_string());
        let VersionIn { v } = serde_json::from_slice(payload).map_err(not_json)?;
        if v != PROTOCOL_VERSION {
            return Err(HandError::UnsupportedVersion(v));
        }
        let raw: HandIn = serde_json::from_slice(payload).map_err(not_json)?;
        let id = hex::decode_array(&raw.id).map_err(|_| HandError::BadHex { field: "id" })?;
        let eph = hex::decode_array(&raw.eph).map_err(|_| HandError::BadHex { field: "eph" })?;
        let port = u16::try_from(raw.port)
            .ok()
            .filter(|&p| p != 0)
            .ok_or(HandError::BadPort(raw.port))?;
        validate_name(&raw.name).map_err(HandError::BadName)?;
        identity_key(&id)?;
        Ok(Hand {
            id,
            eph,
            port,
            name: raw.name,
        })
    }

    /// Checks our own fields before we send them: the same rules a peer applies.
    pub fn check(&self) -> Result<(), HandError> {
        if self.port == 0 {
            return Err(HandError::BadPort(0));
        }
        validate_name(&self.name).map_err(HandError::BadName)?;
        identity_key(&self.id).map(|_| ())
    }

    /// The payload bytes, exactly as they go on the wire and into the transcript hash.
    pub fn encode(&self) -> Vec<u8> {
        let out = HandOut {
            v: PROTOCOL_VERSION,
            id: hex::encode(&self.id),
            eph: hex::encode(&self.eph),
            port: self.port,
            name: &self.name,
        };
        let mut bytes = Vec::with_capacity(256);
        // Cannot fail: strings and integers into a Vec (see inner::write_json).
        if let Err(e) = serde_json::to_writer(&mut bytes, &out) {
            log::error!("HAND encoding failed: {e}");
        }
        bytes
    }
}

/// The verifying key for a claimed id, refusing what strict verification would refuse
/// anyway (small-order points) and non-canonical encodings of a point.
pub fn identity_key(id: &[u8; 32]) -> Result<VerifyingKey, HandError> {
    let key = VerifyingKey::from_bytes(id).map_err(|_| HandError::BadIdentity)?;
    let canonical = key.to_edwards().compress().to_bytes() == *id;
    if key.is_weak() || !canonical {
        return Err(HandError::BadIdentity);
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    fn hand() -> Hand {
        Hand {
            id: SigningKey::from_bytes(&[1; 32]).verifying_key().to_bytes(),
            eph: [9; 32],
            port: 35035,
            name: "bob \"the\" cat".into(),
        }
    }

    #[test]
    fn encode_parse_round_trip_and_field_order() {
        let bytes = hand().encode();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.starts_with(r#"{"v":1,"id":""#), "{text}");
        assert!(
            text.ends_with(r#","port":35035,"name":"bob \"the\" cat"}"#),
            "{text}"
        );
        assert_eq!(Hand::parse(&bytes), Ok(hand()));
    }

    #[test]
    fn version_is_checked_before_other_fields() {
        assert_eq!(
            Hand::parse(br#"{"v":2,"something":"else"}"#),
            Err(HandError::UnsupportedVersion(2))
        );
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let text = String::from_utf8(hand().encode()).unwrap();
        let extended = text.replacen('{', r#"{"caps":["x"],"#, 1);
        assert_eq!(Hand::parse(extended.as_bytes()), Ok(hand()));
    }

    #[test]
    fn small_order_and_non_canonical_ids_are_refused() {
        // The identity point (0, 1) has small order; y = 1 encoded canonically.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(identity_key(&identity), Err(HandError::BadIdentity));
        // y = p + 3, a non-canonical spelling of y = 3, which is a full-order point:
        // it decompresses and is not weak, so only the canonical check refuses it.
        let mut non_canonical = [0xffu8; 32];
        non_canonical[0] = 0xf0;
        non_canonical[31] = 0x7f;
        let key = VerifyingKey::from_bytes(&non_canonical).unwrap();
        assert!(!key.is_weak());
        assert_eq!(identity_key(&non_canonical), Err(HandError::BadIdentity));
        assert!(identity_key(&hand().id).is_ok());
    }

    #[test]
    fn own_fields_are_checked_like_a_peers() {
        let mut own = hand();
        own.port = 0;
        assert_eq!(own.check(), Err(HandError::BadPort(0)));
        own.port = 1;
        own.name = String::new();
        assert_eq!(own.check(), Err(HandError::BadName(NameError::Empty)));
    }
}
