//! A valid peer whose connection is cut at every byte offset of a scripted session — its
//! `HAND`, its `AUTH` record, then five records — leaves no trace: no panic, no thread
//! left behind, and the node shows the peer offline (SPEC §9 "a bad connection costs
//! only its own thread").

mod support;

use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use purr::conn::handshake::run_initiator;
use purr::peer::inner::{Inner, Mess, MsgId};
use support::fake_peer::{id_hex, CutAfter};
use support::Node;

const SEED: [u8; 32] = [0x77; 32];

/// The five records after the handshake.
fn records() -> Vec<Inner> {
    vec![
        Inner::Mess(Mess {
            id: MsgId([0x42; 16]),
            ts: 1,
            text: "cut me anywhere".into(),
        }),
        Inner::Name("cutter two".into()),
        Inner::Ping,
        Inner::Ackn(vec![MsgId([1; 16])]),
        Inner::Read(vec![MsgId([2; 16])]),
    ]
}

/// Plays the session, writing at most `limit` bytes, then drops the connection (a reset
/// when the node's own records are still unread). With `graceful`, closes our side
/// and reads to the node's end instead. Returns how many bytes went out and whether
/// the handshake completed.
fn session(addr: SocketAddr, limit: usize, graceful: bool) -> (usize, bool) {
    let inner = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    inner
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut s = CutAfter { inner, left: limit };
    let key = SigningKey::from_bytes(&SEED);
    let Ok(mut est) = run_initiator(&mut s, &key, 1, "cutter") else {
        return (limit - s.left, false);
    };
    for record in records() {
        let (mut plain, mut wire) = (Vec::new(), Vec::new());
        record.encode(&mut plain);
        est.session.seal(&plain, &mut wire).expect("seal");
        if std::io::Write::write_all(&mut s, &wire).is_err() {
            break;
        }
    }
    if graceful {
        let _ = s.inner.shutdown(std::net::Shutdown::Write);
        let _ = std::io::Read::read_to_end(&mut s.inner, &mut Vec::new());
    }
    (limit - s.left, true)
}

/// Polls (bounded) until the node has let go of the last connection: its threads have
/// ended (a reader reports the end before it exits, so the state thread sees it before
/// any later connection) and the peer is listed offline.
fn settled(node: &Node, peer: &str, baseline: usize) -> bool {
    let end = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end {
        if node.threads() <= baseline && !node.sees_online(peer) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

#[test]
fn a_peer_cut_at_every_byte_of_its_session_leaves_no_trace() {
    let mut node = Node::start();
    let peer = id_hex(SEED);
    let baseline = node.threads();
    let (total, complete) = session(node.addr(), usize::MAX, true);
    assert!(complete);
    assert!(settled(&node, &peer, baseline));
    eprintln!("scripted session: {total} bytes");

    let start = Instant::now();
    let mut authenticated = 0;
    for limit in 0..total {
        let (sent, done) = session(node.addr(), limit, false);
        assert_eq!(sent, limit);
        if done {
            authenticated += 1;
            // The next connection must not race this one's teardown.
            assert!(
                settled(&node, &peer, baseline),
                "still online after a cut at {limit}"
            );
        }
    }
    eprintln!(
        "{total} cuts in {:?}, {authenticated} of them after the handshake",
        start.elapsed()
    );
    assert!(authenticated > 0 && authenticated < total);
    assert!(!node.sees_online(&peer));
    // After all that, the same peer still gets a normal session: its NAME record applies.
    let (_, complete) = session(node.addr(), usize::MAX, true);
    assert!(complete && settled(&node, &peer, baseline));
    let name = node
        .peers()
        .iter()
        .find(|p| p["id"] == peer.as_str())
        .map(|p| p["name"].clone());
    assert_eq!(name, Some("cutter two".into()));
    assert!(
        support::eventually(Duration::from_secs(15), || node.threads() <= baseline),
        "threads: {} after, {baseline} before",
        node.threads()
    );

    node.stop_within(Duration::from_secs(10))
        .expect("clean exit");
    let log = node.log_path();
    assert!(support::eventually(Duration::from_secs(5), || log.exists()));
    let log = std::fs::read_to_string(log).unwrap();
    assert!(!log.contains("panicked"), "a thread panicked:\n{log}");
}
