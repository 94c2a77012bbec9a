//! Forged address announcements (issue 20, point 7): an `ADDR` is a hint like a beacon.
//! A peer that floods the node with announcements naming someone else's addresses (and
//! addresses no node may dial) cannot make it dial any of them more often than the
//! dialer's limits allow: nothing while the peer is online, then, once it is offline,
//! one dial per second for that peer at most and a backoff per address (1 s, 2 s, 4 s …).
//!
//! On loopback (the fake peer's session is a loopback one, so loopback addresses are
//! allowed in its announcements, which is what lets the test count the dials).

mod support;

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use purr::peer::addrs::{AddrKind, Addrs, Announced};
use purr::peer::inner::{Inner, Mess, MsgId};
use support::fake_peer::{id_hex, FakePeer};
use support::Node;

/// Addresses the forger names: the most one `ADDR` carries.
const PORTS: usize = 16;
/// How long the dials are counted after the forger went away.
const COUNT_FOR: Duration = Duration::from_secs(12);

/// Listeners on 127.0.0.1 that count the connections each one accepts and close them at
/// once (a dial then fails quickly: the worst case for backoff), until `stop`.
struct Counters {
    ports: Vec<u16>,
    counts: Arc<Mutex<Vec<usize>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Counters {
    fn start(n: usize) -> Counters {
        let listeners: Vec<TcpListener> = (0..n)
            .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind"))
            .collect();
        let ports = listeners
            .iter()
            .map(|l| l.local_addr().expect("addr").port())
            .collect();
        let counts = Arc::new(Mutex::new(vec![0; n]));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (counts, stop) = (counts.clone(), stop.clone());
            std::thread::spawn(move || {
                for l in &listeners {
                    l.set_nonblocking(true).expect("nonblocking");
                }
                // Bounded by `stop`, which the test sets (or its drop).
                while !stop.load(Ordering::Acquire) {
                    for (i, l) in listeners.iter().enumerate() {
                        while let Ok((s, _)) = l.accept() {
                            drop(s);
                            counts.lock().expect("counts")[i] += 1;
                        }
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        };
        Counters {
            ports,
            counts,
            stop,
            thread: Some(thread),
        }
    }

    fn counts(&self) -> Vec<usize> {
        self.counts.lock().expect("counts").clone()
    }
}

impl Drop for Counters {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn ann(addr: String, kind: AddrKind) -> Announced {
    Announced {
        addr: addr.parse().expect("address"),
        kind,
    }
}

#[test]
fn a_flood_of_forged_announcements_costs_each_address_no_more_than_the_dial_limits() {
    let node = Node::start();
    let counters = Counters::start(PORTS);
    let seed = [0x5a; 32];
    let forger_id = id_hex(seed);
    let mut forger = FakePeer::connect(node.addr(), seed, "forger");
    // A message makes it a contact: the node redials contacts, not strangers.
    forger
        .send(&Inner::Mess(Mess {
            id: MsgId([0x77; 16]),
            ts: 1,
            text: "hello".into(),
        }))
        .expect("send");

    // 500 announcements in about a second: each names every counting port, in a new
    // order, with addresses no node may dial mixed in (if they were dialled, 0.0.0.0
    // and :: would reach the counters on 127.0.0.1).
    let start = Instant::now();
    for round in 0..500usize {
        let mut addrs: Vec<Announced> = (0..PORTS)
            .map(|i| {
                let port = counters.ports[(i + round) % PORTS];
                ann(format!("127.0.0.1:{port}"), AddrKind::Lan)
            })
            .collect();
        let p = counters.ports[round % PORTS];
        addrs.splice(
            0..0,
            [
                ann(format!("0.0.0.0:{p}"), AddrKind::Lan),
                ann(format!("[::]:{p}"), AddrKind::Vpn),
                ann(format!("224.0.0.1:{p}"), AddrKind::Lan),
                ann(format!("255.255.255.255:{p}"), AddrKind::Lan),
            ],
        );
        // The node keeps the first 16 of a longer list (the rest is cut while parsing).
        forger
            .send(&Inner::Addr(Addrs { addrs }))
            .expect("the node takes announcements");
        std::thread::sleep(Duration::from_millis(2));
    }
    eprintln!("500 ADDRs sent in {:?}", start.elapsed());
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        node.sees_online(&forger_id),
        "the session survives a flood of well-formed announcements"
    );
    assert_eq!(
        counters.counts().iter().sum::<usize>(),
        0,
        "nothing is dialled while the peer is online"
    );
    // The announced addresses are hints the node kept, with their source.
    let diag = node.api("diag");
    let contact = diag["contacts"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["id"] == forger_id.as_str()).cloned())
        .expect("the forger in the diag");
    let announced: Vec<&str> = contact["addrs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["source"] == "announced")
        .filter_map(|a| a["addr"].as_str())
        .collect();
    assert!(!announced.is_empty(), "{contact}");
    assert!(
        announced.iter().all(|a| a.starts_with("127.0.0.1:")),
        "only dialable addresses are kept: {announced:?}"
    );

    // The forger goes; the node redials its contact at everything it was told.
    drop(forger);
    assert!(support::eventually(Duration::from_secs(5), || !node.sees_online(&forger_id)));
    let gone = Instant::now();
    std::thread::sleep(COUNT_FOR);
    let counts = counters.counts();
    let total: usize = counts.iter().sum();
    let secs = gone.elapsed().as_secs_f64();
    eprintln!("dials in {secs:.1} s after the forger left: {counts:?} (total {total})");
    assert!(total >= 1, "the announcements were used at all: {counts:?}");
    // One dial a second for this peer at most (one dial per id at a time, one start per
    // tick), whatever it announced ...
    assert!(
        total as f64 <= secs + 2.0,
        "{total} dials in {secs:.1} s: {counts:?}"
    );
    // ... and each address backs off like any other: 0, ~2, ~6 s (± 20 %), so at most 4
    // in 12 s (5 is what the beacon flood test allows an address in 10 s).
    let most = counts.iter().copied().max().unwrap_or(0);
    assert!(most <= 4, "one address dialled {most} times: {counts:?}");
    assert!(node.api("me")["id"].is_string(), "the node still answers");
}
