//! The peer protocol (SPEC §7): framing, handshake, record layer, inner messages.
