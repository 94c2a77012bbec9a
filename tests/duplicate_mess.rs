//! SPEC §7: "a receiver stores duplicate ids once and acknowledges them again". A
//! sender that missed our ACKN sends the same message again on its next connection;
//! the node learns it is a duplicate from the store's insert (no lookup before showing
//! it), so these tests pin what must still hold: one row, an ACKN each time, an unread
//! count that counts the message once, and no ACKN for an id that is not this peer's
//! message to us.

mod support;

use std::time::{Duration, Instant};

use purr::peer::inner::{Inner, Mess, MsgId};
use serde_json::{json, Value};
use support::fake_peer::{id_hex, FakePeer};
use support::{eventually, Node};

const SEED: [u8; 32] = [0x0d; 32];

fn mess(id: MsgId, text: &str) -> Inner {
    Inner::Mess(Mess {
        id,
        ts: 1_700_000_000_000,
        text: text.into(),
    })
}

/// Reads records until an ACKN naming `want` arrives; returns every id acknowledged on
/// the way (bounded by the peer's 10 s read timeout and 2,000 records).
fn acks_until(peer: &mut FakePeer, want: MsgId) -> Vec<MsgId> {
    let mut seen = Vec::new();
    for _ in 0..2_000 {
        match peer.recv() {
            Some(Inner::Ackn(ids)) => {
                let done = ids.contains(&want);
                seen.extend(ids);
                if done {
                    return seen;
                }
            }
            Some(_) => {}
            None => panic!("no ACKN for {want} (acknowledged so far: {seen:?})"),
        }
    }
    panic!("no ACKN for {want} in 2,000 records");
}

fn peer_entry(node: &Node, id: &str) -> Value {
    node.peers()
        .into_iter()
        .find(|p| p["id"] == id)
        .unwrap_or(Value::Null)
}

/// Waits (5 s at most) for the node to report `n` unread from `peer`.
fn assert_unread(node: &Node, peer: &str, n: u64, what: &str) {
    assert!(
        eventually(Duration::from_secs(5), || peer_entry(node, peer)["unread"]
            == n),
        "{what}: {}",
        peer_entry(node, peer)
    );
}

/// The conversation with `peer` as the node's history returns it.
fn history(node: &Node, peer: &str) -> Vec<Value> {
    let mut ws = node.ws();
    ws.send(json!({"cmd": "history", "peer": peer, "limit": 500}));
    let h = ws.recv_cmd("history");
    h["messages"].as_array().cloned().unwrap_or_default()
}

#[test]
fn a_message_received_again_is_stored_once_acknowledged_again_and_counted_once() {
    let node = Node::start();
    let peer = id_hex(SEED);
    let x = MsgId([0x11; 16]);

    let mut first = FakePeer::connect(node.addr(), SEED, "sender");
    first.send(&mess(x, "hello once")).unwrap();
    acks_until(&mut first, x);
    drop(first);
    assert!(eventually(Duration::from_secs(5), || peer_entry(
        &node, &peer
    )["online"]
        == false));

    // Our ACKN "was lost": the sender sends it again on its next connection, then a new
    // one, so we know when the node has handled both.
    let mut again = FakePeer::connect(node.addr(), SEED, "sender");
    let y = MsgId([0x22; 16]);
    again.send(&mess(x, "hello once")).unwrap();
    again.send(&mess(y, "and a new one")).unwrap();
    let acked = acks_until(&mut again, y);
    assert!(
        acked.contains(&x),
        "the repeat is acknowledged again: {acked:?}"
    );

    let h = history(&node, &peer);
    let texts: Vec<&str> = h.iter().filter_map(|m| m["text"].as_str()).collect();
    assert_eq!(texts, ["hello once", "and a new one"], "stored once each");
    assert_unread(&node, &peer, 2, "unread counts the repeated message once");
}

/// Issue 16, point 8: an id the node holds for something else (here: our own message,
/// echoed back) is acknowledged, so the sender does not re-send it for ever, and is
/// never stored or counted under this peer.
#[test]
fn an_id_that_is_not_this_peers_message_to_us_is_acknowledged_and_not_stored() {
    let node = Node::start();
    let peer = id_hex(SEED);
    let mut fake = FakePeer::connect(node.addr(), SEED, "echo");
    assert!(eventually(Duration::from_secs(5), || node.sees_online(&peer)));

    // Something of ours goes to the peer; it comes back as a MESS with our id.
    let mut ws = node.ws();
    ws.send(json!({"cmd": "send", "to": peer, "text": "mine"}));
    let ours: MsgId = loop {
        match fake.recv() {
            Some(Inner::Mess(m)) => break m.id,
            Some(_) => {}
            None => panic!("our message never reached the peer"),
        }
    };
    fake.send(&Inner::Ackn(vec![ours])).unwrap();
    fake.send(&mess(ours, "not yours")).unwrap();
    let marker = MsgId([0x33; 16]);
    fake.send(&mess(marker, "marker")).unwrap();
    let acked = acks_until(&mut fake, marker);
    assert!(
        acked.contains(&ours),
        "a colliding id is not acknowledged: {acked:?}"
    );

    let deadline = Instant::now() + Duration::from_secs(5);
    let mut h = history(&node, &peer);
    while h.len() != 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        h = history(&node, &peer);
    }
    let shown: Vec<(&str, bool)> = h
        .iter()
        .map(|m| (m["text"].as_str().unwrap_or(""), m["from"] == peer.as_str()))
        .collect();
    assert_eq!(shown, [("mine", false), ("marker", true)], "{h:?}");
    assert_unread(&node, &peer, 1, "only the marker is unread");
}

/// Issue 16, point 8: two peers send one id. The first keeps it; the second is
/// acknowledged on every re-send (before: never, so it was re-sent on every reconnect
/// for ever) and never stored under the second peer.
#[test]
fn an_id_already_used_by_another_peer_is_acknowledged_on_every_resend_and_not_stored() {
    let node = Node::start();
    let first_seed = [0x1e; 32];
    let (first, second) = (id_hex(first_seed), id_hex(SEED));
    let x = MsgId([0x44; 16]);
    let mut a = FakePeer::connect(node.addr(), first_seed, "first");
    a.send(&mess(x, "from the first")).unwrap();
    acks_until(&mut a, x);

    for round in 0..2u8 {
        let mut b = FakePeer::connect(node.addr(), SEED, "second");
        b.send(&mess(x, "from the second")).unwrap();
        let marker = MsgId([0x50 + round; 16]);
        b.send(&mess(marker, "marker")).unwrap();
        let acked = acks_until(&mut b, marker);
        assert!(
            acked.contains(&x),
            "round {round}: not acknowledged: {acked:?}"
        );
        drop(b);
        assert!(eventually(Duration::from_secs(5), || peer_entry(
            &node, &second
        )["online"]
            == false));
    }
    let texts = |peer: &str| -> Vec<String> {
        history(&node, peer)
            .iter()
            .filter_map(|m| m["text"].as_str().map(str::to_string))
            .collect()
    };
    assert_eq!(texts(&first), ["from the first"]);
    assert_eq!(texts(&second), ["marker", "marker"]);
    assert_unread(&node, &second, 2, "the colliding message is not counted");
}
