//! Address announcements in the state, in memory (issue 20, points 3 and 7): what a
//! peer's `ADDR` leaves behind, at what pace, where its addresses go (the dial log, the
//! `LIST`s to the others, the redial order), and our own: to whom they go, and the links
//! that die with a local address.

use super::*;
use crate::bus::OwnAddr;
use crate::diag::IfaceKind;
use crate::peer::addrs::{AddrKind, Addrs, Announced};

fn ann(addr: &str, kind: AddrKind) -> Announced {
    Announced {
        addr: addr.parse().expect("address"),
        kind,
    }
}

fn addr_msg(addrs: &[Announced]) -> Inner {
    Inner::Addr(Addrs {
        addrs: addrs.to_vec(),
    })
}

fn own(ip: &str, iface: &str, kind: IfaceKind) -> OwnAddr {
    OwnAddr {
        ip: ip.parse().expect("ip"),
        iface: iface.into(),
        kind,
    }
}

/// The `LIST` entries about `about` among `records`, as `addr kind` words.
fn listed(records: &[Inner], about: NodeId) -> Vec<Vec<String>> {
    records
        .iter()
        .filter_map(|r| match r {
            Inner::List(entries) => Some(entries),
            _ => None,
        })
        .flatten()
        .filter(|e| e.id == about)
        .map(|e| {
            e.addrs
                .iter()
                .zip(&e.kinds)
                .map(|(a, k)| format!("{a} {}", k.as_str()))
                .collect()
        })
        .collect()
}

fn announced_of(h: &Harness, n: u8) -> Vec<Announced> {
    h.state
        .peers
        .get(&id(n))
        .map(|c| c.announced.clone())
        .unwrap_or_default()
}

impl Harness {
    /// Peer `n` authenticates on a connection whose local end is `local`.
    fn up_via(&mut self, n: u8, local: &str, now: Instant) -> FakeLink {
        let (up, link) = new_link(n, Role::Responder, &format!("10.0.0.{n}:50000"));
        let up = PeerUp {
            local: Some(local.parse().expect("address")),
            ..up
        };
        self.state.handle(Command::PeerUp { up, dialed: None }, now);
        self.state.after_turn(true, now);
        link
    }

    /// The targets dialled by ticks from `from` to `to` seconds, one a second, each dial
    /// failing at once as an unreachable address does.
    fn redials(&mut self, from: u32, to: u32) -> Vec<String> {
        DIALLED.with(|d| d.borrow_mut().clear());
        for s in from..=to {
            let now = self.at(f64::from(s));
            self.state.on_tick(now);
            let dialled: Vec<String> = DIALLED.with(|d| d.borrow().clone());
            let in_flight: Vec<String> = dialled
                .into_iter()
                .filter(|t| self.state.dialer.in_flight(t))
                .collect();
            for target in &in_flight {
                let error = DialError::Connect(
                    crate::bus::ConnectFailure::Unreachable,
                    "Network is unreachable (os error 101)".into(),
                );
                self.state.on_dial_failed(target.clone(), error, now);
            }
        }
        DIALLED.with(|d| d.borrow().clone())
    }
}

#[test]
fn a_peers_announcement_is_kept_with_its_source_and_passed_on_with_kinds() {
    let mut h = Harness::new();
    let t = h.at(0.0);
    let a = h.peer_up(1, t);
    let b = h.peer_up(2, t);
    let _ = (a.drain(), b.drain());
    let given = [
        ann("10.0.0.1:35035", AddrKind::Lan),
        ann("100.101.1.2:35035", AddrKind::Vpn),
        // Not kept: a peer must not make us dial these.
        ann("224.0.0.1:35035", AddrKind::Lan),
        ann("127.0.0.1:35035", AddrKind::Lan),
        ann("[fe80::1]:35035", AddrKind::Lan),
        ann("10.0.0.9:0", AddrKind::Lan),
        ann("0.0.0.0:35035", AddrKind::Lan),
        ann("255.255.255.255:35035", AddrKind::Lan),
    ];
    h.peer_sends(&a, addr_msg(&given), t);
    assert_eq!(announced_of(&h, 1), given[..2]);

    // Every address with where it came from, for `purr doctor`.
    let facts = h.state.diag_facts(h.at(1.0));
    let c = facts
        .contacts
        .iter()
        .find(|c| c.id == crate::hex::encode(&id(1)))
        .expect("peer 1");
    let sources: Vec<(String, String)> = c
        .addrs
        .iter()
        .map(|a| (a.addr.clone(), a.source.clone()))
        .collect();
    for addr in ["10.0.0.1:35035", "100.101.1.2:35035"] {
        assert!(
            sources.contains(&(addr.into(), "announced".into())),
            "{sources:?}"
        );
    }

    // The other peer hears of them at once, LAN first, each with its kind.
    assert_eq!(
        listed(&b.drain(), id(1)),
        [vec![
            "10.0.0.1:35035 lan".to_string(),
            "100.101.1.2:35035 vpn".into()
        ]]
    );
    // The same announcement again changes nothing and tells nobody.
    h.peer_sends(&a, addr_msg(&given), h.at(5.0));
    assert!(listed(&b.drain(), id(1)).is_empty());
}

