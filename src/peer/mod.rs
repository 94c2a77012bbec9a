//! The peer protocol, `purr/1` (SPEC §7; byte-level description in `docs/PROTOCOL.md`).
//!
//! Everything here is pure: it takes bytes and returns bytes, checked values or errors,
//! and never opens a socket or knows who is connected. Only [`frame`] reads and writes
//! one frame through any `Read`/`Write` the caller hands it; running a handshake over a
//! stream, deadlines and keep-alive timers belong to the connection code that uses
//! this module.
//!
//! Layers, outermost first, one module each:
//!
//! - [`frame`]: `cmd(4) | len u32 BE | payload`, the 1 MiB limit;
//! - [`assemble`]: frames out of bytes that arrive in pieces (non-blocking reads);
//! - [`hand`]: the `HAND` JSON payload;
//! - [`handshake`]: the state machine from `HAND` to an authenticated [`Session`];
//! - [`auth`]: the bytes the handshake hashes, agrees on and signs;
//! - [`session`]: key derivation and the `DATA` record layer;
//! - [`inner`]: the messages inside records (`AUTH`, `LIST`, `MESS`, …);
//! - [`files`]: the file-transfer kinds inside them (`FOFR` … `FCAN`);
//! - [`group`]: the group kinds (`GROS`, `GMSG`, `GSYN`, `GRCP`, …) and their signatures;
//! - [`addrs`]: address announcements (`ADDR`) and what a receiver keeps of them;
//! - [`reach`]: `RBCK`/`RBRS`, a peer dialling us back (issue 20).
//!
//! The handshake, as states of [`Handshake`] (both roles share them):
//!
//! ```text
//!                 initiator() ──▶ sends HAND
//!                 responder()
//!                      │
//!                      ▼
//!               ┌─────────────┐  HAND from peer: check it, th, X25519 (≠ 0), HKDF;
//!               │  AwaitHand  │  send [responder: HAND +] DATA(AUTH, seq 0)
//!               └─────────────┘──────────────────────────────┐
//!                      │ DATA / other cmd                    ▼
//!                      ▼                             ┌─────────────┐
//!                 ✗ error, close   ◀──── HAND, other │  AwaitAuth  │
//!                      ▲                  cmd, bad   └─────────────┘
//!                      │                  record,           │ DATA: opens, is AUTH,
//!                      └───────────────── bad signature,    │ signature verifies
//!                                         own id            ▼
//!                                                   Step::Done(Established)
//! ```
#![warn(missing_docs)]

pub mod addrs;
pub mod assemble;
pub mod auth;
pub mod files;
pub mod frame;
pub mod group;
pub mod hand;
pub mod handshake;
pub mod inner;
mod json;
pub mod reach;
pub mod session;

pub use frame::{read_frame, write_frame, Frame, FrameError, MAX_FRAME_LEN};
pub use hand::{Hand, HandError};
pub use handshake::{keep_existing, Established, Handshake, HandshakeError, Step};
pub use inner::{Inner, InnerError, ListEntry, Mess, MsgId, NameError};
pub use session::{Keys, RecordError, RecvHalf, Role, SendHalf, Session};
