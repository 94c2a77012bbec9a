//! The handshake's cryptographic steps (SPEC §7 steps 2–3), as plain functions.
//!
//! This module owns the exact bytes that get hashed, agreed and signed: the transcript
//! hash over both `HAND` payloads, the X25519 agreement with its all-zero check, and the
//! `AUTH` signature input. The state machine in `handshake` decides *when* each runs;
//! the known-answer tests call them one by one.

use ed25519_dalek::{Signature, Signer, SigningKey};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use super::hand::identity_key;
use super::handshake::HandshakeError;
use super::session::Role;

/// SPEC §7 step 2: `th = SHA-256("purr/1" || initiator HAND || responder HAND)`.
const TRANSCRIPT_LABEL: &[u8] = b"purr/1";
/// SPEC §7 step 3: AUTH signs `"purr/1 auth" || role byte || th`.
const AUTH_LABEL: &[u8] = b"purr/1 auth";
/// Length of the AUTH input: label, role byte, transcript hash.
const AUTH_INPUT_LEN: usize = 11 + 1 + 32;

/// SPEC §7 step 2: `th = SHA-256("purr/1" || initiator HAND payload || responder HAND payload)`.
pub fn transcript_hash(initiator_hand: &[u8], responder_hand: &[u8]) -> [u8; 32] {
    Sha256::new()
        .chain_update(TRANSCRIPT_LABEL)
        .chain_update(initiator_hand)
        .chain_update(responder_hand)
        .finalize()
        .into()
}

/// SPEC §7 step 2: `shared = X25519(own ephemeral secret, peer ephemeral public)`,
/// "reject the all-zero result" (a low-order peer key would make it predictable).
pub fn x25519_shared(
    own: &StaticSecret,
    peer_public: &[u8; 32],
) -> Result<Zeroizing<[u8; 32]>, HandshakeError> {
    let shared = own.diffie_hellman(&PublicKey::from(*peer_public));
    if bool::from(shared.as_bytes().ct_eq(&[0u8; 32])) {
        return Err(HandshakeError::LowOrderEphemeral);
    }
    Ok(Zeroizing::new(shared.to_bytes()))
}

/// SPEC §7 step 3: the signed bytes, `"purr/1 auth" || role byte || th`, where the role
/// is the signer's.
pub fn auth_input(signer: Role, th: &[u8; 32]) -> [u8; AUTH_INPUT_LEN] {
    let mut input = [0u8; AUTH_INPUT_LEN];
    let (label, rest) = input.split_at_mut(AUTH_LABEL.len());
    label.copy_from_slice(AUTH_LABEL);
    let (role, hash) = rest.split_at_mut(1);
    role.fill(signer.auth_byte());
    hash.copy_from_slice(th);
    input
}

/// The `AUTH` signature of `identity` playing `signer`.
pub fn sign_auth(identity: &SigningKey, signer: Role, th: &[u8; 32]) -> [u8; 64] {
    identity.sign(&auth_input(signer, th)).to_bytes()
}

/// Checks a peer's `AUTH` signature with strict Ed25519 verification (no small-order
/// keys or R, canonical S), against the id from its `HAND`.
pub fn verify_auth(
    peer_id: &[u8; 32],
    signer: Role,
    th: &[u8; 32],
    signature: &[u8; 64],
) -> Result<(), HandshakeError> {
    let bad = HandshakeError::BadAuthSignature { peer: *peer_id };
    let key = identity_key(peer_id).map_err(|_| bad.clone())?;
    key.verify_strict(&auth_input(signer, th), &Signature::from_bytes(signature))
        .map_err(|_| bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_input_layout() {
        let th = [0xaa; 32];
        let input = auth_input(Role::Responder, &th);
        assert_eq!(&input[..11], b"purr/1 auth");
        assert_eq!(input[11], 0x52);
        assert_eq!(&input[12..], &th);
        assert_eq!(auth_input(Role::Initiator, &th)[11], 0x49);
    }

    #[test]
    fn zero_public_key_gives_zero_shared_and_is_refused() {
        let own = StaticSecret::from([5u8; 32]);
        assert_eq!(
            x25519_shared(&own, &[0u8; 32]).map(|_| ()),
            Err(HandshakeError::LowOrderEphemeral)
        );
    }
}
