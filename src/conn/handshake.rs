//! A blocking driver for the handshake, for connection threads.
//!
//! This module owns the only handshake code that touches a stream: it moves frames
//! between any `Read + Write` (a `TcpStream` in production, a `UnixStream` in tests) and
//! the I/O-free [`Handshake`]. Deadlines stay with the caller, who sets
//! [`HANDSHAKE_TIMEOUT`] on the socket before calling.
//!
//! Typical use by a connection thread (deadlines set on the socket first):
//!
//! ```no_run
//! # use purr::conn::handshake as driver;
//! # use purr::peer::{inner::Inner, frame};
//! # fn demo(stream: &mut std::net::TcpStream, identity: &ed25519_dalek::SigningKey)
//! #     -> Result<(), Box<dyn std::error::Error>> {
//! let mut est = driver::run_initiator(stream, identity, 35035, "alice@pi")?;
//! let (mut plain, mut wire) = (Vec::new(), Vec::new());
//! Inner::Ping.encode(&mut plain);
//! est.session.seal(&plain, &mut wire)?;
//! frame::write_bytes(stream, &wire)?;
//! let reply = frame::read_frame(stream)?;
//! let inner = Inner::parse(&est.session.open(&reply.payload)?)?;
//! # let _ = inner; Ok(()) }
//! ```

use std::io::{Read, Write};
use std::time::Duration;

use ed25519_dalek::SigningKey;

use crate::peer::frame;
use crate::peer::hand::MAX_HAND_LEN;
use crate::peer::handshake::{Established, Handshake, HandshakeError, Step};

/// SPEC §7 step 4: "Handshake deadline 10 s". The caller sets it on the socket.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest frame [`run`] accepts before the peer is authenticated: a `HAND` (SPEC: at
/// most 1 KiB) or the 128-byte `AUTH` record. Keeps an unauthenticated peer from making
/// us buffer a 1 MiB frame.
pub const HANDSHAKE_MAX_FRAME: usize = MAX_HAND_LEN;

/// Drives `hs` to completion over a blocking stream: writes `first` (the initiator's
/// `HAND` frame; empty for a responder), then reads frames and writes what each step
/// returns until the peer is authenticated.
///
/// Deadlines are the caller's: set [`HANDSHAKE_TIMEOUT`] as the socket's read/write
/// timeouts before calling; a timeout surfaces as `Frame(Io(WouldBlock | TimedOut))`.
pub fn run<S: Read + Write>(
    stream: &mut S,
    mut hs: Handshake,
    first: &[u8],
) -> Result<Established, HandshakeError> {
    if !first.is_empty() {
        frame::write_bytes(stream, first).map_err(HandshakeError::Frame)?;
    }
    loop {
        let frame = frame::read_frame_limited(stream, HANDSHAKE_MAX_FRAME)
            .map_err(HandshakeError::Frame)?;
        match hs.on_frame(frame)? {
            Step::Continue(next, out) => {
                if !out.is_empty() {
                    frame::write_bytes(stream, &out).map_err(HandshakeError::Frame)?;
                }
                hs = next;
            }
            Step::Done(established) => return Ok(established),
        }
    }
}

/// Dials side in one call: a random ephemeral key, then [`run`].
pub fn run_initiator<S: Read + Write>(
    stream: &mut S,
    identity: &SigningKey,
    port: u16,
    name: &str,
) -> Result<Established, HandshakeError> {
    let (hs, hand) = Handshake::initiator_random(identity, port, name)?;
    run(stream, hs, &hand)
}

/// Accepting side in one call: a random ephemeral key, then [`run`].
pub fn run_responder<S: Read + Write>(
    stream: &mut S,
    identity: &SigningKey,
    port: u16,
    name: &str,
) -> Result<Established, HandshakeError> {
    let hs = Handshake::responder_random(identity, port, name)?;
    run(stream, hs, &[])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peer::frame::{FrameError, DATA, HAND};
    use crate::peer::hand::Hand;

    /// A stream that reads from a script and records what is written to it.
    struct Scripted {
        input: &'static [u8],
        written: Vec<u8>,
    }

    impl Read for Scripted {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.input.read(buf)
        }
    }

    impl Write for Scripted {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.written.write(buf)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[3; 32])
    }

    #[test]
    fn responder_writes_nothing_before_a_valid_hand() {
        let mut stream = Scripted {
            input: b"DATA\x00\x00\x00\x00",
            written: Vec::new(),
        };
        let err = run_responder(&mut stream, &key(), 1, "r").err();
        assert_eq!(
            err,
            Some(HandshakeError::UnexpectedFrame {
                cmd: DATA,
                state: "awaiting HAND"
            })
        );
        assert!(stream.written.is_empty());
    }

    #[test]
    fn initiator_sends_its_hand_first() {
        let mut stream = Scripted {
            input: b"",
            written: Vec::new(),
        };
        let err = run_initiator(&mut stream, &key(), 7, "i").err();
        assert_eq!(err, Some(HandshakeError::Frame(FrameError::Closed)));
        let sent = frame::read_frame(&mut stream.written.as_slice()).unwrap();
        assert_eq!(sent.cmd, HAND);
        let hand = Hand::parse(&sent.payload).unwrap();
        assert_eq!((hand.id, hand.port), (key().verifying_key().to_bytes(), 7));
    }
}
