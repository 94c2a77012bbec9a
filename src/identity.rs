//! The node's long-lived identity: an Ed25519 key pair (SPEC §8), its id and fingerprint.
//!
//! The id is the 32-byte public key, shown as 64 lowercase hex. The fingerprint is what
//! two people compare to rule out a man in the middle: SHA-256 of the id bytes, first 20
//! bytes, base32 (RFC 4648, upper case, no padding) = 32 characters in 4 groups of 8.

use ed25519_dalek::{SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// A node id: the Ed25519 public key.
pub type NodeId = [u8; 32];

/// This node's key pair. The secret never leaves this struct except to be written to
/// `identity.key`; `Debug` shows only the public id.
pub struct Identity {
    signing: SigningKey,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("id", &self.id_hex())
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// The identity whose secret is `secret` (32 bytes, RFC 8032 seed).
    pub fn from_secret(secret: &[u8; 32]) -> Self {
        Identity {
            signing: SigningKey::from_bytes(secret),
        }
    }

    /// A fresh identity from the OS CSPRNG.
    pub fn generate() -> Result<Self, crate::rng::RngError> {
        let mut seed = crate::rng::bytes::<32>()?;
        let id = Identity::from_secret(&seed);
        zeroize::Zeroize::zeroize(&mut seed);
        Ok(id)
    }

    /// The secret seed, for writing `identity.key` only.
    pub fn secret_bytes(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }

    /// The signing key, for the handshake's AUTH signature.
    pub fn signing_key(&self) -> &SigningKey {
        &self.signing
    }

    /// The public key.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }

    /// The node id (public key bytes).
    pub fn id(&self) -> NodeId {
        self.verifying_key().to_bytes()
    }

    /// The node id as 64 lowercase hex.
    pub fn id_hex(&self) -> String {
        crate::hex::encode(&self.id())
    }
}

/// RFC 4648 base32 alphabet.
const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// The fingerprint of `id` (SPEC §8): `XXXXXXXX-XXXXXXXX-XXXXXXXX-XXXXXXXX`.
pub fn fingerprint(id: &NodeId) -> String {
    let digest = Sha256::digest(id);
    // 20 bytes = 160 bits = exactly 32 base32 digits, so no padding question arises.
    let mut digits = String::with_capacity(35);
    let mut acc: u64 = 0;
    let mut bits = 0;
    for &byte in digest.iter().take(20) {
        acc = (acc << 8) | u64::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            let index = ((acc >> bits) & 0x1f) as usize;
            if !digits.is_empty() && digits.len() % 9 == 8 {
                digits.push('-');
            }
            digits.push(BASE32[index] as char);
        }
    }
    digits
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Vector from ../shared/vectors/purr1.json (initiator).
    const SECRET: &str = "198626e9c8dca000cfac718ba6262578299677d2000e039533742ae38b37dd38";
    const ID: &str = "e2b6247a1563fd09bf0f6ce39988ad3497811ef3db9a10500ec19f7a0b46fa24";
    const FINGERPRINT: &str = "62S4QNFM-G2RJ35YO-SOMM2F2G-ACEJWDB3";

    #[test]
    fn id_and_fingerprint_match_the_vector() {
        let secret = crate::hex::decode_array::<32>(SECRET).unwrap();
        let me = Identity::from_secret(&secret);
        assert_eq!(me.id_hex(), ID);
        assert_eq!(fingerprint(&me.id()), FINGERPRINT);
    }

    #[test]
    fn fingerprint_shape() {
        let fp = fingerprint(&[7u8; 32]);
        assert_eq!(fp.len(), 35);
        let groups: Vec<&str> = fp.split('-').collect();
        assert_eq!(groups.len(), 4);
        assert!(groups.iter().all(|g| g.len() == 8));
    }

    #[test]
    fn debug_hides_the_secret() {
        let me = Identity::from_secret(&[1u8; 32]);
        let shown = format!("{me:?}");
        assert!(shown.contains(&me.id_hex()));
        assert!(!shown.contains(&crate::hex::encode(&[1u8; 32])));
    }
}
