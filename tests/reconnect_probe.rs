//! Issue 16, point 7: a peer whose old session died silently (it rebooted, a NAT forgot
//! the flow) was locked out for 45 s: its new connection lost SPEC §7's duplicate rule
//! to the dead one. Now the live link is probed (a PING) and, silent for 3 s, gives way;
//! what the new connection sent meanwhile is handled once it takes over.

mod support;

use std::time::{Duration, Instant};

use purr::peer::inner::{Inner, Mess, MsgId};
use support::fake_peer::FakePeer;
use support::Node;

const SEED: [u8; 32] = [0x7e; 32];

#[test]
fn a_peer_whose_old_session_died_silently_is_back_within_seconds() {
    let node = Node::start();
    // The first session: then the peer goes silent without closing (never reads again).
    let _dead = FakePeer::connect(node.addr(), SEED, "rebooted");
    std::thread::sleep(Duration::from_millis(200));
    // The same peer dials again, and sends a message at once.
    let started = Instant::now();
    let mut again = FakePeer::connect(node.addr(), SEED, "rebooted");
    let id = MsgId([0x42; 16]);
    again
        .send(&Inner::Mess(Mess {
            id,
            ts: 1_700_000_000_000,
            text: "I am back".into(),
        }))
        .unwrap();
    let mut acked = false;
    for _ in 0..200 {
        match again.recv() {
            Some(Inner::Ackn(ids)) if ids.contains(&id) => {
                acked = true;
                break;
            }
            Some(_) => {}
            None => break, // closed (the lock-out) or the 10 s read timeout
        }
    }
    let took = started.elapsed();
    assert!(
        acked,
        "the new session was refused or its message never acknowledged"
    );
    assert!(took < Duration::from_secs(8), "took {took:?}");
    eprintln!("back in {took:?}");
}
