//! SPEC §7 `LIST` limits against a stranger on the LAN (issue "Hardening II", points 1,
//! 5 and 6): a node that met many minted identities never lists them (so it never sends
//! a list its honest peers close on), an over-long list is cut rather than fatal, list
//! entries never make us dial unspecified addresses, and an honest list longer than the
//! dial cap is dialled in full.

mod support;

use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use purr::peer::inner::{Inner, ListEntry, Mess, MsgId, MAX_LIST_ENTRIES};
use support::fake_peer::FakePeer;
use support::{eventually, Node};

/// A distinct identity seed per number.
fn seed(n: u32) -> [u8; 32] {
    let mut s = [0x5e; 32];
    s[..4].copy_from_slice(&n.to_be_bytes());
    s
}

/// Reads records until a `LIST` arrives (bounded by count and the 10 s read timeout);
/// returns its JSON body.
fn first_list(peer: &mut FakePeer) -> serde_json::Value {
    for _ in 0..64 {
        let plain = peer
            .recv_plain()
            .expect("the node sends a LIST and keeps the session");
        if let Some(body) = plain.strip_prefix(b"LIST") {
            return serde_json::from_slice(body).expect("LIST body is JSON");
        }
    }
    panic!("no LIST among the first 64 records");
}

#[test]
fn a_node_that_met_many_strangers_never_lists_them() {
    // Every identity is let in (the rate of new strangers per network is a separate
    // defence), so the table of strangers is full of them.
    let node = Node::builder()
        .arg("--strangers-per-minute")
        .arg("1000000")
        .start();
    // More strangers than a LIST may hold: each authenticates once and leaves, as the
    // attacker's minted identities did. Two threads: the handshakes are CPU-bound.
    let strangers = MAX_LIST_ENTRIES as u32 + 76;
    let started = Instant::now();
    let addr = node.addr();
    let workers: Vec<_> = (0..2u32)
        .map(|w| {
            std::thread::spawn(move || {
                for n in (w..strangers).step_by(2) {
                    drop(FakePeer::connect(addr, seed(n), "stranger"));
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("minting thread");
    }
    eprintln!("{strangers} identities minted in {:?}", started.elapsed());
    // Strangers are bounded (256 in memory): the node has taken the flood in once the
    // newest of them is listed offline.
    let last = support::fake_peer::id_hex(seed(strangers - 1));
    assert!(
        eventually(Duration::from_secs(20), || node
            .peers()
            .iter()
            .any(|p| p["id"] == last && p["online"] == false)),
        "the node did not see every stranger"
    );

    // A newcomer's first LIST names none of them (they only ever handshook) ...
    let mut honest = FakePeer::connect(node.addr(), [0xa1; 32], "honest");
    let list = first_list(&mut honest);
    let entries = list.as_array().expect("LIST is an array");
    assert!(
        entries.len() <= MAX_LIST_ENTRIES,
        "{} entries",
        entries.len()
    );
    assert!(entries.is_empty(), "strangers listed: {}", entries.len());

    // ... while a stranger online now is listed to the next newcomer (meshes still form).
    let mut other = FakePeer::connect(node.addr(), [0xa2; 32], "other");
    let list = first_list(&mut other);
    let ids: Vec<&str> = list
        .as_array()
        .expect("LIST is an array")
        .iter()
        .filter_map(|e| e["id"].as_str())
        .collect();
    assert_eq!(ids, [support::fake_peer::id_hex([0xa1; 32])]);
}

fn mess(id: u8) -> Inner {
    Inner::Mess(Mess {
        id: MsgId([id; 16]),
        ts: 1_700_000_000_000,
        text: "still here".into(),
    })
}

/// Reads until an ACKN for `id` (bounded); false if the node closed first.
fn acked(peer: &mut FakePeer, id: u8) -> bool {
    for _ in 0..256 {
        match peer.recv() {
            Some(Inner::Ackn(ids)) if ids.contains(&MsgId([id; 16])) => return true,
            Some(_) => {}
            None => return false,
        }
    }
    false
}

#[test]
fn an_over_long_list_is_cut_and_the_session_kept() {
    let node = Node::start();
    let mut peer = FakePeer::connect(node.addr(), [0xb1; 32], "chatty");
    // Entries whose address the node never dials, so the test dials nothing.
    let entries: Vec<ListEntry> = (0..MAX_LIST_ENTRIES as u32 + 476)
        .map(|n| ListEntry {
            id: seed(n),
            addrs: vec!["0.0.0.0:9".parse().unwrap()],
            name: format!("n{n}"),
            kinds: Vec::new(),
        })
        .collect();
    let mut plain = b"LIST".to_vec();
    plain.extend(serde_json::to_vec(&entries).unwrap());
    let mut wire = Vec::new();
    peer.session.seal(&plain, &mut wire).unwrap();
    std::io::Write::write_all(&mut peer.stream, &wire).unwrap();
    peer.send(&mess(1)).unwrap();
    assert!(acked(&mut peer, 1), "the node closed over a long LIST");
}

/// Listeners that close every connection they accept, counting them.
struct Probe {
    listener: TcpListener,
    accepted: usize,
}

impl Probe {
    fn bind(at: &str) -> Probe {
        let listener = TcpListener::bind(at).unwrap();
        listener.set_nonblocking(true).unwrap();
        Probe {
            listener,
            accepted: 0,
        }
    }

    fn port(&self) -> u16 {
        self.listener.local_addr().unwrap().port()
    }

    fn poll(&mut self) {
        while let Ok((s, _)) = self.listener.accept() {
            drop(s);
            self.accepted += 1;
        }
    }
}

#[test]
fn list_hints_skip_unspecified_addresses_and_are_all_dialled_within_the_cap() {
    let node = Node::start();
    let mut peer = FakePeer::connect(node.addr(), [0xc1; 32], "lister");
    // Twenty honest entries on loopback (allowed: the lister is on loopback too) ...
    let mut honest: Vec<Probe> = (0..20).map(|_| Probe::bind("127.0.0.1:0")).collect();
    // ... and two that name "any address", which a connect() would turn into ours.
    let mut forbidden = [Probe::bind("127.0.0.1:0"), Probe::bind("[::1]:0")];
    let mut entries: Vec<ListEntry> = honest
        .iter()
        .enumerate()
        .map(|(i, p)| ListEntry {
            id: seed(1000 + i as u32),
            addrs: vec![SocketAddr::from(([127, 0, 0, 1], p.port()))],
            name: format!("h{i}"),
            kinds: Vec::new(),
        })
        .collect();
    for (i, (p, any)) in forbidden.iter().zip(["0.0.0.0", "[::]"]).enumerate() {
        entries.insert(
            i,
            ListEntry {
                id: seed(2000 + i as u32),
                addrs: vec![format!("{any}:{}", p.port()).parse().unwrap()],
                name: format!("f{i}"),
                kinds: Vec::new(),
            },
        );
    }
    peer.send(&Inner::List(entries)).unwrap();

    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline && honest.iter().any(|p| p.accepted == 0) {
        honest.iter_mut().for_each(Probe::poll);
        forbidden.iter_mut().for_each(Probe::poll);
        std::thread::sleep(Duration::from_millis(20));
    }
    let dialled = honest.iter().filter(|p| p.accepted > 0).count();
    assert_eq!(
        dialled, 20,
        "only {dialled} of 20 listed peers were dialled"
    );
    // Give a wrong dial of the forbidden ones time to show.
    std::thread::sleep(Duration::from_millis(500));
    forbidden.iter_mut().for_each(Probe::poll);
    assert_eq!(
        forbidden.iter().map(|p| p.accepted).sum::<usize>(),
        0,
        "an unspecified address from a LIST was dialled"
    );
}
