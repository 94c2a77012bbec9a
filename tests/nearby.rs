//! Sessions for contacts, beacons for everyone else (issue 21), between real nodes on a
//! private LAN of network namespaces (`support::lan`), discovery on:
//!
//! - strangers list each other as `nearby` and hold no session (no connection, no
//!   thread beyond an idle node's);
//! - A sends to B: the message arrives (the send opened the session), A and B are
//!   online and contacts, and stay online past the idle period; C is still nearby to
//!   both, with no session;
//! - A opens C's conversation (`POST /api/v1/peers/<id>/connect`): a session, closed
//!   again after the (shortened) idle period, since they never talked;
//! - first-message latency to a nearby peer (dial and handshake included) against a
//!   peer already online, printed.
//!
//! Needs root and `ip`; skips otherwise.

mod support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::eventually;
use support::lan::{median, start_together, Host, Lan};
use support::Node;

/// The idle period the nodes run with (`--idle-session-secs`), short for the test.
const IDLE_SECS: u64 = 4;

/// `presence` of `other` as `node` lists it (`None`: not listed).
fn presence(h: &Host, node: &Node, other: &Node) -> Option<String> {
    h.peers(node)?
        .iter()
        .find(|p| p["id"] == other.id.as_str())
        .and_then(|p| p["presence"].as_str().map(str::to_string))
}

/// Whether `node` lists every one of `others` with this presence.
fn lists_all(h: &Host, node: &Node, others: &[&Node], want: &str) -> bool {
    others
        .iter()
        .all(|o| presence(h, node, o).as_deref() == Some(want))
}

/// Whether `node` (in `h`) has `text` from `from` in its history.
fn has_message(h: &Host, node: &Node, from: &Node, text: &str) -> bool {
    let path = format!("messages?peer={}&limit=50", from.id);
    h.api(node, "GET", &path, None)
        .and_then(|(status, v)| (status == 200).then_some(v))
        .and_then(|v| v.as_array().cloned())
        .is_some_and(|ms| ms.iter().any(|m| m["text"] == text))
}

/// Sends `text` from `a` to `b` through the API and returns how long until `b` shows
/// it (polled every 2 ms).
fn time_delivery(ha: &Host, a: &Node, hb: &Host, b: &Node, text: &str) -> Duration {
    let start = Instant::now();
    let (status, body) = ha
        .api(
            a,
            "POST",
            "messages",
            Some(json!({"to": b.id, "text": text})),
        )
        .expect("the sender answers");
    assert_eq!(status, 201, "send refused: {body}");
    let deadline = start + Duration::from_secs(10);
    while !has_message(hb, b, a, text) {
        assert!(Instant::now() < deadline, "{text:?} did not arrive in 10 s");
        std::thread::sleep(Duration::from_millis(2));
    }
    start.elapsed()
}

fn node(h: &Host) -> support::NodeBuilder {
    h.node()
        .arg("--idle-session-secs")
        .arg(IDLE_SECS.to_string())
}

