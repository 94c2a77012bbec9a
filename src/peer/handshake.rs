//! The handshake (SPEC §7 steps 1–3) as an I/O-free state machine.
//!
//! This module owns the order of the handshake and the decision of when a peer counts
//! as authenticated; the bytes each crypto step hashes or signs are in `auth`, the
//! blocking loop over a stream is in `crate::conn::handshake`. Frames go in through
//! [`Handshake::on_frame`]; bytes to send and the next state come out. Sockets,
//! deadlines and retries are the caller's.
//!
//! ```text
//!  initiator                                   responder
//!  ─────────                                   ─────────
//!  Handshake::initiator ── HAND ─────────────▶ Handshake::responder
//!   [AwaitHand]                                 [AwaitHand]
//!                       ◀── HAND, DATA(AUTH) ── on HAND: th, X25519, keys
//!  on HAND: th, X25519,                          [AwaitAuth]
//!  keys ── DATA(AUTH) ───────────────────────▶
//!   [AwaitAuth]
//!  on DATA(AUTH): verify                        on DATA(AUTH): verify
//!   ⇒ Step::Done(Established)                    ⇒ Step::Done(Established)
//! ```
//!
//! Anything else in a state (a second `HAND`, a `DATA` before `HAND`, a first record
//! that is not a valid `AUTH`, any other command) is a [`HandshakeError`] and the caller
//! closes the connection. A peer that turns out to be ourselves is reported as
//! [`HandshakeError::SelfConnection`], but only after its `AUTH` verified, so a forged
//! `HAND` carrying our id cannot make us believe an address is our own.

use std::fmt;

use ed25519_dalek::SigningKey;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use super::auth::{sign_auth, transcript_hash, verify_auth, x25519_shared};
use super::frame::{self, CmdDisplay, Frame, FrameError, DATA, HAND};
use super::hand::{Hand, HandError};
use super::inner::{kind, Inner, InnerError};
use super::session::{Keys, RecordError, Role, Session, IV_LEN};
use crate::hex;

/// Why a handshake failed. The caller closes the connection (and may log this: no
/// variant carries key material).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandshakeError {
    /// The peer's `HAND` payload is invalid.
    Hand(HandError),
    /// Our own port or name cannot go into a `HAND` (a local configuration error).
    Local(HandError),
    /// SPEC §7 step 2: the X25519 result is all zero (a low-order ephemeral key).
    LowOrderEphemeral,
    /// A frame this state does not accept.
    UnexpectedFrame {
        /// Its command.
        cmd: [u8; 4],
        /// The state it arrived in.
        state: &'static str,
    },
    /// The peer's first record did not open (bad tag, length…), or ours could not be
    /// sealed (no IV from the OS).
    Record(RecordError),
    /// The first record is not an inner `AUTH` message.
    ExpectedAuth {
        /// The kind it had instead.
        got: [u8; 4],
    },
    /// The first record is an `AUTH` with a malformed body.
    Inner(InnerError),
    /// The `AUTH` signature does not verify against the id in the peer's `HAND`.
    BadAuthSignature {
        /// The id the peer claimed.
        peer: [u8; 32],
    },
    /// The peer proved it holds our own identity key: we connected to ourselves.
    SelfConnection,
    /// Reading or writing a frame failed (from the driver), or our own `HAND` could
    /// not be framed.
    Frame(FrameError),
    /// The OS random source failed (ephemeral key or IV).
    Rng(String),
    /// `on_frame` was called on a handshake that had already failed. Cannot happen
    /// through the public API (a failed handshake is consumed); kept for the final arm.
    Poisoned,
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandshakeError::Hand(e) => write!(f, "{e}"),
            HandshakeError::Local(e) => write!(f, "cannot build our own HAND: {e}"),
            HandshakeError::LowOrderEphemeral => write!(f, "low-order ephemeral key"),
            HandshakeError::UnexpectedFrame { cmd, state } => {
                write!(f, "unexpected frame cmd {} while {state}", CmdDisplay(cmd))
            }
            HandshakeError::Record(e) => write!(f, "record layer: {e}"),
            HandshakeError::ExpectedAuth { got } => {
                write!(f, "expected AUTH, got {}", CmdDisplay(got))
            }
            HandshakeError::Inner(e) => write!(f, "first record: {e}"),
            HandshakeError::BadAuthSignature { peer } => {
                write!(f, "bad AUTH signature from {}", id_prefix(peer))
            }
            HandshakeError::SelfConnection => write!(f, "connected to ourselves"),
            HandshakeError::Frame(e) => write!(f, "{e}"),
            HandshakeError::Rng(e) => write!(f, "{e}"),
            HandshakeError::Poisoned => write!(f, "handshake used after failure"),
        }
    }
}

