//! LAN discovery (SPEC §4) between real nodes on private LANs of network namespaces
//! (`support::lan`): four nodes that all list each other, a LAN on IPv6 alone, nodes
//! sharing one host, two contacts started at the same instant (twenty times), and late
//! joiners, timed.
//!
//! Since issue 21 strangers are only listed (`nearby`, from their beacons) and contacts
//! keep sessions: a test that needs sessions makes its nodes contacts first (a message
//! between them), and then checks what it checked when every beacon was dialled.
//!
//! Every node here runs inside a namespace the test made; beacons never touch the
//! machine's own network. Needs root and `ip`; skips otherwise.

mod support;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use support::eventually;
use support::lan::{make_contacts, median, start_together, wait_for_listing, wait_for_mesh};
use support::lan::{Host, Lan};

/// One LAN at a time: the timings below are meant for a 2-core machine, not for two
/// LANs fighting over it.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn four_nodes_on_a_lan_all_list_each_other_within_10_s() {
    require_netns!();
    let _serial = serial();
    let lan = Lan::builder(4).build();
    let nodes = start_together(lan.hosts.iter().map(Host::node).collect());
    let hosts: Vec<&Host> = lan.hosts.iter().collect();
    let took = wait_for_listing(
        &hosts,
        &nodes.iter().collect::<Vec<_>>(),
        Duration::from_secs(10),
    );
    eprintln!("4 nodes (IPv4 + IPv6) all list each other in {took:?}");
}

#[test]
fn an_ipv6_only_lan_meshes_over_link_local_addresses() {
    require_netns!();
    let _serial = serial();
    let lan = Lan::builder(3).ipv6_only().build();
    assert!(lan.hosts.iter().all(|h| h.v4.is_none()));
    let nodes = start_together(lan.hosts.iter().map(Host::node).collect());
    let hosts: Vec<&Host> = lan.hosts.iter().collect();
    let took = wait_for_listing(
        &hosts,
        &nodes.iter().collect::<Vec<_>>(),
        Duration::from_secs(10),
    );
    eprintln!("3 nodes on IPv6 alone all list each other in {took:?}");
    // Node 0 talks to both others: sessions to the addresses their beacons came from.
    for i in 1..3 {
        make_contacts(hosts[0], &nodes[0], hosts[i], &nodes[i]);
    }
    // The peers were reached on link-local addresses, so the scope id made it through.
    let peers = lan.hosts[0].peers(&nodes[0]).unwrap_or_default();
    assert!(
        peers.iter().all(|p| p["online"] == true),
        "all online: {peers:?}"
    );
}

#[test]
fn two_contacts_started_at_the_same_instant_connect_20_times_out_of_20() {
    require_netns!();
    let _serial = serial();
    let lan = Lan::builder(2).build();
    let (ha, hb) = (&lan.hosts[0], &lan.hosts[1]);
    // Contacts dial each other's beacons (strangers would only list each other): both
    // dial at once, and SPEC §7's duplicate rule must leave one connection.
    let dirs = tempfile::tempdir().expect("temp dir");
    let (da, db) = (dirs.path().join("a"), dirs.path().join("b"));
    {
        let nodes = start_together(vec![ha.node().data_dir(&da), hb.node().data_dir(&db)]);
        make_contacts(ha, &nodes[0], hb, &nodes[1]);
    }
    let mut times = Vec::new();
    for round in 0..20 {
        let nodes = start_together(vec![ha.node().data_dir(&da), hb.node().data_dir(&db)]);
        let (a, b) = (&nodes[0], &nodes[1]);
        let took = wait_for_mesh(&[ha, hb], &[a, b], Duration::from_secs(10));
        times.push(took);
        // SPEC §7's duplicate rule leaves exactly one connection on each side.
        let one_each = || a.established() == 1 && b.established() == 1;
        assert!(
            eventually(Duration::from_secs(5), one_each),
            "round {round}: {} and {} connections",
            a.established(),
            b.established()
        );
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            one_each(),
            "round {round}: one connection each, and it stays: {} and {}",
            a.established(),
            b.established()
        );
        assert!(ha.online(a).contains(&b.id) && hb.online(b).contains(&a.id));
    }
    eprintln!(
        "20 simultaneous starts: median {:?}, max {:?}",
        median(times.clone()),
        times.iter().max()
    );
}

/// Starts a node in `ha`, then 10 times a second one in `hb` (its contact: the same
/// data dir each time); returns the times from the second node's spawn until both list
/// each other online.
fn time_late_joiners(ha: &Host, hb: &Host) -> Vec<Duration> {
    let a = ha.node().start();
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("b");
    {
        let b = hb.node().data_dir(&db).start();
        make_contacts(ha, &a, hb, &b);
    }
    let mut times = Vec::new();
    for _ in 0..10 {
        let start = Instant::now();
        let b = hb.node().data_dir(&db).start();
        let found = eventually(Duration::from_secs(10), || {
            hb.online(&b).contains(&a.id) && ha.online(&a).contains(&b.id)
        });
        assert!(found, "a node started later is found within 10 s");
        times.push(start.elapsed());
    }
    times
}

#[test]
fn a_node_started_later_is_found_within_a_second_on_ipv4() {
    require_netns!();
    let _serial = serial();
    let lan = Lan::builder(2).ipv4_only().build();
    let times = time_late_joiners(&lan.hosts[0], &lan.hosts[1]);
    let m = median(times.clone());
    eprintln!("IPv4: second node's start → both online: median {m:?} of {times:?}");
    assert!(m < Duration::from_secs(1), "median {m:?}");
}

#[test]
fn a_node_started_later_is_found_within_a_second_on_ipv6() {
    require_netns!();
    let _serial = serial();
    let lan = Lan::builder(2).ipv6_only().build();
    let times = time_late_joiners(&lan.hosts[0], &lan.hosts[1]);
    let m = median(times.clone());
    eprintln!("IPv6: second node's start → both online: median {m:?} of {times:?}");
    assert!(m < Duration::from_secs(1), "median {m:?}");
}

#[test]
fn nodes_on_one_host_find_each_other_through_multicast_loop() {
    require_netns!();
    let _serial = serial();
    let lan = Lan::builder(1).build();
    let h = &lan.hosts[0];
    let nodes = start_together(vec![h.node(), h.node(), h.node()]);
    let took = wait_for_listing(
        &[h, h, h],
        &nodes.iter().collect::<Vec<_>>(),
        Duration::from_secs(10),
    );
    eprintln!("3 nodes on one host all list each other in {took:?}");
}
