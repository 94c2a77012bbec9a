//! The blocking handshake driver over a real byte stream: two threads on the ends of a
//! `UnixStream` pair, the way connection threads use it on a `TcpStream`.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::thread;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use purr::conn::handshake::{self, run_initiator, run_responder};
use purr::peer::frame::{self, FrameError, HAND};
use purr::peer::handshake::HandshakeError;
use purr::peer::inner::Inner;
use purr::peer::session::Role;

/// Long enough for a slow CI box, short enough that a broken test fails instead of hanging.
const DEADLINE: Duration = Duration::from_secs(5);

fn key(byte: u8) -> SigningKey {
    SigningKey::from_bytes(&[byte; 32])
}

fn pair() -> (UnixStream, UnixStream) {
    let (a, b) = UnixStream::pair().unwrap();
    for s in [&a, &b] {
        s.set_read_timeout(Some(DEADLINE)).unwrap();
        s.set_write_timeout(Some(DEADLINE)).unwrap();
    }
    (a, b)
}

fn send(stream: &mut UnixStream, session: &mut purr::peer::Session, inner: &Inner) {
    let (mut plain, mut wire) = (Vec::new(), Vec::new());
    inner.encode(&mut plain);
    session.seal(&plain, &mut wire).unwrap();
    frame::write_bytes(stream, &wire).unwrap();
}

fn receive(stream: &mut UnixStream, session: &mut purr::peer::Session) -> Inner {
    let frame = frame::read_frame(stream).unwrap();
    Inner::parse(&session.open(&frame.payload).unwrap()).unwrap()
}

#[test]
fn two_threads_handshake_and_talk() {
    let (mut a, mut b) = pair();
    let responder = thread::spawn(move || {
        let mut est = run_responder(&mut b, &key(2), 2002, "bob").unwrap();
        assert_eq!(receive(&mut b, &mut est.session), Inner::Ping);
        send(&mut b, &mut est.session, &Inner::Pong);
        (est.peer_id, est.peer_name, est.peer_port, est.role, est.th)
    });
    let mut est = run_initiator(&mut a, &key(1), 2001, "alice").unwrap();
    send(&mut a, &mut est.session, &Inner::Ping);
    assert_eq!(receive(&mut a, &mut est.session), Inner::Pong);

    let (peer_id, peer_name, peer_port, role, th) = responder.join().unwrap();
    assert_eq!(peer_id, key(1).verifying_key().to_bytes());
    assert_eq!(
        (peer_name.as_str(), peer_port, role),
        ("alice", 2001, Role::Responder)
    );
    assert_eq!(est.peer_id, key(2).verifying_key().to_bytes());
    assert_eq!((est.peer_name.as_str(), est.peer_port), ("bob", 2002));
    assert_eq!(th, est.th);
}

#[test]
fn peer_closing_mid_handshake_is_reported() {
    let (mut a, b) = pair();
    let responder = thread::spawn(move || {
        let mut b = b;
        // Read alice's HAND, then hang up without answering.
        let hand = frame::read_frame(&mut b).unwrap();
        assert_eq!(hand.cmd, HAND);
    });
    let result = run_initiator(&mut a, &key(1), 2001, "alice");
    responder.join().unwrap();
    assert_eq!(
        result.err(),
        Some(HandshakeError::Frame(FrameError::Closed))
    );
}

#[test]
fn oversize_frame_from_unauthenticated_peer_is_refused_by_header() {
    let (a, mut b) = pair();
    let initiator = thread::spawn(move || {
        let mut a = a;
        // A header announcing 64 KiB: legal for frames in general, not in a handshake.
        a.write_all(b"HAND\x00\x01\x00\x00").unwrap();
    });
    let result = run_responder(&mut b, &key(2), 2002, "bob");
    initiator.join().unwrap();
    assert_eq!(
        result.err(),
        Some(HandshakeError::Frame(FrameError::TooLarge {
            len: 65536,
            max: handshake::HANDSHAKE_MAX_FRAME
        }))
    );
}

#[test]
fn silent_peer_hits_the_socket_deadline() {
    let (_a, mut b) = pair();
    b.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    match run_responder(&mut b, &key(2), 2002, "bob") {
        Err(HandshakeError::Frame(FrameError::Io(kind))) => assert!(
            matches!(
                kind,
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
            "{kind:?}"
        ),
        other => panic!("expected a timeout, got {other:?}"),
    }
}