impl std::error::Error for HandshakeError {}

impl From<RecordError> for HandshakeError {
    fn from(e: RecordError) -> Self {
        HandshakeError::Record(e)
    }
}

/// First 8 hex characters of an id: enough to tell peers apart in a log line.
fn id_prefix(id: &[u8; 32]) -> String {
    let [a, b, c, d, ..] = *id;
    hex::encode(&[a, b, c, d])
}

/// SPEC §7 step 3, for a second connection to a peer we are already connected to: true
/// when the existing connection stays (and the new one closes). `existing` and `new` are
/// our roles on each. Same roles: the newer connection closes. Different roles (both
/// sides dialled at once): keep the connection whose initiator has the lower id, which
/// both ends compute alike.
pub fn keep_existing(own_id: &[u8; 32], peer_id: &[u8; 32], existing: Role, new: Role) -> bool {
    let initiator_of = |role: Role| match role {
        Role::Initiator => own_id,
        Role::Responder => peer_id,
    };
    existing == new || initiator_of(existing) < initiator_of(new)
}

/// A finished handshake: who the peer is, proven by its `AUTH`, and the live session.
#[derive(Debug)]
pub struct Established {
    /// The peer's identity (Ed25519 public key), verified.
    pub peer_id: [u8; 32],
    /// The display name from the peer's `HAND`.
    pub peer_name: String,
    /// The listening port from the peer's `HAND` (dial it on reconnect).
    pub peer_port: u16,
    /// Our role on this connection (for [`keep_existing`]).
    pub role: Role,
    /// The transcript hash (public; identifies this connection in logs).
    pub th: [u8; 32],
    /// The record layer, with one record already used in each direction by `AUTH`.
    pub session: Session,
}

/// What [`Handshake::on_frame`] asks the caller to do next.
#[derive(Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "moved a few times per connection; boxing would add allocations for nothing"
)]
pub enum Step {
    /// Send these bytes (possibly none) and feed the next frame to this handshake.
    Continue(Handshake, Vec<u8>),
    /// The peer is authenticated; nothing more to send for the handshake.
    Done(Established),
}

/// The handshake's states; each carries exactly what the next step needs.
#[expect(
    clippy::large_enum_variant,
    reason = "moved a few times per connection; boxing would add allocations for nothing"
)]
enum State {
    /// Waiting for the peer's `HAND`. Ours is encoded already (the initiator sent it; the
    /// responder sends it once the initiator's arrives).
    AwaitHand {
        own_hand: Vec<u8>,
        eph: StaticSecret,
    },
    /// Keys derived and our `AUTH` sent; the peer's first record must be its `AUTH`.
    AwaitAuth {
        peer: Hand,
        session: Session,
        th: [u8; 32],
    },
    /// Placeholder in `self.state` while `on_frame` works on the state it took out.
    /// Never observable: on error the consumed handshake is dropped.
    Failed,
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            State::AwaitHand { .. } => "awaiting HAND",
            State::AwaitAuth { .. } => "awaiting AUTH",
            State::Failed => "failed",
        }
    }
}

/// Where a transition leads.
enum Next {
    State(State, Vec<u8>),
    Done(Established),
}

/// One side of a handshake in progress. Consumed by each step.
pub struct Handshake {
    identity: SigningKey,
    role: Role,
    state: State,
    /// Fixed IV for our `AUTH` record (known-answer tests, fuzzing); random when `None`.
    auth_iv: Option<[u8; IV_LEN]>,
}

impl fmt::Debug for Handshake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handshake")
            .field("role", &self.role)
            .field("state", &self.state.name())
            .finish_non_exhaustive()
    }
}

