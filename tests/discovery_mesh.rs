//! LAN discovery (SPEC §4) between real nodes on private LANs of network namespaces
//! (`support::lan`): a full mesh of four, a mesh on IPv6 alone, nodes sharing one host,
//! two nodes started at the same instant (twenty times), and late joiners, timed.
//!
//! Every node here runs inside a namespace the test made; beacons never touch the
//! machine's own network. Needs root and `ip`; skips otherwise.

mod support;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use support::eventually;
use support::lan::{median, start_together, wait_for_mesh, Host, Lan};

/// One LAN at a time: the timings below are meant for a 2-core machine, not for two
/// LANs fighting over it.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn four_nodes_on_a_lan_form_a_full_mesh_within_10_s() {
    require_netns!();
    let _serial = serial();
    let lan = Lan::builder(4).build();
    let nodes = start_together(lan.hosts.iter().map(Host::node).collect());
    let hosts: Vec<&Host> = lan.hosts.iter().collect();
    let took = wait_for_mesh(
        &hosts,
        &nodes.iter().collect::<Vec<_>>(),
        Duration::from_secs(10),
    );
    eprintln!("4-node mesh (IPv4 + IPv6) in {took:?}");
}

#[test]
fn an_ipv6_only_lan_meshes_over_link_local_addresses() {
    require_netns!();
    let _serial = serial();
    let lan = Lan::builder(3).ipv6_only().build();
    assert!(lan.hosts.iter().all(|h| h.v4.is_none()));
    let nodes = start_together(lan.hosts.iter().map(Host::node).collect());
    let hosts: Vec<&Host> = lan.hosts.iter().collect();
    let took = wait_for_mesh(
        &hosts,
        &nodes.iter().collect::<Vec<_>>(),
        Duration::from_secs(10),
    );
    eprintln!("3-node IPv6-only mesh in {took:?}");
    // The peers were reached on link-local addresses, so the scope id made it through.
    let peers = lan.hosts[0].peers(&nodes[0]).unwrap_or_default();
    assert!(
        peers.iter().all(|p| p["online"] == true),
        "all online: {peers:?}"
    );
}

#[test]
fn two_nodes_started_at_the_same_instant_connect_20_times_out_of_20() {
    require_netns!();
    let _serial = serial();
    let lan = Lan::builder(2).build();
    let (ha, hb) = (&lan.hosts[0], &lan.hosts[1]);
    let mut times = Vec::new();
    for round in 0..20 {
        let nodes = start_together(vec![ha.node(), hb.node()]);
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

/// Starts a node in `ha`, then 10 times a second one in `hb`; returns the times from the
/// second node's spawn until both list each other online.
fn time_late_joiners(ha: &Host, hb: &Host) -> Vec<Duration> {
    let a = ha.node().start();
    let mut times = Vec::new();
    for _ in 0..10 {
        let start = Instant::now();
        let b = hb.node().start();
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
    let took = wait_for_mesh(
        &[h, h, h],
        &nodes.iter().collect::<Vec<_>>(),
        Duration::from_secs(10),
    );
    eprintln!("3 nodes on one host meshed in {took:?}");
}
