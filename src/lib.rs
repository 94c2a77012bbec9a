//! purr: a peer-to-peer messenger for the local network.
//!
//! The binary (`main.rs`) is a thin shell over this library. Modules follow the data:
//! `listener` accepts and sniffs, `http`/`ws` serve the local UI, `peer` speaks the wire
//! protocol, `state` is the one thread that owns all mutable state.
#![forbid(unsafe_code)]

pub mod hex;
pub mod peer;
pub mod rng;