impl Handshake {
    /// Starts the dialling side with the given X25519 ephemeral secret (fresh per
    /// connection; see [`Handshake::initiator_random`]). Returns the handshake and the
    /// `HAND` frame to send first.
    pub fn initiator(
        identity: &SigningKey,
        eph_secret: [u8; 32],
        port: u16,
        name: &str,
    ) -> Result<(Handshake, Vec<u8>), HandshakeError> {
        let hs = Handshake::new(identity, Role::Initiator, eph_secret, port, name)?;
        let mut out = Vec::new();
        if let State::AwaitHand { own_hand, .. } = &hs.state {
            frame::encode_into(&HAND, own_hand, &mut out).map_err(HandshakeError::Frame)?;
        }
        log::debug!("handshake initiator: start => {}", hs.state.name());
        Ok((hs, out))
    }

    /// Starts the accepting side with the given X25519 ephemeral secret. It sends
    /// nothing until the initiator's `HAND` arrives.
    pub fn responder(
        identity: &SigningKey,
        eph_secret: [u8; 32],
        port: u16,
        name: &str,
    ) -> Result<Handshake, HandshakeError> {
        let hs = Handshake::new(identity, Role::Responder, eph_secret, port, name)?;
        log::debug!("handshake responder: start => {}", hs.state.name());
        Ok(hs)
    }

    /// [`Handshake::initiator`] with an ephemeral secret from the OS CSPRNG.
    pub fn initiator_random(
        identity: &SigningKey,
        port: u16,
        name: &str,
    ) -> Result<(Handshake, Vec<u8>), HandshakeError> {
        Handshake::initiator(identity, *random_secret()?, port, name)
    }

    /// [`Handshake::responder`] with an ephemeral secret from the OS CSPRNG.
    pub fn responder_random(
        identity: &SigningKey,
        port: u16,
        name: &str,
    ) -> Result<Handshake, HandshakeError> {
        Handshake::responder(identity, *random_secret()?, port, name)
    }

    fn new(
        identity: &SigningKey,
        role: Role,
        eph_secret: [u8; 32],
        port: u16,
        name: &str,
    ) -> Result<Handshake, HandshakeError> {
        let eph = StaticSecret::from(eph_secret);
        let own = Hand {
            id: identity.verifying_key().to_bytes(),
            eph: PublicKey::from(&eph).to_bytes(),
            port,
            name: name.to_owned(),
        };
        own.check().map_err(HandshakeError::Local)?;
        Ok(Handshake {
            identity: identity.clone(),
            role,
            state: State::AwaitHand {
                own_hand: own.encode(),
                eph,
            },
            auth_iv: None,
        })
    }

    /// Uses `iv` for our `AUTH` record instead of a random one, so the handshake's
    /// output is a pure function of its inputs (known-answer tests, fuzzing). Harmless
    /// even in production, since the keys are fresh per connection and `AUTH` is the
    /// only record sealed under this IV, but there is no reason to call it there.
    pub fn with_auth_iv(mut self, iv: [u8; IV_LEN]) -> Handshake {
        self.auth_iv = Some(iv);
        self
    }

    /// Our role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Feeds one frame from the peer. All transitions are in this one `match`.
    pub fn on_frame(mut self, frame: Frame) -> Result<Step, HandshakeError> {
        let state = std::mem::replace(&mut self.state, State::Failed);
        let from = state.name();
        let next = match (state, frame.cmd) {
            (State::AwaitHand { own_hand, eph }, HAND) => {
                self.on_hand(own_hand, eph, &frame.payload)
            }
            (State::AwaitAuth { peer, session, th }, DATA) => {
                self.on_auth(peer, session, th, &frame.payload)
            }
            (State::Failed, _) => Err(HandshakeError::Poisoned),
            (state, cmd) => Err(HandshakeError::UnexpectedFrame {
                cmd,
                state: state.name(),
            }),
        };
        match next {
            Ok(Next::State(state, out)) => {
                self.set_state(from, state);
                Ok(Step::Continue(self, out))
            }
            Ok(Next::Done(established)) => {
                self.log_transition(from, "established");
                Ok(Step::Done(established))
            }
            Err(e) => {
                log::debug!("handshake {:?}: {from} => failed: {e}", self.role);
                Err(e)
            }
        }
    }

    fn set_state(&mut self, from: &'static str, state: State) {
        self.log_transition(from, state.name());
        self.state = state;
    }

    fn log_transition(&self, from: &'static str, to: &'static str) {
        log::debug!("handshake {:?}: {from} => {to}", self.role);
    }

