//! Nothing is lost: an outbox that survives restarts, history identical on both sides
//! after restarts, and `kill -9` at random moments while messages stream.

mod support;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{eventually, free_port, Node, Ws};

struct Pair {
    _keep: tempfile::TempDir,
    a_dir: PathBuf,
    b_dir: PathBuf,
    a_port: u16,
    b_port: u16,
}

impl Pair {
    fn new() -> Pair {
        let keep = tempfile::tempdir().unwrap();
        Pair {
            a_dir: keep.path().join("a"),
            b_dir: keep.path().join("b"),
            a_port: free_port(),
            b_port: free_port(),
            _keep: keep,
        }
    }

    /// A dials B (configured), so A keeps reconnecting whoever restarts.
    fn start_a(&self) -> Node {
        Node::builder()
            .port(self.a_port)
            .data_dir(&self.a_dir)
            .arg("--connect")
            .arg(format!("127.0.0.1:{}", self.b_port))
            .start()
    }

    fn start_b(&self) -> Node {
        Node::builder()
            .port(self.b_port)
            .data_dir(&self.b_dir)
            .start()
    }
}

/// Every message of `node`'s conversation with `peer`, oldest first (pages of 500).
fn history(node: &Node, peer: &str) -> Vec<Value> {
    let mut all: Vec<Value> = Vec::new();
    let mut before = String::new();
    for _ in 0..100 {
        let page = node.api(&format!("messages?peer={peer}&limit=500{before}"));
        let page = page.as_array().cloned().unwrap_or_default();
        if page.is_empty() {
            break;
        }
        before = format!("&before={}", page[0]["seq"]);
        let mut next = page;
        next.extend(all);
        all = next;
    }
    all
}

fn ids(h: &[Value]) -> Vec<String> {
    h.iter()
        .map(|m| m["id"].as_str().unwrap_or("").to_string())
        .collect()
}

#[test]
fn two_hundred_messages_for_an_offline_peer_arrive_in_order_and_survive_restarts() {
    let pair = Pair::new();
    let b = pair.start_b();
    let b_id = b.id.clone();
    let mut a = pair.start_a();
    assert!(eventually(Duration::from_secs(5), || a.sees_online(&b_id)));
    drop(b); // SIGKILL via Drop
    assert!(eventually(Duration::from_secs(5), || !a.sees_online(&b_id)));

    let mut ws = a.ws();
    ws.send(json!({"cmd": "hello"}));
    for i in 0..200 {
        ws.send(json!({"cmd": "send", "to": b_id, "text": format!("note {i:03}")}));
    }
    let mut pending = 0;
    while pending < 200 {
        let v = ws.recv();
        if v["cmd"] == "message" {
            assert_eq!(v["message"]["status"], "pending");
            pending += 1;
        }
    }
    let mut b = pair.start_b();
    assert!(
        eventually(Duration::from_secs(15), || history(&a, &b_id)
            .iter()
            .all(|m| m["status"] == "delivered")),
        "all 200 delivered"
    );
    let hb = history(&b, &a.id);
    let texts: Vec<&str> = hb.iter().map(|m| m["text"].as_str().unwrap()).collect();
    let expected: Vec<String> = (0..200).map(|i| format!("note {i:03}")).collect();
    assert_eq!(texts, expected, "in order, once each");

    // Restart both: the same history on both sides, unread kept.
    let before_a = ids(&history(&a, &b_id));
    assert!(a.stop_within(Duration::from_secs(5)).unwrap().success());
    assert!(b.stop_within(Duration::from_secs(5)).unwrap().success());
    let b = pair.start_b();
    let a = pair.start_a();
    let ha = history(&a, &b_id);
    let hb = history(&b, &a.id);
    assert_eq!(ids(&ha), before_a);
    assert_eq!(ids(&ha), ids(&hb), "identical on both sides");
    let unread = b
        .peers()
        .into_iter()
        .find(|p| p["id"] == a.id.as_str())
        .unwrap()["unread"]
        .clone();
    assert_eq!(unread, 200);
}

fn random_below(n: u64) -> u64 {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).unwrap();
    u64::from_le_bytes(b) % n
}

/// Sends `count` messages on `ws` and reads events for `window`, recording ids seen as
/// pending and as delivered.
fn stream(
    ws: &mut Ws,
    to: &str,
    count: usize,
    pending: &mut HashSet<String>,
    delivered: &mut HashSet<String>,
) {
    for i in 0..count {
        let _ = ws.send_raw(tungstenite::Message::text(
            json!({"cmd": "send", "to": to, "text": format!("torture {i}")}).to_string(),
        ));
    }
    let _ = ws
        .inner()
        .get_mut()
        .set_read_timeout(Some(Duration::from_millis(30)));
    let end = Instant::now() + Duration::from_millis(random_below(150));
    while Instant::now() < end {
        match ws.try_recv() {
            Ok(v) if v["cmd"] == "message" => {
                if let Some(id) = v["message"]["id"].as_str() {
                    pending.insert(id.to_string());
                    if v["message"]["status"] == "delivered" {
                        delivered.insert(id.to_string());
                    }
                }
            }
            Ok(v) if v["cmd"] == "status" => {
                if let Some(id) = v["id"].as_str() {
                    delivered.insert(id.to_string());
                }
            }
            Ok(_) => {}
            Err(_) => continue,
        }
    }
}

#[test]
fn kill_9_at_random_moments_loses_nothing_and_duplicates_nothing() {
    let pair = Pair::new();
    let mut b = pair.start_b();
    let b_id = b.id.clone();
    let mut a = pair.start_a();
    let a_id = a.id.clone();
    let mut pending = HashSet::new();
    let mut delivered = HashSet::new();
    for round in 0..20 {
        assert!(
            eventually(Duration::from_secs(15), || a.sees_online(&b_id)),
            "round {round}: reconnected"
        );
        let mut ws = a.ws();
        ws.send(json!({"cmd": "hello"}));
        stream(&mut ws, &b_id, 10, &mut pending, &mut delivered);
        if random_below(2) == 0 {
            a.signal(rustix::process::Signal::KILL);
            drop(a);
            a = pair.start_a();
        } else {
            b.signal(rustix::process::Signal::KILL);
            drop(b);
            b = pair.start_b();
        }
    }
    assert!(eventually(Duration::from_secs(15), || a.sees_online(&b_id)));
    // Everything A's UI ever saw as pending gets delivered.
    let all_delivered = eventually(Duration::from_secs(30), || {
        let statuses: HashMap<String, String> = history(&a, &b_id)
            .iter()
            .map(|m| {
                (
                    m["id"].as_str().unwrap().to_string(),
                    m["status"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        pending
            .iter()
            .all(|id| statuses.get(id).is_some_and(|s| s == "delivered"))
    });
    assert!(all_delivered, "every message seen as pending was delivered");
    let ha = history(&a, &b_id);
    let hb = history(&b, &a_id);
    let b_ids: HashSet<String> = ids(&hb).into_iter().collect();
    for id in &delivered {
        assert!(b_ids.contains(id), "delivered {id} is in B's history");
    }
    for (name, h) in [("A", &ha), ("B", &hb)] {
        let unique: HashSet<String> = ids(h).into_iter().collect();
        assert_eq!(unique.len(), h.len(), "no duplicates on {name}");
    }
    eprintln!(
        "kill -9 torture: {} seen pending, {} seen delivered, A has {}, B has {}",
        pending.len(),
        delivered.len(),
        ha.len(),
        hb.len()
    );
}
