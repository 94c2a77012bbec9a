//! Connection threads: the only code that moves bytes over sockets for peers.
//!
//! A peer connection is born from an accepted socket whose first bytes were `HAND`
//! ([`serve_incoming`]) or from a dial ([`spawn_dial`]). Either way the handshake runs
//! under one deadline (10 s); then the connection gets two threads:
//!
//! ```text
//!             ┌──────── reader (this thread) ─────────┐
//!  socket ──▶ │ read_frame → open → Inner::parse      │──PeerMsg──▶ state
//!             │ PING → ctrl(Pong)   AUTH again → close │
//!             └────────────────────────────────────────┘
//!   state ──Inner (bounded 256)──▶ writer ──seal, batch──▶ socket
//!                   ctrl ──▶ writer   (tick 5 s: PING after 15 s without rx)
//! ```
//!
//! Lifetimes: the state thread holds the only `Sender<Inner>` of a connection. Dropping
//! it (duplicate, slow peer, shutdown) ends the writer, which shuts the socket, which
//! ends the reader, which reports `PeerDown`. A reader that ends first (EOF, bad record,
//! 45 s of silence) shuts the socket and reports `PeerDown`; the state drops the sender.
//!
//! These threads speak to the state only through `crate::bus`; the protocol itself
//! (frames, handshake, records, inner messages) is the I/O-free code in `crate::peer`.
//!
//! - [`peer`]: an established connection's reader, and the incoming handshake;
//! - [`writer`]: the writer thread and its batches;
//! - [`dial`]: outgoing connections;
//! - [`deadline`]: a stream view whose reads and writes share one deadline;
//! - [`readbuf`]: the reader's buffer, which grows with traffic and shrinks back;
//! - [`tcp`]: the TCP options of peer connections (retransmissions on a LAN);
//! - [`probe`]: `purr doctor --peer`, what answers at an address (a throwaway handshake);
//! - [`reach`]: dial-backs a peer asked for in `RBCK` (its `HAND` only).

mod deadline;
pub mod dial;
pub mod handshake;
pub mod peer;
pub mod probe;
pub mod reach;
mod readbuf;
pub mod tcp;
mod writer;

use std::time::{Duration, Instant};

pub use dial::spawn_dial;
pub use peer::serve_incoming;

/// SPEC §7: ping after 15 s without traffic from the peer.
pub const PING_AFTER: Duration = Duration::from_secs(15);
/// SPEC §7: close after 45 s without a complete frame from the peer.
pub const SILENCE_LIMIT: Duration = Duration::from_secs(45);
/// A single write that takes longer than this means the peer stopped reading.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a TCP connect may take.
pub const DIAL_TIMEOUT: Duration = Duration::from_secs(5);

/// Milliseconds since an arbitrary process-wide origin, for the shared "last received".
pub(crate) fn now_ms(origin: Instant) -> u64 {
    u64::try_from(origin.elapsed().as_millis()).unwrap_or(u64::MAX)
}
