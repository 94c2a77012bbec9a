//! A live node against broken and hostile peers: it closes them and keeps serving.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::json;
use support::fake_peer::CutAfter;
use support::Node;

fn alive(node: &Node) {
    let mut ws = node.ws();
    ws.send(json!({"cmd": "hello"}));
    // A `peer` event (a fake peer that authenticated) may come first.
    assert_eq!(ws.recv_cmd("me")["cmd"], "me", "node still answers");
}

/// Sends `bytes`, then waits (bounded) for the node to close the connection.
fn closed_after(node: &Node, bytes: &[u8]) -> Duration {
    let mut s = TcpStream::connect(node.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let start = Instant::now();
    let _ = s.write_all(bytes);
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return start.elapsed(),
            Ok(_) => continue, // the node's own HAND, if it got that far
        }
    }
}

#[test]
fn garbage_is_closed_and_the_node_stays_up() {
    let node = Node::builder()
        .arg("--handshake-timeout-ms")
        .arg("1000")
        .start();
    let mut rnd = [0u8; 4096];
    getrandom::fill(&mut rnd).unwrap();
    let mut hand_random = b"HAND".to_vec();
    hand_random.extend_from_slice(&rnd);
    for (what, bytes) in [
        ("MESS + 4 bytes", b"MESS\x00\x00\x00\x04abcd".to_vec()),
        ("HAND with len 0xFFFFFFFF", b"HAND\xff\xff\xff\xff".to_vec()),
        ("HAND with len 2 KiB", b"HAND\x00\x00\x08\x00".to_vec()),
        ("random bytes after HAND", hand_random),
        (
            "DATA first",
            b"DATA\x00\x00\x00\x10................".to_vec(),
        ),
    ] {
        let took = closed_after(&node, &bytes);
        assert!(
            took < Duration::from_secs(5),
            "{what}: closed after {took:?}"
        );
        alive(&node);
    }
}

#[test]
fn a_silent_peer_is_closed_at_the_handshake_deadline() {
    let node = Node::builder()
        .arg("--handshake-timeout-ms")
        .arg("800")
        .start();
    // A valid-looking start, then nothing.
    let took = closed_after(&node, b"HAND\x00\x00\x00\x20");
    assert!(
        took >= Duration::from_millis(700) && took < Duration::from_secs(5),
        "{took:?}"
    );
    alive(&node);
}

#[test]
fn a_peer_dropping_at_every_byte_of_its_handshake_does_no_harm() {
    let node = Node::start();
    let key = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]);
    // The initiator writes HAND (~200 bytes) then its AUTH record (136 bytes).
    let mut offsets = 0;
    for limit in 0..400 {
        let inner = TcpStream::connect(node.addr()).unwrap();
        inner
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut s = CutAfter { inner, left: limit };
        let result = purr::conn::handshake::run_initiator(&mut s, &key, 4000, "cutter");
        drop(s);
        offsets += 1;
        if result.is_ok() {
            // Past the last byte: a complete handshake. The node saw a real peer.
            break;
        }
    }
    assert!(
        offsets > 300,
        "walked every offset of HAND + AUTH ({offsets})"
    );
    alive(&node);
    let threads = node.threads();
    assert!(
        support::eventually(Duration::from_secs(10), || node.threads() <= 6),
        "connection threads end: {threads} then {}",
        node.threads()
    );
}
