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
//! `node` wires them together; `datadir` owns the files of SPEC §8; `client` implements
//! the subcommands; `api` holds the JSON shapes of SPEC §5–6.
// `deny`, not `forbid`: `memory` holds the audited exceptions (malloc_trim, mallopt).
#![deny(unsafe_code)]

pub mod api;
pub mod cli;
pub mod client;
pub mod datadir;
pub mod discovery;
pub mod hex;
pub mod http;
pub mod identity;
pub mod listener;
pub mod memory;
pub mod net;
pub mod node;
pub mod peer;
pub mod peers_file;
pub mod rng;
pub mod state;
pub mod store;
pub mod ws;
