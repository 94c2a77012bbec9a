//! purr: a peer-to-peer messenger for the local network.
//!
//! The binary (`main.rs`) is a thin shell over this library. Modules follow the data:
//!
//! ```text
//!   listener ──sniff──▶ http ──/ws──▶ ws ─┐
//!      │                  └─/api/v1───────┤
//!      └──HAND──▶ peer ───────────────────┴──▶ state (one thread owns all mutable state)
//!   discovery (UDP beacons) ──Discovered───────┘
//! ```
//! Threads meet only in `bus` (the messages they pass); `conn` holds the peer
//! connection threads, `peer` the I/O-free protocol they run. `node` wires them
//! together; `datadir` owns the files of SPEC §8; `client` implements the subcommands;
//! `api` holds the JSON shapes of SPEC §5–6; `diag` the report of `purr doctor`
//! (`GET /api/v1/diag`) and its checks; `rules` the limits and checks several
//! layers share; `threads` how threads are started.
// `deny`, not `forbid`: `memory` holds the audited exceptions (malloc_trim, mallopt).
#![deny(unsafe_code)]

pub mod api;
pub mod bus;
pub mod cli;
pub mod client;
pub mod conn;
pub mod datadir;
pub mod diag;
pub mod discovery;
pub mod doorbell;
pub mod files;
pub mod follow;
pub mod groups;
pub mod hex;
pub mod http;
pub mod identity;
pub mod listener;
pub mod memory;
pub mod net;
pub mod node;
pub mod peer;
pub mod peers_file;
pub mod queue;
pub mod rng;
pub mod rules;
pub mod state;
pub mod store;
pub mod threads;
pub mod ws;