#[test]
fn strangers_are_nearby_without_sessions_until_they_talk_and_idle_sessions_close() {
    require_netns!();
    let lan = Lan::builder(4).ipv4_only().build();
    let hosts: Vec<&Host> = lan.hosts.iter().collect();
    let nodes = start_together(hosts.iter().map(|h| node(h)).collect());
    let (a, b, c, d) = (&nodes[0], &nodes[1], &nodes[2], &nodes[3]);
    let (ha, hb, hc, hd) = (hosts[0], hosts[1], hosts[2], hosts[3]);

    // Every node lists every other as nearby, and none holds a session.
    let all: Vec<&Node> = nodes.iter().collect();
    let everyone_nearby = || {
        hosts.iter().zip(&all).all(|(h, n)| {
            let others: Vec<&Node> = all.iter().copied().filter(|o| o.id != n.id).collect();
            lists_all(h, n, &others, "nearby")
        })
    };
    assert!(
        eventually(Duration::from_secs(10), everyone_nearby),
        "not every node lists every other as nearby: {:?}",
        hosts
            .iter()
            .zip(&all)
            .map(|(h, n)| h.peers(n))
            .collect::<Vec<_>>()
    );
    // Beacons come every second: three rounds more and still no session anywhere.
    std::thread::sleep(Duration::from_secs(3));
    for n in &all {
        assert_eq!(n.established(), 0, "{} holds a connection", &n.id[..8]);
    }
    let idle_threads: Vec<usize> = all.iter().map(|n| n.threads()).collect();
    // An idle node's threads (6 in this build, with the state's watcher), where a full
    // mesh of sessions would add 2 per peer: 12.
    assert!(
        idle_threads.iter().all(|t| *t <= 6),
        "threads per node: {idle_threads:?}"
    );
    let peer = &ha.peers(a).expect("peers")[0];
    assert_eq!(peer["stranger"], true);
    assert_eq!(peer["online"], false);

    // A sends to B: the send opens the session and the message arrives.
    let first = time_delivery(ha, a, hb, b, "hello nearby");
    assert!(
        eventually(Duration::from_secs(5), || {
            lists_all(ha, a, &[b], "online") && lists_all(hb, b, &[a], "online")
        }),
        "A and B online after the first message"
    );
    let mut online = Vec::new();
    for i in 0..5 {
        online.push(time_delivery(ha, a, hb, b, &format!("again {i}")));
    }
    // A second sample of a first message: B to D, D nearby until then.
    let first_bd = time_delivery(hb, b, hd, d, "hello D");
    eprintln!(
        "first message to a nearby peer (dial + handshake + delivery): A→B {first:?}, B→D {first_bd:?}; \
         to a peer online: median {:?} of {online:?}",
        median(online.clone())
    );
    assert!(
        first < Duration::from_secs(2) && first_bd < Duration::from_secs(2),
        "a first message to a nearby peer took {first:?} / {first_bd:?}"
    );

    // C is still nearby to both, with no session.
    assert!(lists_all(ha, a, &[c], "nearby") && lists_all(hb, b, &[c], "nearby"));
    assert!(lists_all(hc, c, &[a, b], "nearby"));
    assert_eq!(c.established(), 0, "C holds a connection");

    // A opens C's conversation: a session, which nobody uses.
    let (status, body) = ha
        .api(a, "POST", &format!("peers/{}/connect", c.id), None)
        .expect("A answers");
    assert_eq!(status, 202, "{body}");
    assert!(
        eventually(Duration::from_secs(5), || lists_all(ha, a, &[c], "online")),
        "A's session with C opened on demand"
    );
    let opened = Instant::now();

    // Past the idle period: A–C closes (strangers), A–B stays (they talked: contacts).
    assert!(
        eventually(Duration::from_secs(IDLE_SECS + 5), || {
            lists_all(ha, a, &[c], "nearby") && lists_all(hc, c, &[a], "nearby")
        }),
        "the idle on-demand session A–C was not closed"
    );
    let closed_after = opened.elapsed();
    eprintln!(
        "on-demand session A–C closed {closed_after:?} after it opened (idle period {IDLE_SECS} s)"
    );
    assert!(
        closed_after >= Duration::from_secs(IDLE_SECS - 1),
        "closed before the idle period: {closed_after:?}"
    );
    assert!(
        lists_all(ha, a, &[b], "online") && lists_all(hb, b, &[a], "online"),
        "A and B are contacts: their session is kept"
    );
    let contact: Vec<Value> = hb.peers(b).expect("peers");
    let a_on_b = contact.iter().find(|p| p["id"] == a.id.as_str()).unwrap();
    assert_eq!(a_on_b["stranger"], false, "a message makes a contact");
    assert!(
        eventually(Duration::from_secs(2), || c.established() == 0),
        "C's session is gone: {} connections",
        c.established()
    );
}
