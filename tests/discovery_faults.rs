//! LAN discovery when things are not as they should be (SPEC §4 and the issue's "never
//! fatal"): `--no-discovery` sends and hears nothing, a host with no LAN interface, no
//! multicast route, a cable pulled and plugged again, the UDP port held by another
//! program. In each the node runs on, warns once per problem, and finds peers where it can.
//!
//! Every node here runs inside a namespace the test made. Needs root and `ip`.

mod support;

use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use socket2::{Domain, InterfaceIndexOrAddress, Protocol, Socket, Type};
use support::lan::{
    discovery_warnings, start_together, stop_and_log, wait_for_listing, wait_for_mesh, Host, Lan,
    GROUP_V4, GROUP_V6, UDP_PORT,
};
use support::{eventually, Node};

/// One LAN at a time: the timings below are meant for a 2-core machine, not for two
/// LANs fighting over it.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Listens for beacons in `host`'s namespace (its own sockets, not purr's code) for
/// `how_long`; returns what arrived. Returns once it listens.
fn tap(host: &Host, how_long: Duration) -> std::thread::JoinHandle<Vec<(SocketAddr, Vec<u8>)>> {
    let index = host.ifindex();
    let has_v4 = host.v4.is_some();
    let (ready_tx, ready) = std::sync::mpsc::channel();
    let handle = host.ns.spawn(move || {
        let mut socks = Vec::new();
        if has_v4 {
            let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).unwrap();
            s.set_reuse_address(true).unwrap();
            s.set_reuse_port(true).unwrap();
            s.bind(&SocketAddrV4::new(GROUP_V4, UDP_PORT).into())
                .unwrap();
            s.join_multicast_v4_n(&GROUP_V4, &InterfaceIndexOrAddress::Index(index))
                .unwrap();
            socks.push(UdpSocket::from(s));
        }
        let s = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP)).unwrap();
        s.set_only_v6(true).unwrap();
        s.set_reuse_address(true).unwrap();
        s.set_reuse_port(true).unwrap();
        s.bind(&SocketAddrV6::new(std::net::Ipv6Addr::UNSPECIFIED, UDP_PORT, 0, 0).into())
            .unwrap();
        if s.join_multicast_v6(&GROUP_V6, index).is_ok() {
            socks.push(UdpSocket::from(s));
        }
        for s in &socks {
            s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        }
        ready_tx.send(()).unwrap();
        let end = Instant::now() + how_long;
        let mut got = Vec::new();
        let mut buf = [0u8; 2048];
        while Instant::now() < end {
            for s in &socks {
                if let Ok((n, from)) = s.recv_from(&mut buf) {
                    got.push((from, buf[..n].to_vec()));
                }
            }
        }
        got
    });
    ready
        .recv_timeout(Duration::from_secs(10))
        .expect("tap listening");
    handle
}

/// UDP sockets owned by the process (from /proc, like `Node::established`).
fn udp_sockets(pid: u32) -> usize {
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .map(|l| l.to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    let mut n = 0;
    for table in ["udp", "udp6"] {
        let text = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap_or_default();
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.len() > 9 && inodes.contains(&format!("socket:[{}]", cols[9])) {
                n += 1;
            }
        }
    }
    n
}

#[test]
fn a_no_discovery_node_is_not_found_and_sends_no_beacon() {
    require_netns!();
    let _serial = serial();
    let lan = Lan::builder(2).build();
    let (ha, hc) = (&lan.hosts[0], &lan.hosts[1]);
    // The tap is in the quiet node's own namespace: multicast loop would bring its
    // beacons back there, and beacons from the other host arrive there too.
    let heard = tap(hc, Duration::from_secs(4));
    let quiet = Node::builder()
        .netns(&hc.ns.name)
        .arg("--beacon-interval")
        .arg("1")
        .start();
    let a = ha.node().start();
    let heard = heard.join().expect("tap");
    let from = |id: &str| {
        heard
            .iter()
            .filter(|(_, p)| p.windows(id.len()).any(|w| w == id.as_bytes()))
            .count()
    };
    assert!(from(&a.id) >= 2, "the tap works: it heard the other node");
    assert_eq!(from(&quiet.id), 0, "no beacon from the --no-discovery node");
    assert_eq!(
        udp_sockets(quiet.pid),
        0,
        "--no-discovery opens no UDP socket"
    );
    assert!(
        udp_sockets(a.pid) >= 2,
        "a discovering node has its sockets"
    );
    assert!(ha.peers(&a).unwrap_or_default().is_empty(), "not found");
    assert!(hc.peers(&quiet).unwrap_or_default().is_empty());
}

#[test]
fn a_host_without_a_lan_interface_runs_the_node_with_one_warning() {
    require_netns!();
    let _serial = serial();
    let ns = support::netns::Netns::new("alone");
    let node = Node::builder()
        .netns(&ns.name)
        .discovery()
        .arg("--beacon-interval")
        .arg("1")
        .start();
    std::thread::sleep(Duration::from_secs(3));
    let port = node.port;
    let alive = ns.run(move || {
        std::net::TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], port))).is_ok()
    });
    assert!(alive, "the node still accepts connections");
    let log = stop_and_log(node);
    let warnings = log
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("no interface is up"))
        .count();
    assert_eq!(warnings, 1, "one warning, not one per beacon:\n{log}");
}

