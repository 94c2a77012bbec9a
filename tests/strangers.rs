//! Issue 16, point 2: a flood of minted identities (each authenticates once and leaves)
//! must not grow the node's memory, slow the UI's `hello` or `/api/v1/peers`, nor evict
//! a real contact (docs/SECURITY.md §2.6, where the figures printed here are quoted).

mod support;

use std::time::{Duration, Instant};

use purr::peer::inner::{Inner, Mess, MsgId};
use serde_json::json;
use support::fake_peer::{id_hex, FakePeer};
use support::{eventually, get, Node};

/// Minted identities per run.
const MINTED: u32 = 2_000;
/// What `hello` may take (issue 16 asks for < 100 ms; a debug build on a shared
/// 2-core machine, so the bound is the issue's, not a tighter one).
const HELLO_LIMIT: Duration = Duration::from_millis(100);

/// A distinct identity seed per number.
fn seed(n: u32) -> [u8; 32] {
    let mut s = [0x3c; 32];
    s[..4].copy_from_slice(&n.to_be_bytes());
    s
}

fn mess(id: u8, text: &str) -> Inner {
    Inner::Mess(Mess {
        id: MsgId([id; 16]),
        ts: 1_700_000_000_000,
        text: text.into(),
    })
}

/// Reads records until an ACKN for `id` (bounded); false if the node closed first.
fn acked(peer: &mut FakePeer, id: u8) -> bool {
    for _ in 0..4096 {
        match peer.recv() {
            Some(Inner::Ackn(ids)) if ids.contains(&MsgId([id; 16])) => return true,
            Some(_) => {}
            None => return false,
        }
    }
    false
}

/// Reads records until a MESS with `text` (bounded); false if the node closed first.
fn received(peer: &mut FakePeer, text: &str) -> bool {
    for _ in 0..4096 {
        match peer.recv() {
            Some(Inner::Mess(m)) if m.text == text => return true,
            Some(_) => {}
            None => return false,
        }
    }
    false
}

/// `hello` on a fresh WebSocket: how long until its `peers` answer, and its size.
fn hello(node: &Node) -> (Duration, usize, serde_json::Value) {
    let mut ws = node.ws();
    let started = Instant::now();
    ws.send(json!({"cmd": "hello"}));
    let peers = ws.recv_cmd("peers");
    let took = started.elapsed();
    (took, peers.to_string().len(), peers)
}

/// `GET /api/v1/peers`: how long, the body's size and the left-out header.
fn api_peers(node: &Node) -> (Duration, usize, Option<String>) {
    let started = Instant::now();
    let r = get(
        node.addr(),
        "/api/v1/peers",
        &format!("Authorization: Bearer {}\r\n", node.token()),
    );
    let took = started.elapsed();
    assert_eq!(r.status, 200);
    (took, r.body.len(), r.header("X-Purr-Strangers-Left-Out"))
}

#[test]
fn a_flood_of_minted_identities_stays_small_fast_and_keeps_the_contacts() {
    // The rate per network is raised so that every identity gets in from loopback: this
    // measures the table's bound; the rate itself is tested in src/state/tests.rs.
    let node = Node::builder()
        .arg("--strangers-per-minute")
        .arg("1000000")
        .start();
    let friend_seed = [0xf1; 32];
    let friend_id = id_hex(friend_seed);
    let mut friend = FakePeer::connect(node.addr(), friend_seed, "friend");
    friend.send(&mess(1, "before the flood")).unwrap();
    assert!(acked(&mut friend, 1));
    let rss_before = node.rss_kib();
    let (hello_before, _, _) = hello(&node);

    let started = Instant::now();
    let addr = node.addr();
    let workers: Vec<_> = (0..2u32)
        .map(|w| {
            std::thread::spawn(move || {
                let mut failed = 0u32;
                for n in (w..MINTED).step_by(2) {
                    // A handshake may miss its 10 s deadline on a loaded machine: the
                    // flood goes on without it.
                    let stream =
                        std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5));
                    match stream.map(|s| FakePeer::over(s, seed(n), "stranger")) {
                        Ok(Ok(peer)) => drop(peer),
                        _ => failed += 1,
                    }
                }
                failed
            })
        })
        .collect();
    let failed: u32 = workers
        .into_iter()
        .map(|w| w.join().expect("minting thread"))
        .sum();
    assert!(failed < MINTED / 10, "{failed} handshakes failed");
    eprintln!(
        "{} identities minted in {:?}",
        MINTED - failed,
        started.elapsed()
    );
    // The node has taken the flood in once the table is full and none is online.
    assert!(
        eventually(Duration::from_secs(60), || {
            let (_, _, peers) = hello(&node);
            peers["strangers_left_out"] == 256 - 32
                && peers["peers"]
                    .as_array()
                    .is_some_and(|a| a.iter().skip(1).all(|p| p["online"] == false))
        }),
        "the node did not take in the flood"
    );

    let rss_after = node.rss_kib();
    // The best of three: one measurement can meet a scheduler hiccup on a machine
    // shared with other builds.
    let (hello_took, hello_bytes, peers) = (0..3)
        .map(|_| hello(&node))
        .min_by_key(|h| h.0)
        .expect("three hellos");
    let (api_took, api_bytes, left_out) = (0..3)
        .map(|_| api_peers(&node))
        .min_by_key(|a| a.0)
        .expect("three answers");
    eprintln!(
        "RSS {rss_before} KiB -> {rss_after} KiB; hello {hello_before:?} -> {hello_took:?} ({hello_bytes} bytes); \
         /api/v1/peers {api_took:?} ({api_bytes} bytes, {left_out:?} strangers left out)"
    );
    let listed = peers["peers"].as_array().expect("peers is an array");
    assert!(listed.len() <= 1 + 32, "{} peers sent", listed.len());
    assert_eq!(listed[0]["id"], friend_id, "contacts come first");
    assert_eq!(listed[0]["stranger"], false);
    assert!(listed[1..].iter().all(|p| p["stranger"] == true));
    assert_eq!(peers["strangers_left_out"], 256 - 32);
    assert_eq!(left_out.as_deref(), Some("224"));
    assert!(hello_bytes < 32 * 1024, "hello sent {hello_bytes} bytes");
    assert!(hello_took < HELLO_LIMIT, "hello took {hello_took:?}");
    assert!(api_took < HELLO_LIMIT, "/api/v1/peers took {api_took:?}");
    assert!(
        rss_after < rss_before + 4 * 1024,
        "RSS grew from {rss_before} KiB to {rss_after} KiB"
    );

    // The contact is still one, on its live session, both ways.
    friend.send(&mess(2, "after the flood")).unwrap();
    assert!(acked(&mut friend, 2), "the contact's session was lost");
    let body = json!({"to": friend_id, "text": "still friends"}).to_string();
    let r = support::http(
        node.addr(),
        &format!(
            "POST /api/v1/messages HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            node.port,
            node.token(),
            body.len()
        ),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert!(received(&mut friend, "still friends"));
}
