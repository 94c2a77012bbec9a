//! A peer that authenticates and then stops reading (SPEC §7, §9; ARCHITECTURE "Per-peer
//! record queue"): the sender's memory stays bounded, the peer is dropped, nothing is
//! lost, and everything is delivered when the peer is back.

mod support;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use purr::peer::inner::Inner;
use serde_json::json;
use support::fake_peer::{connect_small_window, id_hex, FakePeer};
use support::{eventually, Node, Ws};

const MESSAGES: usize = 10_000;
/// Sends go out in batches; the UI reads the answers between batches.
const BATCH: usize = 250;
const SEED: [u8; 32] = [0x5e; 32];

fn text(i: usize) -> String {
    format!("{i:05} {}", "x".repeat(500))
}

fn hello(node: &Node) -> Ws {
    let mut ws = node.ws();
    ws.send(json!({"cmd": "hello"}));
    ws.recv_cmd("peers");
    ws
}

/// Sends all messages through the UI; returns the peak RSS (KiB) seen while doing it.
fn send_all(node: &Node, ws: &mut Ws, to: &str) -> u64 {
    let mut peak = node.rss_kib();
    for start in (0..MESSAGES).step_by(BATCH) {
        for i in start..start + BATCH {
            ws.send(json!({"cmd": "send", "to": to, "text": text(i)}));
        }
        // Every send is answered with its `message` (pending) once committed.
        let mut answered = 0;
        for _ in 0..BATCH * 20 {
            let v = ws.recv();
            assert_ne!(v["cmd"], "error", "{v}");
            if v["cmd"] == "message" && v["message"]["to"] == to {
                answered += 1;
                if answered == BATCH {
                    break;
                }
            }
        }
        assert_eq!(answered, BATCH, "answers for batch at {start}");
        peak = peak.max(node.rss_kib());
    }
    peak
}

/// Every message to `peer`, via the API's history pages (newest page first).
fn statuses(node: &Node, peer: &str) -> Vec<(String, String)> {
    let mut all = Vec::new();
    let mut before = String::new();
    for _ in 0..(MESSAGES / 500 + 2) {
        let page = node.api(&format!("messages?peer={peer}&limit=500&before={before}"));
        let page = page.as_array().cloned().unwrap_or_default();
        if page.is_empty() {
            break;
        }
        before = page[0]["seq"].to_string();
        for m in page.iter().rev() {
            all.push((
                m["text"].as_str().unwrap_or("")[..5].to_string(),
                m["status"].as_str().unwrap_or("").to_string(),
            ));
        }
    }
    all
}

#[test]
fn a_peer_that_stops_reading_is_dropped_and_gets_everything_on_reconnect() {
    let node = Node::start();
    let peer = id_hex(SEED);
    let mut ws = hello(&node);
    let base_rss = node.rss_kib();

    // Authenticates, then never reads a byte: a 4 KiB receive window fills at once.
    let stalled = FakePeer::over(connect_small_window(node.addr(), 4096), SEED, "stalled")
        .expect("handshake");
    assert!(eventually(Duration::from_secs(5), || node.sees_online(&peer)));

    let started = Instant::now();
    let peak = send_all(&node, &mut ws, &peer);
    eprintln!(
        "{MESSAGES} sends answered in {:?}; RSS {} KiB at start, peak {} KiB",
        started.elapsed(),
        base_rss,
        peak
    );
    // The queue (256) and the 10 s write deadline drop the peer.
    assert!(
        eventually(Duration::from_secs(20), || !node.sees_online(&peer)),
        "the stalled peer is still online"
    );
    eprintln!(
        "stalled peer dropped {:?} after the first send",
        started.elapsed()
    );
    // Memory: the messages live in the database, not in the node's queues.
    assert!(
        peak.saturating_sub(base_rss) <= 24 * 1024,
        "RSS grew from {base_rss} to {peak} KiB"
    );
    let stored = statuses(&node, &peer);
    assert_eq!(stored.len(), MESSAGES, "all messages are stored");
    assert!(
        stored.iter().all(|(_, s)| s == "pending"),
        "none delivered yet"
    );
    drop(stalled);

    // The peer comes back and reads: it gets every message, acknowledging as it goes.
    let mut back = FakePeer::connect(node.addr(), SEED, "back");
    let reconnected = Instant::now();
    let mut got = HashSet::new();
    let mut unacked = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while got.len() < MESSAGES && Instant::now() < deadline {
        match back.recv() {
            Some(Inner::Mess(m)) => {
                got.insert(m.text[..5].to_string());
                unacked.push(m.id);
            }
            Some(_) => {}
            None => break,
        }
        // Acknowledge in batches, as a real node does per commit.
        let batch_done = unacked.len() >= 64 || got.len() == MESSAGES;
        if batch_done
            && back
                .send(&Inner::Ackn(std::mem::take(&mut unacked)))
                .is_err()
        {
            break;
        }
    }
    eprintln!(
        "{} of {MESSAGES} delivered {:?} after the reconnect",
        got.len(),
        reconnected.elapsed()
    );
    assert_eq!(got.len(), MESSAGES, "delivered after the reconnect");
    assert!(
        eventually(Duration::from_secs(20), || statuses(&node, &peer)
            .iter()
            .all(|(_, s)| s == "delivered")),
        "every message is delivered"
    );
}
