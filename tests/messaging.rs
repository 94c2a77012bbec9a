//! Messages between real nodes on loopback: exact delivery, receipts, offline peers.

mod support;

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{json, Value};
use support::{eventually, free_port, Node, Ws};

/// Reads events until `f` picks one (bounded by count and the socket's read timeout).
fn wait_event(ws: &mut Ws, what: &str, mut f: impl FnMut(&Value) -> bool) -> Value {
    for _ in 0..5000 {
        let v = ws.recv();
        if f(&v) {
            return v;
        }
    }
    panic!("no {what}");
}

fn hello(node: &Node) -> Ws {
    let mut ws = node.ws();
    ws.send(json!({"cmd": "hello"}));
    ws.recv_cmd("peers");
    ws
}

/// 65,536 bytes: NULs, emoji, and one ASCII letter.
fn awkward_text() -> String {
    let mut t = "\u{0}🐱".repeat(13_107);
    t.push('a');
    assert_eq!(t.len(), 65_536);
    t
}

#[test]
fn a_message_crosses_the_mesh_exactly_with_delivery_and_read_receipts() {
    let c = Node::start();
    let b = Node::builder()
        .arg("--connect")
        .arg(format!("127.0.0.1:{}", c.port))
        .start();
    let a = Node::builder()
        .arg("--connect")
        .arg(format!("127.0.0.1:{}", b.port))
        .start();
    assert!(eventually(Duration::from_secs(5), || a.sees_online(&c.id)
        && c.sees_online(&a.id)));
    let mut wa = hello(&a);
    let mut wc = hello(&c);
    let text = awkward_text();
    wa.send(json!({"cmd": "send", "to": c.id, "text": text}));

    let got = wait_event(&mut wc, "message on C", |v| v["cmd"] == "message");
    assert_eq!(
        got["message"]["text"].as_str(),
        Some(text.as_str()),
        "exact bytes"
    );
    assert_eq!(got["message"]["from"], a.id.as_str());
    assert_eq!(got["message"]["status"], "received");
    let id = got["message"]["id"].as_str().unwrap().to_string();

    let mut statuses = Vec::new();
    let pending = wait_event(&mut wa, "own message on A", |v| {
        if v["cmd"] == "status" && v["id"] == id.as_str() {
            statuses.push(v["status"].as_str().unwrap_or("").to_string());
        }
        v["cmd"] == "message" && v["message"]["id"] == id.as_str()
    });
    assert!(["pending", "delivered"].contains(&pending["message"]["status"].as_str().unwrap()));
    if !statuses.iter().any(|s| s == "delivered") && pending["message"]["status"] != "delivered" {
        wait_event(&mut wa, "delivered", |v| {
            v["cmd"] == "status" && v["id"] == id.as_str() && v["status"] == "delivered"
        });
    }
    // C's unread count shows, then C reads.
    let peer_a = c
        .peers()
        .into_iter()
        .find(|p| p["id"] == a.id.as_str())
        .unwrap();
    assert_eq!(peer_a["unread"], 1);
    wc.send(json!({"cmd": "read", "peer": a.id}));
    wait_event(&mut wc, "unread 0 after read", |v| {
        v["cmd"] == "peer" && v["peer"]["id"] == a.id.as_str() && v["peer"]["unread"] == 0
    });
    wait_event(&mut wa, "read receipt", |v| {
        v["cmd"] == "status" && v["id"] == id.as_str() && v["status"] == "read"
    });
    // Both histories hold it once, with the right status.
    let ha = a.api(&format!("messages?peer={}", c.id));
    let hc = c.api(&format!("messages?peer={}", a.id));
    assert_eq!(ha.as_array().unwrap().len(), 1);
    assert_eq!(hc.as_array().unwrap().len(), 1);
    assert!(eventually(Duration::from_secs(3), || {
        a.api(&format!("messages?peer={}", c.id))[0]["status"] == "read"
    }));
    assert_eq!(hc[0]["text"].as_str(), Some(text.as_str()));
}

