//! The peer protocol (SPEC §7): framing, handshake, record layer, inner messages.
#![warn(missing_docs)]

pub mod frame;
pub mod inner;
pub mod session;
