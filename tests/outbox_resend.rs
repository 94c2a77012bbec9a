//! Regression: a peer that came back to more pending messages than its record queue
//! holds (256) was disconnected at once as "not keeping up", because the whole outbox
//! was queued in one go; on every reconnect the same happened, so a long outbox never
//! drained. The outbox now goes out a window at a time as the peer takes it.

mod support;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use purr::peer::inner::Inner;
use serde_json::json;
use support::fake_peer::{id_hex, FakePeer};
use support::{eventually, Node};

const PENDING: usize = 1_000;
const SEED: [u8; 32] = [0x0b; 32];

/// A node that knows the peer `SEED` (met once, now offline) with [`PENDING`] messages
/// for it stored.
fn node_with_outbox() -> (Node, String) {
    let node = Node::start();
    let peer = id_hex(SEED);
    // Meet once, so the node knows the contact; then go away.
    drop(FakePeer::connect(node.addr(), SEED, "away"));
    assert!(eventually(Duration::from_secs(5), || node
        .peers()
        .iter()
        .any(|p| p["id"] == peer.as_str() && p["online"] == false)));

    let mut ws = node.ws();
    for i in 0..PENDING {
        ws.send(json!({"cmd": "send", "to": peer, "text": format!("{i:04}")}));
    }
    let mut stored = 0;
    for _ in 0..PENDING * 10 {
        let v = ws.recv();
        if v["cmd"] == "message" && v["message"]["status"] == "pending" {
            stored += 1;
            if stored == PENDING {
                break;
            }
        }
    }
    assert_eq!(stored, PENDING);
    (node, peer)
}

#[test]
fn a_long_outbox_is_resent_on_one_connection_without_dropping_the_peer() {
    let (node, peer) = node_with_outbox();
    let mut back = FakePeer::connect(node.addr(), SEED, "back");
    let mut got = HashSet::new();
    let mut unacked = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while got.len() < PENDING && Instant::now() < deadline {
        match back.recv() {
            Some(Inner::Mess(m)) => {
                got.insert(m.text);
                unacked.push(m.id);
            }
            Some(_) => {}
            None => break, // the node closed the connection
        }
        if unacked.len() >= 64 || got.len() == PENDING {
            back.send(&Inner::Ackn(std::mem::take(&mut unacked)))
                .expect("connection still open");
        }
    }
    assert_eq!(got.len(), PENDING, "the whole outbox on one connection");
    assert!(node.sees_online(&peer), "the peer was not dropped");
}

/// Regression: the outbox went out one window (128 records) per `ACKN` from the peer, or
/// per 1 s tick without one, even when the peer had long read the last window: a
/// sender whose UI waited on the outbox was held to one window per commit of the
/// peer's disk. The node now refills the queue as the peer's writer drains it.
#[test]
fn the_outbox_keeps_flowing_while_the_peer_reads_even_before_it_acknowledges() {
    let (node, peer) = node_with_outbox();
    let mut back = FakePeer::connect(node.addr(), SEED, "back");
    let mut got = HashSet::new();
    // Paced by ACKNs or ticks, 2 s would bring at most 128 + 2 × 128 of the 1,000.
    let deadline = Instant::now() + Duration::from_secs(2);
    while got.len() < PENDING && Instant::now() < deadline {
        match back.recv() {
            Some(Inner::Mess(m)) => {
                got.insert(m.text);
            }
            Some(_) => {}
            None => break,
        }
    }
    assert_eq!(
        got.len(),
        PENDING,
        "the whole outbox within 2 s, no ACKN sent"
    );
    assert!(node.sees_online(&peer), "the peer was not dropped");
}

/// Regression: a message that went out through the outbox before its own insert had
/// committed was put on the wire again by that commit (as if it had never been sent),
/// so a fast sender delivered much of a burst twice. Receivers hid it by looking every
/// id up; since they no longer do, it showed as repeated messages. Commits are slowed
/// to 300 ms here so that the outbox is sent, and done, long before them.
#[test]
fn a_burst_through_the_outbox_goes_out_once_per_message() {
    const BURST: usize = 600;
    let node = Node::builder()
        .arg("--store-commit-delay-ms")
        .arg("300")
        .start();
    let peer = id_hex(SEED);
    let mut fake = FakePeer::connect(node.addr(), SEED, "reader");
    assert!(eventually(Duration::from_secs(5), || node.sees_online(&peer)));
    let mut ws = node.ws();
    for i in 0..BURST {
        ws.send(json!({"cmd": "send", "to": peer, "text": format!("{i:04}")}));
    }
    let mut seen: std::collections::HashMap<String, usize> = Default::default();
    // Every message, then 2 s more for any second copy (commits come within ~1 s).
    let mut quiet_until = Instant::now() + Duration::from_secs(20);
    fake.stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    while Instant::now() < quiet_until {
        if let Some(Inner::Mess(m)) = fake.recv() {
            *seen.entry(m.text).or_default() += 1;
            if seen.len() == BURST {
                quiet_until = quiet_until.min(Instant::now() + Duration::from_secs(2));
            }
        }
    }
    assert_eq!(seen.len(), BURST, "every message arrived");
    let twice: Vec<&String> = seen
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(t, _)| t)
        .collect();
    assert!(
        twice.is_empty(),
        "{} of {BURST} sent twice, e.g. {:?}",
        twice.len(),
        twice.first()
    );
}