#[test]
fn a_message_to_an_offline_peer_waits_and_is_delivered_when_it_returns() {
    let keep = tempfile::tempdir().unwrap();
    let (b_port, b_dir) = (free_port(), keep.path().join("b"));
    let b = Node::builder().port(b_port).data_dir(&b_dir).start();
    let a = Node::builder()
        .arg("--connect")
        .arg(format!("127.0.0.1:{b_port}"))
        .start();
    assert!(eventually(Duration::from_secs(5), || a.sees_online(&b.id)));
    let b_id = b.id.clone();
    b.signal(rustix::process::Signal::KILL);
    drop(b);
    assert!(eventually(Duration::from_secs(5), || !a.sees_online(&b_id)));

    let mut wa = hello(&a);
    wa.send(json!({"cmd": "send", "to": b_id, "text": "are you there?"}));
    let m = wait_event(&mut wa, "pending", |v| v["cmd"] == "message");
    assert_eq!(m["message"]["status"], "pending");
    let id = m["message"]["id"].as_str().unwrap().to_string();

    let b = Node::builder().port(b_port).data_dir(&b_dir).start();
    wait_event(&mut wa, "delivered after return", |v| {
        v["cmd"] == "status" && v["id"] == id.as_str() && v["status"] == "delivered"
    });
    let hb = b.api(&format!("messages?peer={}", a.id));
    assert_eq!(hb[0]["text"], "are you there?");
}

#[test]
fn text_limits_and_unknown_peers_are_errors() {
    let (a, b) = support::pair();
    let mut wa = hello(&a);
    wa.send(json!({"cmd": "send", "to": b.id, "text": "x".repeat(65_537)}));
    assert_eq!(wa.recv_cmd("error")["request"], "send");
    wa.send(json!({"cmd": "send", "to": b.id, "text": ""}));
    assert_eq!(wa.recv_cmd("error")["request"], "send");
    wa.send(json!({"cmd": "send", "to": "ab".repeat(32), "text": "hi"}));
    assert_eq!(wa.recv_cmd("error")["request"], "send");
    wa.send(json!({"cmd": "history", "peer": "nope"}));
    assert_eq!(wa.recv_cmd("error")["request"], "history");
}

#[test]
fn history_pages_backwards_without_gaps_or_duplicates() {
    let (a, b) = support::pair();
    let mut wa = hello(&a);
    for i in 0..120 {
        wa.send(json!({"cmd": "send", "to": b.id, "text": format!("m{i}")}));
    }
    assert!(eventually(Duration::from_secs(10), || {
        b.api(&format!("messages?peer={}&limit=500", a.id))
            .as_array()
            .is_some_and(|m| m.len() == 120)
    }));
    let mut seen = Vec::new();
    let mut before: Option<i64> = None;
    for _ in 0..10 {
        let q = match before {
            Some(s) => format!(
                "{{\"cmd\":\"history\",\"peer\":\"{}\",\"before\":{s},\"limit\":50}}",
                b.id
            ),
            None => format!("{{\"cmd\":\"history\",\"peer\":\"{}\",\"limit\":50}}", b.id),
        };
        wa.send(serde_json::from_str(&q).unwrap());
        let h = wa.recv_cmd("history");
        let page = h["messages"].as_array().unwrap().clone();
        if page.is_empty() {
            break;
        }
        before = page[0]["seq"].as_i64();
        let mut texts: Vec<String> = page
            .iter()
            .map(|m| m["text"].as_str().unwrap().to_string())
            .collect();
        texts.extend(seen);
        seen = texts;
    }
    let expected: Vec<String> = (0..120).map(|i| format!("m{i}")).collect();
    assert_eq!(seen, expected);
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), 120);
}

