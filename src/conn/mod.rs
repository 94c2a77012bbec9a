//! Connection threads: the only code that moves bytes over sockets for peers.
//!
//! A peer connection is born from an accepted socket whose first bytes were `HAND`
//! ([`serve_incoming`]) or from a dial ([`spawn_dial`]). Either way the handshake runs
//! under one deadline (10 s); then the same thread serves the connection:
//!
//! ```text
//!             ┌──────────── connection thread (peer.rs) ─────────────┐
//!  socket ──▶ │ read → Assembler → open → Inner::parse ──PeerMsg─────┼──▶ state
//!         ◀── │ seal, batch ◀── Outgoing ◀── PING (after 15 s quiet)  │
//!             │      ▲              PONG ◀── PING from the peer      │
//!             │      └── poll(2): socket, doorbell, next clock       │
//!             └───────────────────────────────────────────────────────┘
//!   state ──PeerQueue (256) + ring──┘      file workers ──BulkLane (8) + ring──┘
//! ```
//!
//! One thread, not a reader and a writer: an idle connection then costs one stack and
//! no buffers (docs/BENCHMARKS.md, footprint). The socket is non-blocking, so reading
//! never keeps records from going out, nor the reverse; the bell is an `eventfd`
//! (`crate::doorbell`) that the state rings only when the thread sleeps.
//!
//! Lifetimes: the state thread holds the only [`PeerQueue`](crate::bus::PeerQueue) of a
//! connection. Dropping it (duplicate, slow peer, shutdown) rings the bell; the thread
//! writes what was queued, shuts the socket and reports `PeerDown`. A connection that
//! ends first (EOF, bad record, 45 s of silence, 10 s in which the peer took none of
//! our bytes) shuts the socket and reports `PeerDown`; the state drops the queue.
//!
//! These threads speak to the state only through `crate::bus`; the protocol itself
//! (frames, handshake, records, inner messages) is the I/O-free code in `crate::peer`.
//!
//! - [`peer`]: an established connection's thread, and the incoming handshake;
//! - [`outgoing`]: what a connection sends: queues, batches, writes as the socket takes;
//! - [`dial`]: outgoing connections;
//! - [`deadline`]: a stream view whose reads and writes share one deadline;
//! - [`tcp`]: the TCP options of peer connections (retransmissions on a LAN);
//! - [`probe`]: `purr doctor --peer`, what answers at an address (a throwaway handshake);
//! - [`reach`]: dial-backs a peer asked for in `RBCK` (its `HAND` only).

mod deadline;
pub mod dial;
pub mod handshake;
mod outgoing;
pub mod peer;
pub mod probe;
pub mod reach;
pub mod tcp;

use std::time::Duration;

pub use dial::spawn_dial;
pub use peer::serve_incoming;

/// SPEC §7: ping after 15 s without traffic from the peer.
pub const PING_AFTER: Duration = Duration::from_secs(15);
/// SPEC §7: close after 45 s without a complete frame from the peer.
pub const SILENCE_LIMIT: Duration = Duration::from_secs(45);
/// Sealed bytes that the socket takes none of for this long mean the peer stopped
/// reading.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a TCP connect may take.
pub const DIAL_TIMEOUT: Duration = Duration::from_secs(5);
