//! A node that starts in an office where everyone is a stranger is told of the others
//! at once: each node that hears a new id's beacon answers it with its own beacon by
//! unicast (`discovery::Discovery::greet`, within the unicast answer limits), so the
//! newcomer does not wait for each desk's next beacon. Since strangers are only `nearby`
//! (issue 21: no session, so no `LIST` tells the newcomer of anyone), that wait was up to
//! a whole `--beacon-interval`.
//!
//! Two nodes on a private LAN of network namespaces, beacons every 30 s: A runs, then B
//! starts; B must list A within a few seconds, long before A's next beacon. Needs root
//! and `ip`; skips otherwise.

mod support;

use std::time::{Duration, Instant};

use support::eventually;
use support::lan::{Host, Lan};
use support::Node;

/// Far longer than the test waits, so only an answer can tell B of A in time.
const INTERVAL_S: u64 = 30;

fn node(h: &Host) -> Node {
    Node::builder()
        .netns(&h.ns.name)
        .discovery()
        .arg("--beacon-interval")
        .arg(INTERVAL_S.to_string())
        .start()
}

fn lists(h: &Host, node: &Node, other: &Node) -> bool {
    h.peers(node)
        .unwrap_or_default()
        .iter()
        .any(|p| p["id"] == other.id.as_str())
}

#[test]
fn a_node_that_starts_lists_the_others_before_their_next_beacon() {
    require_netns!();
    let lan = Lan::builder(2).ipv4_only().build();
    let (ha, hb) = (&lan.hosts[0], &lan.hosts[1]);
    let a = node(ha);
    // A's beacon at its start has gone out to an empty LAN.
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    let b = node(hb);
    let a_lists_b = eventually(Duration::from_secs(5), || lists(ha, &a, &b));
    assert!(a_lists_b, "A did not hear B's first beacon");
    let b_lists_a = eventually(Duration::from_secs(5), || lists(hb, &b, &a));
    let took = started.elapsed();
    eprintln!("B listed A {took:?} after B was spawned (A's beacons every {INTERVAL_S} s)");
    assert!(
        b_lists_a,
        "B does not list A {took:?} after its start: it waits for A's next beacon"
    );
    drop((a, b));
}
