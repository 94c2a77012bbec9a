//! A LAN outage of a few seconds (a switch restarting, a cable moved): the connection
//! between two nodes stays open and what was sent meanwhile waits in it. It must arrive
//! within about a second of the link coming back, not at TCP's next retransmission,
//! which Linux backs off to seconds (to two minutes) while the outage lasts
//! (`conn::tcp`, docs/ARCHITECTURE.md). Needs root and `ip`; skips otherwise.

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::group_lan::{befriend, wait_listed, wait_mesh, Member, WAIT};
use support::lan::Lan;

/// How long the LAN is split: long enough that an uncapped backoff waits ~6 s between
/// its last two tries.
const OUTAGE: Duration = Duration::from_secs(8);
/// What the first message after the heal may take (one capped retransmission interval,
/// and room for a busy 2-core machine).
const AFTER_HEAL: Duration = Duration::from_millis(2500);

#[test]
fn a_message_sent_during_a_lan_outage_arrives_within_seconds_of_the_heal() {
    require_netns!();
    let lan = Lan::builder(2).ipv4_only().build();
    let dir = tempfile::tempdir().expect("tempdir");
    let a = Member::start(&lan, 0, "a", dir.path().join("a"));
    let b = Member::start(&lan, 1, "b", dir.path().join("b"));
    // Contacts keep a session (issue 21): they talk first.
    wait_listed(&lan, &[&a, &b], WAIT);
    befriend(&a, &b);
    wait_mesh(&lan, &[&a, &b], WAIT);
    let mut screen = b.ws();

    lan.split(&[1]);
    std::thread::sleep(Duration::from_millis(200));
    a.post(
        "messages",
        &json!({"to": b.id, "text": "sent during the outage"}),
        201,
    );
    std::thread::sleep(OUTAGE);
    lan.heal();
    let healed = Instant::now();

    // Bounded: at most 256 events, each read within the socket's 10 s timeout.
    let mut arrived = None;
    for _ in 0..256 {
        let Ok(v) = screen.try_recv() else { break };
        if v["cmd"] == "message" && v["message"]["text"] == "sent during the outage" {
            arrived = Some(healed.elapsed());
            break;
        }
    }
    let took = arrived.expect("the message never reached B's screen");
    eprintln!("delivered {took:?} after the heal (outage {OUTAGE:?})");
    assert!(
        took <= AFTER_HEAL,
        "the message reached B {took:?} after the LAN was back"
    );
}