#[test]
fn announcements_apply_at_most_once_per_gap_and_the_latest_waiting_one_wins() {
    let mut h = Harness::new();
    let a = h.peer_up(1, h.at(0.0));
    let first = [ann("10.0.0.1:35035", AddrKind::Lan)];
    let second = [ann("10.0.0.2:35035", AddrKind::Lan)];
    let third = [ann("10.0.0.3:35035", AddrKind::Vpn)];
    h.peer_sends(&a, addr_msg(&first), h.at(0.0));
    assert_eq!(announced_of(&h, 1), first);
    // A flood within the gap: nothing more is applied until it is over.
    for i in 0..1000 {
        let which = if i == 999 { &third } else { &second };
        h.peer_sends(&a, addr_msg(which), h.at(0.5 + f64::from(i) / 1000.0));
    }
    assert_eq!(announced_of(&h, 1), first);
    h.state.on_tick(h.at(1.9));
    assert_eq!(announced_of(&h, 1), first, "not before the gap is over");
    h.state.on_tick(h.at(2.1));
    assert_eq!(announced_of(&h, 1), third, "the latest one, once");
    // The one applied at the tick starts the next gap.
    h.peer_sends(&a, addr_msg(&first), h.at(3.0));
    assert_eq!(announced_of(&h, 1), third);
    h.state.on_tick(h.at(4.2));
    assert_eq!(announced_of(&h, 1), first);
}

#[test]
fn an_offline_contact_is_redialled_lan_first_then_vpn_with_the_dialers_backoff() {
    let mut h = Harness::new();
    let a = h.peer_up(1, h.at(0.0));
    h.send(1, "a contact now", h.at(0.0)).expect("sent");
    h.peer_sends(
        &a,
        addr_msg(&[
            ann("100.101.1.2:35035", AddrKind::Vpn),
            ann("192.168.5.1:35035", AddrKind::Lan),
        ]),
        h.at(0.0),
    );
    h.peer_down(&a, h.at(0.5));
    // Seen 10.0.0.1 (its HAND port), then the announced LAN one, then the VPN one, each
    // tried first in that order; one whose backoff (2 s ± 20 % after a failure) is over
    // comes again in its turn.
    let dialled = h.redials(1, 6);
    let mut first_tries: Vec<String> = Vec::new();
    for t in &dialled {
        if !first_tries.contains(t) {
            first_tries.push(t.clone());
        }
    }
    assert_eq!(dialled[0], "10.0.0.1:35035", "{dialled:?}");
    assert_eq!(
        first_tries,
        [
            "10.0.0.1:35035".to_string(),
            "192.168.5.1:35035".into(),
            "100.101.1.2:35035".into()
        ],
        "{dialled:?}"
    );
    for target in ["10.0.0.1:35035", "192.168.5.1:35035", "100.101.1.2:35035"] {
        let n = dialled.iter().filter(|t| *t == target).count();
        assert!(n <= 2, "{target} dialled {n} times in 6 s: {dialled:?}");
    }
    assert!(dialled.len() <= 6, "one dial a tick at most: {dialled:?}");
}