    /// The peer's `HAND`: derive the keys and send our `AUTH` (the responder sends its
    /// own `HAND` in front of it).
    fn on_hand(
        &self,
        own_hand: Vec<u8>,
        eph: StaticSecret,
        payload: &[u8],
    ) -> Result<Next, HandshakeError> {
        let peer = Hand::parse(payload).map_err(HandshakeError::Hand)?;
        let (initiator_hand, responder_hand) = match self.role {
            Role::Initiator => (own_hand.as_slice(), payload),
            Role::Responder => (payload, own_hand.as_slice()),
        };
        let th = transcript_hash(initiator_hand, responder_hand);
        let shared = x25519_shared(&eph, &peer.eph)?;
        // Forward secrecy: the ephemeral secret is not needed past this point.
        drop(eph);
        // SPEC §7 step 2: HKDF-SHA256(salt = th, ikm = shared, info = "purr/1 keys").
        let keys = Keys::derive(&th, &shared)?;
        let mut session = Session::new(&keys, self.role);

        let mut out = Vec::new();
        if self.role == Role::Responder {
            frame::encode_into(&HAND, &own_hand, &mut out).map_err(HandshakeError::Frame)?;
        }
        // SPEC §7 step 3: our first record is AUTH, sequence number 0.
        let mut auth = Vec::with_capacity(4 + 64);
        Inner::Auth(sign_auth(&self.identity, self.role, &th)).encode(&mut auth);
        match self.auth_iv {
            Some(iv) => session.seal_with_iv(&auth, &iv, &mut out)?,
            None => session.seal(&auth, &mut out)?,
        }
        Ok(Next::State(State::AwaitAuth { peer, session, th }, out))
    }

    /// The peer's first record: only a valid `AUTH` is accepted (SPEC §7 step 3).
    fn on_auth(
        &self,
        peer: Hand,
        mut session: Session,
        th: [u8; 32],
        payload: &[u8],
    ) -> Result<Next, HandshakeError> {
        let plain = session.open(payload)?;
        let got = plain.first_chunk::<4>().copied().unwrap_or_default();
        if got != kind::AUTH {
            return Err(HandshakeError::ExpectedAuth { got });
        }
        let signature = match Inner::parse(&plain).map_err(HandshakeError::Inner)? {
            Inner::Auth(signature) => signature,
            other => return Err(HandshakeError::ExpectedAuth { got: other.kind() }),
        };
        verify_auth(&peer.id, self.role.peer(), &th, &signature)?;
        if peer.id == self.identity.verifying_key().to_bytes() {
            return Err(HandshakeError::SelfConnection);
        }
        log::debug!(
            "handshake {:?}: authenticated {} ({:?})",
            self.role,
            id_prefix(&peer.id),
            peer.name
        );
        Ok(Next::Done(Established {
            peer_id: peer.id,
            peer_name: peer.name,
            peer_port: peer.port,
            role: self.role,
            th,
            session,
        }))
    }
}

fn random_secret() -> Result<Zeroizing<[u8; 32]>, HandshakeError> {
    let mut secret = Zeroizing::new([0u8; 32]);
    crate::rng::fill(secret.as_mut()).map_err(|e| HandshakeError::Rng(e.to_string()))?;
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_connection_rule_is_symmetric() {
        let low = [1u8; 32];
        let high = [2u8; 32];
        // Simultaneous dial: the low node initiated one, the high node the other.
        // Low keeps the connection it initiated; high keeps the one it accepted.
        assert!(keep_existing(&low, &high, Role::Initiator, Role::Responder));
        assert!(!keep_existing(
            &low,
            &high,
            Role::Responder,
            Role::Initiator
        ));
        assert!(keep_existing(&high, &low, Role::Responder, Role::Initiator));
        assert!(!keep_existing(
            &high,
            &low,
            Role::Initiator,
            Role::Responder
        ));
        // Same roles: the newer one closes.
        assert!(keep_existing(&low, &high, Role::Initiator, Role::Initiator));
    }

    #[test]
    fn error_messages_name_the_problem_without_secrets() {
        let e = HandshakeError::BadAuthSignature { peer: [0xe2; 32] };
        assert_eq!(e.to_string(), "bad AUTH signature from e2e2e2e2");
        let e = HandshakeError::ExpectedAuth { got: *b"MESS" };
        assert_eq!(e.to_string(), "expected AUTH, got \"MESS\"");
        let e = HandshakeError::Hand(HandError::UnsupportedVersion(2));
        assert_eq!(e.to_string(), "unsupported version 2");
    }
}
