//! The wall clock jumps an hour back, then an hour ahead (a box without an RTC before
//! and after NTP, a wrong time zone fixed by hand): history stays in send order, by
//! `seq`, with nothing lost or repeated, on both sides.
//!
//! The machine's clock is not touched (CLOCK_REALTIME cannot be namespaced): the nodes
//! run with the hidden `--clock-offset-ms`, which shifts every wall-clock reading of the
//! node. Each phase restarts both nodes with new offsets, in opposite directions, so
//! each side's messages carry timestamps that go back and forth.

mod support;

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use support::faults::{hello, wait_event};
use support::{eventually, Node};

const HOUR_MS: i64 = 3_600_000;

fn start(dir: &Path, offset_ms: i64, connect: Option<u16>) -> Node {
    let mut b = Node::builder()
        .data_dir(dir)
        .arg(format!("--clock-offset-ms={offset_ms}"));
    if let Some(port) = connect {
        b = b.arg("--connect").arg(format!("127.0.0.1:{port}"));
    }
    b.start()
}

/// The conversation with `peer` as the API lists it (oldest first).
fn history(node: &Node, peer: &str) -> Vec<Value> {
    node.api(&format!("messages?peer={peer}&limit=500"))
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn texts(msgs: &[Value]) -> Vec<String> {
    msgs.iter()
        .map(|m| m["text"].as_str().unwrap_or("").to_string())
        .collect()
}

fn seqs(msgs: &[Value]) -> Vec<i64> {
    msgs.iter().filter_map(|m| m["seq"].as_i64()).collect()
}

fn ts_of(msgs: &[Value], text: &str) -> i64 {
    msgs.iter()
        .find(|m| m["text"] == text)
        .and_then(|m| m["ts"].as_i64())
        .unwrap_or_else(|| panic!("no {text}"))
}

#[test]
fn history_keeps_send_order_when_the_clock_jumps_an_hour_back_and_ahead() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir_a, dir_b) = (tmp.path().join("a"), tmp.path().join("b"));
    // (A's offset, B's offset) per phase: on time, then A an hour back and B an hour
    // ahead, then the other way round.
    let phases = [(0, 0), (-HOUR_MS, HOUR_MS), (HOUR_MS, -HOUR_MS)];
    let mut sent = Vec::new();
    let (mut id_a, mut id_b) = (String::new(), String::new());
    for (p, (off_a, off_b)) in phases.into_iter().enumerate() {
        let b = start(&dir_b, off_b, None);
        let a = start(&dir_a, off_a, Some(b.port));
        (id_a, id_b) = (a.id.clone(), b.id.clone());
        assert!(eventually(Duration::from_secs(10), || a.sees_online(&b.id)
            && b.sees_online(&a.id)));
        let (mut wa, mut wb) = (hello(&a), hello(&b));
        for (i, from_a) in [true, false, true].into_iter().enumerate() {
            let text = format!("{}{p}.{i}", if from_a { "a" } else { "b" });
            let (from, to, to_ws) = if from_a {
                (&mut wa, &b, &mut wb)
            } else {
                (&mut wb, &a, &mut wa)
            };
            from.send(json!({"cmd": "send", "to": to.id, "text": text}));
            wait_event(to_ws, &text, |v| {
                v["cmd"] == "message" && v["message"]["text"] == text.as_str()
            });
            sent.push(text);
        }
        // Every message of the phase acknowledged before the nodes stop.
        let delivered = |n: &Node, peer: &str, mine: char| {
            history(n, peer).iter().all(|m| {
                !m["text"].as_str().unwrap_or("").starts_with(mine) || m["status"] == "delivered"
            })
        };
        assert!(eventually(Duration::from_secs(10), || delivered(
            &a, &b.id, 'a'
        ) && delivered(
            &b, &a.id, 'b'
        )));
        // Nodes stop here (dropped); the next phase restarts them on the same dirs.
    }

    // Restarted on time: both histories, from the store, in send order.
    let b = start(&dir_b, 0, None);
    let a = start(&dir_a, 0, Some(b.port));
    assert_eq!(
        (a.id.as_str(), b.id.as_str()),
        (id_a.as_str(), id_b.as_str())
    );
    for (node, peer) in [(&a, &b.id), (&b, &a.id)] {
        let msgs = history(node, peer);
        assert_eq!(texts(&msgs), sent, "send order, nothing lost or repeated");
        let s = seqs(&msgs);
        assert!(s.windows(2).all(|w| w[0] < w[1]), "by seq: {s:?}");
        // The timestamps really went back and forth: ordered by them, the history
        // would be wrong.
        let ts = |t: &str| ts_of(&msgs, t);
        assert!(ts("a1.0") < ts("a0.2") - HOUR_MS / 2, "A's clock went back");
        assert!(ts("b1.1") > ts("a1.2") + HOUR_MS, "B's clock was ahead");
        assert!(ts("a2.0") > ts("b2.1") + HOUR_MS, "A ahead, B back");
    }
    // The UI's own history command says the same.
    let mut wa = hello(&a);
    wa.send(json!({"cmd": "history", "peer": b.id, "limit": 500}));
    let h = wait_event(&mut wa, "history", |v| v["cmd"] == "history");
    let msgs = h["messages"].as_array().cloned().unwrap_or_default();
    assert_eq!(texts(&msgs), sent);
}

/// Timers, deadlines and backoff use `Instant`; only the node's `Clock` (message
/// timestamps, first/last seen) reads the wall clock, which is what the offset shifts.
/// A new `SystemTime::now()` elsewhere would be a timer that a clock jump breaks.
#[test]
fn only_the_clock_reads_the_wall_clock() {
    fn walk(dir: &Path, found: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                if text.contains("SystemTime::now") {
                    found.push(path.display().to_string());
                }
            }
        }
    }
    let mut found = Vec::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut found,
    );
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].ends_with("src/state/mod.rs"), "{found:?}");
}