#[test]
fn without_a_multicast_route_discovery_still_works() {
    require_netns!();
    let _serial = serial();
    // IPv4 only, no 224.0.0.0/4 route and no default route: the seed's original exited
    // here. IP_MULTICAST_IF names the interface, so no route is needed at all.
    let lan = Lan::builder(2).ipv4_only().no_multicast_route().build();
    let nodes = start_together(lan.hosts.iter().map(Host::node).collect());
    let hosts: Vec<&Host> = lan.hosts.iter().collect();
    wait_for_listing(
        &hosts,
        &nodes.iter().collect::<Vec<_>>(),
        Duration::from_secs(10),
    );
}

#[test]
fn a_pulled_cable_costs_one_warning_each_and_a_new_one_is_used() {
    require_netns!();
    let _serial = serial();
    let mut lan = Lan::builder(2).build();
    let b = lan.hosts[0].node().start();
    std::thread::sleep(Duration::from_millis(1500));
    lan.unplug(0);
    // Three beacons with nothing to send them on.
    std::thread::sleep(Duration::from_millis(3500));
    assert!(lan.hosts[0].peers(&b).is_some(), "the node runs on");
    lan.plug(0);
    let c = lan.hosts[1].node().start();
    let hosts: Vec<&Host> = lan.hosts.iter().collect();
    let took = wait_for_listing(&hosts, &[&b, &c], Duration::from_secs(10));
    eprintln!("found on the new interface {took:?} after the new peer started");
    std::thread::sleep(Duration::from_millis(1500));
    let log = stop_and_log(b);
    let heard = format!("beacon from {}", &c.id[..8]);
    assert!(log.contains(&heard), "it listens on the new interface too");
    let warnings = discovery_warnings(&log);
    eprintln!("warnings: {warnings:?}");
    assert!(!warnings.is_empty(), "the lost interface was reported");
    assert!(
        warnings.iter().all(|(_, n)| *n == 1),
        "each problem once, not once per beacon: {warnings:?}"
    );
}

#[test]
fn an_interface_taken_down_and_up_again_is_used_again() {
    require_netns!();
    let _serial = serial();
    let lan = Lan::builder(2).build();
    let b = lan.hosts[0].node().start();
    std::thread::sleep(Duration::from_millis(1500));
    lan.set_up(0, false);
    std::thread::sleep(Duration::from_millis(3500));
    lan.set_up(0, true);
    let c = lan.hosts[1].node().start();
    let hosts: Vec<&Host> = lan.hosts.iter().collect();
    wait_for_listing(&hosts, &[&b, &c], Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(1500));
    let log = stop_and_log(b);
    let heard = format!("beacon from {}", &c.id[..8]);
    assert!(
        log.contains(&heard),
        "it listens again after the interface came back"
    );
    let warnings = discovery_warnings(&log);
    eprintln!("warnings: {warnings:?}");
    assert!(
        warnings.iter().all(|(_, n)| *n == 1),
        "each problem once, not once per beacon: {warnings:?}"
    );
}

#[test]
fn a_port_held_without_reuseport_costs_a_warning_and_beacons_still_go_out() {
    require_netns!();
    let _serial = serial();
    let lan = Lan::builder(2).build();
    let (ha, hb) = (&lan.hosts[0], &lan.hosts[1]);
    // Another program in host 0 holds UDP 35035 on both families without SO_REUSEPORT:
    // the node there can send beacons but not hear any.
    let (ready_tx, ready) = std::sync::mpsc::channel();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let squatter = ha.ns.spawn(move || {
        let v4 = UdpSocket::bind(SocketAddr::from(([0, 0, 0, 0], UDP_PORT))).unwrap();
        let v6 = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP)).unwrap();
        v6.set_only_v6(true).unwrap();
        v6.bind(&SocketAddrV6::new(std::net::Ipv6Addr::UNSPECIFIED, UDP_PORT, 0, 0).into())
            .unwrap();
        ready_tx.send(()).unwrap();
        let _ = released.recv_timeout(Duration::from_secs(30));
        drop((v4, v6));
    });
    ready
        .recv_timeout(Duration::from_secs(10))
        .expect("squatter");
    let a = ha.node().start();
    let b = hb.node().start();
    // The deaf node is found by the other one, which hears its beacons (a stranger:
    // nearby) and dials it when its user opens the conversation.
    let heard = || {
        hb.peers(&b)
            .unwrap_or_default()
            .iter()
            .any(|p| p["id"] == a.id.as_str() && p["presence"] == "nearby")
    };
    assert!(eventually(Duration::from_secs(10), heard), "a not heard");
    let opened = hb.api(&b, "POST", &format!("peers/{}/connect", a.id), None);
    assert!(opened.is_some_and(|(s, _)| s == 202), "connect refused");
    wait_for_mesh(&[ha, hb], &[&a, &b], Duration::from_secs(10));
    std::thread::sleep(Duration::from_secs(2));
    let _ = release.send(());
    squatter.join().expect("squatter");
    let warnings = discovery_warnings(&stop_and_log(a));
    eprintln!("warnings: {warnings:?}");
    for family in ["IPv4", "IPv6"] {
        let n = warnings
            .iter()
            .filter(|(w, _)| w.contains(&format!("cannot listen on UDP port 35035 ({family})")))
            .map(|(_, n)| *n)
            .sum::<usize>();
        assert_eq!(n, 1, "{family}: {warnings:?}");
    }
}

#[test]
fn a_node_listening_on_loopback_only_does_not_beacon() {
    require_netns!();
    let _serial = serial();
    let lan = Lan::builder(1).build();
    // A beacon would announce a port that nobody on the LAN can reach.
    let node = lan.hosts[0].node().arg("--listen").arg("127.0.0.1").start();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(udp_sockets(node.pid), 0, "no discovery socket");
}
