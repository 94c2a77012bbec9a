//! Forged beacons (SPEC §4: "a forged beacon cannot make the node hammer an address"):
//! a thousand beacons a second with fresh ids, all pointing at one address, cost that
//! address a handful of connections; malformed ones cost nothing; the node stays alive
//! and still finds a real peer.
//!
//! Every node here runs inside a namespace the test made. Needs root and `ip`.

mod support;

use std::net::{SocketAddr, SocketAddrV4, TcpListener, UdpSocket};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};
use support::eventually;
use support::lan::{wait_for_mesh, Host, Lan, GROUP_V4, UDP_PORT};

/// Forged beacons from the forger's namespace: a valid one with a fresh id every
/// millisecond pointing at `port`, and every tenth datagram malformed pointing at
/// `bad_port`.
fn forge(forger: &Host, port: u16, bad_port: u16, how_long: Duration) -> usize {
    let via = forger.v4.expect("an IPv4 LAN");
    forger.ns.run(move || {
        let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).unwrap();
        s.set_multicast_if_v4(&via).unwrap();
        s.set_multicast_ttl_v4(1).unwrap();
        let s = UdpSocket::from(s);
        let group = SocketAddrV4::new(GROUP_V4, UDP_PORT);
        let hex = |seed: u64| -> String {
            // xorshift: ids that differ in every byte, different each run.
            let mut x = seed | 1;
            (0..32)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    format!("{:02x}", x as u8)
                })
                .collect()
        };
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(7);
        let start = Instant::now();
        let mut sent = 0;
        for i in 0u64.. {
            let due = start + Duration::from_millis(i);
            if due > start + how_long {
                break;
            }
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let id = hex(seed.wrapping_add(i.wrapping_mul(0x9e37_79b9_7f4a_7c15)));
            let payload: Vec<u8> = match i % 10 {
                0 => format!("meow:{}:{bad_port}", id.to_uppercase()).into(),
                1 => format!("meow:{id}:{bad_port}\n").into(),
                2 => format!("meow:{id}:0{bad_port}").into(),
                3 => format!("meow:{id}:+{bad_port}").into(),
                4 => {
                    let mut v = format!("meow:{id}:{bad_port}").into_bytes();
                    v.resize(1500, b' ');
                    v
                }
                5 => {
                    let mut v = format!("meow:{id}:{bad_port}").into_bytes();
                    v[20] = 0xff;
                    v
                }
                _ => format!("meow:{id}:{port}").into(),
            };
            if s.send_to(&payload, group).is_ok() {
                sent += 1;
            }
        }
        sent
    })
}

/// Counts TCP connections accepted on `port` in `host`'s namespace for `how_long`,
/// closing each at once (so dials fail fast: the worst case for backoff).
fn count_connections(host: &Host, port: u16, how_long: Duration) -> std::thread::JoinHandle<usize> {
    let (ready_tx, ready) = std::sync::mpsc::channel();
    let handle = host.ns.spawn(move || {
        let l = TcpListener::bind(SocketAddr::from(([0, 0, 0, 0], port))).unwrap();
        l.set_nonblocking(true).unwrap();
        ready_tx.send(()).unwrap();
        let end = Instant::now() + how_long;
        let mut n = 0;
        while Instant::now() < end {
            match l.accept() {
                Ok(_) => n += 1,
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
        n
    });
    ready
        .recv_timeout(Duration::from_secs(10))
        .expect("counter listening");
    handle
}

#[test]
fn forged_beacons_cannot_make_the_node_hammer_an_address() {
    require_netns!();
    let lan = Lan::builder(3).ipv4_only().build();
    let (ha, forger, hb) = (&lan.hosts[0], &lan.hosts[1], &lan.hosts[2]);
    let a = ha.node().start();
    let (port, bad_port) = (4242, 4343);
    let counted = count_connections(forger, port, Duration::from_secs(10));
    let counted_bad = count_connections(forger, bad_port, Duration::from_secs(10));
    let start = Instant::now();
    let sent = forge(forger, port, bad_port, Duration::from_millis(2500));
    assert!(sent >= 2000, "the flood went out: {sent} datagrams");
    assert!(
        ha.peers(&a).is_some(),
        "the node answers right after the flood"
    );
    let dials = counted.join().expect("counter");
    let bad_dials = counted_bad.join().expect("counter");
    eprintln!(
        "{sent} forged datagrams in {:?} → {dials} connections to the target in 10 s",
        Duration::from_millis(2500)
    );
    // Issue 21: a beacon from a stranger is never dialled, so forged ones cost no
    // connection at all (before, at most one per backoff period).
    assert_eq!(dials, 0, "{dials} connections in 10 s");
    assert_eq!(bad_dials, 0, "malformed beacons are ignored");
    assert!(start.elapsed() < Duration::from_secs(30));
    // The forged ids are heard (listed nearby, strangers, a bounded list), and none
    // authenticated: none is online.
    let listed = ha.peers(&a).unwrap_or_default();
    assert!(!listed.is_empty(), "the forged beacons were heard at all");
    assert!(listed.len() <= 32, "{} listed", listed.len());
    assert!(
        listed
            .iter()
            .all(|p| p["presence"] == "nearby" && p["stranger"] == true && p["online"] == false),
        "{listed:?}"
    );
    // The node still discovers a real peer; the forged ids go once their beacons stop.
    let b = hb.node().start();
    let only_b = || {
        let peers = ha.peers(&a).unwrap_or_default();
        peers.len() == 1 && peers[0]["id"] == b.id.as_str()
    };
    assert!(
        eventually(Duration::from_secs(20), only_b),
        "only the real peer: {:?}",
        ha.peers(&a)
    );
    // And a session with it opens on demand.
    let opened = ha.api(&a, "POST", &format!("peers/{}/connect", b.id), None);
    assert!(opened.is_some_and(|(s, _)| s == 202), "connect refused");
    wait_for_mesh(&[ha, hb], &[&a, &b], Duration::from_secs(10));
}