#[test]
fn our_addresses_go_to_peers_that_take_them_and_a_link_whose_local_address_is_gone_is_dropped() {
    let mut h = Harness::new();
    let t = h.at(0.0);
    h.state.handle(
        Command::OwnAddrs(vec![
            own("10.0.0.100", "eth0", IfaceKind::Ethernet),
            own("100.64.0.100", "tailscale0", IfaceKind::Vpn),
            own("172.17.0.1", "docker0", IfaceKind::Container),
        ]),
        t,
    );
    let lan = h.up_via(1, "10.0.0.100:35035", t);
    let vpn = h.up_via(2, "100.64.0.100:35035", t);
    let old = h.up_via(3, "100.64.0.100:35035", t);
    let _ = (lan.drain(), vpn.drain(), old.drain());
    let takes = Inner::Caps(vec!["read-ack".into(), "addr".into()]);
    h.peer_sends(&lan, takes.clone(), t);
    h.peer_sends(&vpn, takes, t);
    h.peer_sends(&old, Inner::Caps(vec!["read-ack".into()]), t);
    let ours = addr_msg(&[
        ann("10.0.0.100:35035", AddrKind::Lan),
        ann("100.64.0.100:35035", AddrKind::Vpn),
    ]);
    assert!(lan.drain().contains(&ours), "sent after its CAPS");
    assert!(vpn.drain().contains(&ours));
    assert!(
        !old.drain().iter().any(|r| matches!(r, Inner::Addr(_))),
        "a peer that did not announce `addr` gets no ADDR"
    );

    // The LAN goes: the link over it is dead, the others hear the new list.
    h.state.handle(
        Command::OwnAddrs(vec![own("100.64.0.100", "tailscale0", IfaceKind::Vpn)]),
        h.at(1.0),
    );
    assert!(closed(&lan), "the link over the lost address is dropped");
    assert!(!h.state.peers.is_online(&id(1)));
    let now_ours = addr_msg(&[ann("100.64.0.100:35035", AddrKind::Vpn)]);
    assert!(vpn.drain().contains(&now_ours));
    assert!(!closed(&vpn) && !closed(&old));
    // The same list again: nothing is sent.
    h.state.handle(
        Command::OwnAddrs(vec![own("100.64.0.100", "tailscale0", IfaceKind::Vpn)]),
        h.at(2.0),
    );
    assert!(!vpn.drain().iter().any(|r| matches!(r, Inner::Addr(_))));
}

#[test]
fn a_listed_peer_is_dialled_lan_first_by_the_kinds_its_entry_carries() {
    let mut h = Harness::new();
    let a = h.peer_up(1, h.at(0.0));
    DIALLED.with(|d| d.borrow_mut().clear());
    let entry = crate::peer::inner::ListEntry {
        id: id(9),
        addrs: vec![
            "10.8.0.9:35035".parse().expect("address"),
            "192.168.1.9:35035".parse().expect("address"),
        ],
        name: "nine".into(),
        // The lister knows 10.8.0.9 is a VPN address, though it looks like a LAN one.
        kinds: vec![AddrKind::Vpn, AddrKind::Lan],
    };
    h.peer_sends(&a, Inner::List(vec![entry.clone()]), h.at(0.0));
    assert_eq!(
        DIALLED.with(|d| d.borrow().clone()),
        ["192.168.1.9:35035"],
        "the LAN address first"
    );
    // From an older lister (no kinds), both look like the LAN: its order is kept.
    DIALLED.with(|d| d.borrow_mut().clear());
    let old = crate::peer::inner::ListEntry {
        id: id(10),
        kinds: Vec::new(),
        ..entry
    };
    h.peer_sends(&a, Inner::List(vec![old]), h.at(0.1));
    assert_eq!(DIALLED.with(|d| d.borrow().clone()), ["10.8.0.9:35035"]);
}

#[test]
fn announced_addresses_are_stored_with_the_contact_and_dialled_after_a_restart() {
    let mut h = Harness::new();
    let a = h.peer_up(1, h.at(0.0));
    h.send(1, "a contact now", h.at(0.0)).expect("sent");
    h.peer_sends(
        &a,
        addr_msg(&[ann("100.101.1.2:35035", AddrKind::Vpn)]),
        h.at(0.0),
    );
    h.commit(h.at(0.0));
    let mut h = h.restart();
    let stored = h.state.peers.get(&id(1)).map(|c| c.addrs.clone());
    assert_eq!(
        stored,
        Some(vec![
            "10.0.0.1:35035".parse().expect("address"),
            "100.101.1.2:35035".parse().expect("address")
        ])
    );
    let dialled = h.redials(1, 3);
    assert!(
        dialled.iter().any(|t| t == "100.101.1.2:35035"),
        "{dialled:?}"
    );
}