#[test]
fn a_read_receipt_waits_for_an_offline_sender() {
    let keep = tempfile::tempdir().unwrap();
    let (a_port, a_dir) = (free_port(), keep.path().join("a"));
    let b = Node::start();
    let a = Node::builder()
        .port(a_port)
        .data_dir(&a_dir)
        .arg("--connect")
        .arg(format!("127.0.0.1:{}", b.port))
        .start();
    assert!(eventually(Duration::from_secs(5), || a.sees_online(&b.id)));
    let mut wa = hello(&a);
    wa.send(json!({"cmd": "send", "to": b.id, "text": "read me later"}));
    let id = wait_event(&mut wa, "own message", |v| v["cmd"] == "message")["message"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(eventually(Duration::from_secs(3), || {
        b.api(&format!("messages?peer={}", a.id))
            .as_array()
            .is_some_and(|m| m.len() == 1)
    }));
    let a_id = a.id.clone();
    drop(wa);
    drop(a); // A goes away (SIGKILL)
    assert!(eventually(Duration::from_secs(5), || !b.sees_online(&a_id)));
    let mut wb = hello(&b);
    wb.send(json!({"cmd": "read", "peer": a_id}));
    wait_event(&mut wb, "unread 0", |v| {
        v["cmd"] == "peer" && v["peer"]["unread"] == 0
    });

    let a = Node::builder()
        .port(a_port)
        .data_dir(&a_dir)
        .arg("--connect")
        .arg(format!("127.0.0.1:{}", b.port))
        .start();
    assert!(
        eventually(Duration::from_secs(10), || {
            a.api(&format!("messages?peer={}", b.id))[0]["status"] == "read"
        }),
        "the READ reached A when it came back"
    );
    assert_eq!(
        a.api(&format!("messages?peer={}", b.id))[0]["id"],
        id.as_str()
    );
}

#[test]
fn verified_is_stored_and_survives_a_restart() {
    let keep = tempfile::tempdir().unwrap();
    let a_dir = keep.path().join("a");
    let b = Node::start();
    let mut a = Node::builder()
        .data_dir(&a_dir)
        .arg("--connect")
        .arg(format!("127.0.0.1:{}", b.port))
        .start();
    assert!(eventually(Duration::from_secs(5), || a.sees_online(&b.id)));
    let mut wa = hello(&a);
    wa.send(json!({"cmd": "verify", "peer": b.id, "verified": true}));
    let p = wait_event(&mut wa, "verified peer", |v| {
        v["cmd"] == "peer" && v["peer"]["verified"] == true
    });
    assert_eq!(p["peer"]["id"], b.id.as_str());
    drop(wa);
    assert!(a.stop_within(Duration::from_secs(5)).unwrap().success());
    drop(b);
    let a = Node::builder().data_dir(&a_dir).start();
    let peers = a.peers();
    assert_eq!(peers.len(), 1, "the contact is known after a restart");
    assert_eq!(peers[0]["verified"], true);
    assert_eq!(peers[0]["online"], false);
}

/// Regression: a UI burst larger than the peer's queue (256) used to disconnect a peer
/// that was reading fine, and the re-send after each reconnect overflowed it again.
#[test]
fn a_burst_larger_than_the_peer_queue_is_delivered_without_dropping_the_peer() {
    let (a, b) = support::pair();
    let mut wa = hello(&a);
    for i in 0..1000 {
        wa.send(json!({"cmd": "send", "to": b.id, "text": format!("burst {i:04}")}));
    }
    assert!(
        eventually(Duration::from_secs(60), || {
            b.api(&format!("messages?peer={}&limit=500&before=1000000", a.id))
                .as_array()
                .is_some_and(|m| m.len() == 500)
                && b.api(&format!("messages?peer={}&limit=1", a.id))[0]["text"] == "burst 0999"
        }),
        "all 1000 arrived"
    );
    let log_path = a.log_path();
    let mut a = a;
    a.stop_within(Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(200));
    let log = std::fs::read_to_string(log_path).unwrap_or_default();
    assert!(!log.contains("not keeping up"), "B was never dropped");
    let connections = log
        .lines()
        .filter(|l| l.contains("purr::conn::peer") && l.contains("authenticated"))
        .count();
    assert_eq!(connections, 1, "one connection throughout");
}
