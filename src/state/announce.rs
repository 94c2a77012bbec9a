//! Address announcements as the state thread handles them (issue 20, point 3): which
//! addresses we announce (`ADDR`) and to whom, what we keep of a peer's, and the links
//! whose local address went away.
//!
//! ```text
//!   discovery ──OwnAddrs (on change)──▶ Announcer ──ADDR──▶ every peer whose CAPS says `addr`
//!   --advertise, --listen ─────────────┘   │      (and each new one, on its CAPS)
//!                                          └─▶ links whose local address is gone: dropped,
//!                                              so the dialer tries the peer's other addresses
//!   peer ──ADDR──▶ at most one per peer per MIN_GAP (a sooner one waits, the latest wins)
//!              ──▶ peer::addrs::keep (dialable, once, ≤ 16) ──▶ Contact::announced
//!              ──▶ dial log (source "announced"), stored with the contact, LIST to the others
//! ```
//!
//! An announcement is a hint, never trusted for identity: the addresses wait until the
//! peer is offline, and are then dialled like any other of its addresses, in
//! [`super::addr_order`]'s order, through the dialer's backoff per address and per id,
//! one dial per id at a time and 8 automatic dials in flight. A peer announcing someone
//! else's address costs that address no more dials than a forged beacon would.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::bus::OwnAddr;
use crate::diag::IfaceKind;
use crate::identity::NodeId;
use crate::peer::addrs::{self, AddrKind, Addrs, Announced, MAX_ANNOUNCED};
use crate::peer::inner::Inner;
use crate::rules::short_id as short;

use super::dial_log::AddrSource;
use super::State;

/// A peer's `ADDR`s are applied at most once per this. One that comes sooner waits (a
/// later one replacing it) and is applied when the time is up: an honest peer whose
/// interfaces flap loses nothing, a hostile one costs one update per 2 s.
pub const MIN_GAP: Duration = Duration::from_secs(2);

/// What `node` tells the state about its own addresses.
#[derive(Debug, Clone)]
pub struct Setup {
    /// The IP the node listens on: `::` (dual-stack), `0.0.0.0` (IPv4 only) or one
    /// address (only that one is announced).
    pub listen: IpAddr,
    /// `--advertise`: announced first, whatever the interfaces say.
    pub advertise: Vec<SocketAddr>,
}

impl Default for Setup {
    fn default() -> Setup {
        Setup {
            listen: IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
            advertise: Vec::new(),
        }
    }
}

/// Our side: what we announce.
#[derive(Debug, Default)]
pub struct Announcer {
    setup: Setup,
    port: u16,
    /// Our addresses on interfaces that are up (`Command::OwnAddrs`); `None` until the
    /// discovery thread first reports (never under `--no-discovery`).
    own: Option<Vec<OwnAddr>>,
}

/// A link's part: whether the peer takes our `ADDR`, and the pace of its own.
#[derive(Debug, Default)]
pub struct LinkAnnounce {
    /// The peer named `addr` in its `CAPS`.
    pub takes: bool,
    /// When its last `ADDR` was applied.
    applied: Option<Instant>,
    /// An `ADDR` that came within [`MIN_GAP`] of that, waiting.
    waiting: Option<Vec<Announced>>,
}

impl Announcer {
    pub fn new(setup: Setup, port: u16) -> Announcer {
        Announcer {
            setup,
            port,
            own: None,
        }
    }

    /// What we announce now, at most [`MAX_ANNOUNCED`]: `--advertise` first, then
    /// every address of an Ethernet, Wi-Fi or VPN interface that is up and that the
    /// listening socket answers on. Not container bridges (`docker0` has the same
    /// 172.17.0.1 on every host: a peer would dial itself or a container) and not
    /// link-local addresses (an IPv6 one needs the dialler's zone; 169.254/16 is what a
    /// host without DHCP falls back to, and beacons find such neighbours).
    pub fn ours(&self) -> Vec<Announced> {
        let mut out: Vec<Announced> = self
            .setup
            .advertise
            .iter()
            .map(|a| Announced {
                addr: crate::net::canonical(*a),
                kind: super::addr_order::guess(a.ip()),
            })
            .collect();
        let listen = self.setup.listen;
        let answers = |ip: IpAddr| match listen {
            IpAddr::V4(v4) if v4.is_unspecified() => ip.is_ipv4(),
            IpAddr::V6(v6) if v6.is_unspecified() => true,
            one => one.to_canonical() == ip,
        };
        for own in self.own.iter().flatten() {
            let ip = own.ip.to_canonical();
            let link_local = match ip {
                IpAddr::V4(v4) => v4.is_link_local(),
                IpAddr::V6(v6) => v6.is_unicast_link_local(),
            };
            let kind = match own.kind {
                IfaceKind::Vpn => AddrKind::Vpn,
                IfaceKind::Ethernet | IfaceKind::Wifi => AddrKind::Lan,
                IfaceKind::Container | IfaceKind::Loopback => continue,
            };
            if link_local || crate::net::is_loopback(ip) || !answers(ip) {
                continue;
            }
            out.push(Announced {
                addr: SocketAddr::new(ip, self.port),
                kind,
            });
        }
        // Listening on one address: that one, even before (or without) an interface list.
        let one = listen.to_canonical();
        if !one.is_unspecified() && !crate::net::is_loopback(one) {
            out.push(Announced {
                addr: SocketAddr::new(one, self.port),
                kind: super::addr_order::guess(one),
            });
        }
        let mut seen = Vec::with_capacity(out.len());
        out.retain(|a| {
            let fresh = !seen.contains(&a.addr);
            seen.push(a.addr);
            fresh
        });
        out.truncate(MAX_ANNOUNCED);
        out
    }

    /// Whether we have anything to say: an interface list, or addresses given.
    pub fn knows(&self) -> bool {
        self.own.is_some() || !self.ours().is_empty()
    }

    /// Takes a new list of our addresses; true when what we announce changed.
    pub fn set_own(&mut self, own: Vec<OwnAddr>) -> bool {
        let before = self.ours();
        let first = self.own.is_none();
        self.own = Some(own);
        first || self.ours() != before
    }

    /// Whether `local`, our end of a link, is on no interface that is up any more (the
    /// cable pulled, the Wi-Fi gone, the interface down): the link is dead, whatever TCP
    /// thinks. Never for loopback, nor before the first interface list.
    pub fn lost(&self, local: IpAddr) -> bool {
        let Some(own) = &self.own else {
            return false;
        };
        let ip = local.to_canonical();
        !crate::net::is_loopback(ip)
            && !ip.is_unspecified()
            && !own.iter().any(|o| o.ip.to_canonical() == ip)
    }
}

impl State {
    /// The peer's `CAPS` came (or none in time: `takes` false): a peer that takes `ADDR`
    /// hears ours.
    pub(super) fn announce_cap_known(&mut self, id: NodeId, takes: bool) {
        if let Some(link) = self.peers.link_mut(&id) {
            link.announce.takes = takes;
        }
        self.send_addr(&id);
    }

    /// Sends our addresses to `id` if it takes them.
    fn send_addr(&mut self, id: &NodeId) {
        let takes = self
            .peers
            .get(id)
            .and_then(|c| c.link())
            .is_some_and(|l| l.announce.takes);
        if !takes || !self.announcer.knows() {
            return;
        }
        let addrs = self.announcer.ours();
        self.peers
            .send(id, Inner::Addr(Addrs { addrs }), self.clock.now_ms());
    }

    /// An `ADDR` from `id`: applied now, or kept until [`MIN_GAP`] after the last one.
    pub(super) fn on_addr(&mut self, id: NodeId, body: Addrs, now: Instant) {
        let Some(link) = self.peers.link_mut(&id) else {
            return;
        };
        let due = link
            .announce
            .applied
            .is_none_or(|t| now.saturating_duration_since(t) >= MIN_GAP);
        if !due {
            if link.announce.waiting.replace(body.addrs).is_some() {
                log::trace!("peer {}: an ADDR replaced one still waiting", short(&id));
            }
            return;
        }
        link.announce.applied = Some(now);
        self.apply_announced(id, body.addrs, now);
    }

    /// What `id` announced: its dialable addresses replace those it announced before;
    /// when they changed, they are learned (dial log), stored with the contact, and
    /// passed on in a one-entry `LIST` to every other peer online.
    fn apply_announced(&mut self, id: NodeId, given: Vec<Announced>, now: Instant) {
        let Some(contact) = self.peers.get(&id) else {
            return;
        };
        let from_loopback = contact
            .link()
            .is_some_and(|l| crate::net::is_loopback(l.remote.ip()));
        let (kept, dropped) = addrs::keep(&given, from_loopback);
        if dropped > 0 {
            log::debug!(
                "ADDR from {}: {dropped} addresses we do not dial (unspecified, loopback, \
                 multicast, broadcast, link-local, port 0, over {MAX_ANNOUNCED})",
                short(&id)
            );
        }
        if contact.announced == kept {
            return;
        }
        let words: Vec<String> = kept
            .iter()
            .map(|a| format!("{} ({})", a.addr, a.kind.as_str()))
            .collect();
        log::debug!("peer {} announces {}", short(&id), words.join(", "));
        for a in &kept {
            self.dialer
                .log
                .learned(id, &a.addr.to_string(), AddrSource::Announced, now);
        }
        if let Some(c) = self.peers.get_mut(&id) {
            c.announced = kept;
        }
        self.save_contact(&id);
        let configured = self.dialer.configured_ids();
        let now_ms = self.clock.now_ms();
        for other in self.peers.online() {
            let entry = self.peers.list_for(&other, Some(&id), &configured);
            if other != id && !entry.is_empty() {
                self.peers.send(&other, Inner::List(entry), now_ms);
            }
        }
    }

    /// Our addresses as the discovery thread lists them now. Links whose local address
    /// is gone are dropped at once (rather than after 45 s of silence), so the dialer
    /// tries the peer's other addresses; if what we announce changed, every peer that
    /// takes `ADDR` hears it.
    pub(super) fn on_own_addrs(&mut self, own: Vec<OwnAddr>, now: Instant) {
        let changed = self.announcer.set_own(own);
        for id in self.peers.online() {
            let local = self
                .peers
                .get(&id)
                .and_then(|c| c.link())
                .and_then(|l| l.local);
            if let Some(local) = local.filter(|l| self.announcer.lost(l.ip())) {
                log::info!(
                    "peer {}: our address {} is gone from the interfaces; dropping its link to redial",
                    short(&id),
                    local.ip()
                );
                self.drop_peer(id, "our end's address is gone", now);
            }
        }
        if changed {
            let words: Vec<String> = self
                .announcer
                .ours()
                .iter()
                .map(|a| format!("{} ({})", a.addr, a.kind.as_str()))
                .collect();
            log::info!("announcing our addresses to peers: {}", words.join(", "));
            for id in self.peers.online() {
                self.send_addr(&id);
            }
        }
    }

    /// Once a second: `ADDR`s that waited for [`MIN_GAP`] are applied.
    pub(super) fn tick_announce(&mut self, now: Instant) {
        for id in self.peers.online() {
            let Some(link) = self.peers.link_mut(&id) else {
                continue;
            };
            let due = link
                .announce
                .applied
                .is_none_or(|t| now.saturating_duration_since(t) >= MIN_GAP);
            if !due {
                continue;
            }
            if let Some(waiting) = link.announce.waiting.take() {
                link.announce.applied = Some(now);
                self.apply_announced(id, waiting, now);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own(ip: &str, iface: &str, kind: IfaceKind) -> OwnAddr {
        OwnAddr {
            ip: ip.parse().unwrap(),
            iface: iface.into(),
            kind,
        }
    }

    fn words(a: &Announcer) -> Vec<String> {
        a.ours()
            .iter()
            .map(|a| format!("{} {}", a.addr, a.kind.as_str()))
            .collect()
    }

    fn interfaces() -> Vec<OwnAddr> {
        vec![
            own("192.168.1.20", "eth0", IfaceKind::Ethernet),
            own("fe80::1", "eth0", IfaceKind::Ethernet),
            own("fd00::20", "eth0", IfaceKind::Ethernet),
            own("169.254.7.7", "wlan0", IfaceKind::Wifi),
            own("100.101.1.2", "tailscale0", IfaceKind::Vpn),
            own("172.17.0.1", "docker0", IfaceKind::Container),
            own("10.255.0.1", "lo", IfaceKind::Loopback),
        ]
    }

    #[test]
    fn we_announce_lan_and_vpn_addresses_with_our_port_and_advertised_ones_first() {
        let mut a = Announcer::new(
            Setup {
                listen: "::".parse().unwrap(),
                advertise: vec!["203.0.113.9:4000".parse().unwrap()],
            },
            35035,
        );
        assert!(a.knows(), "an advertised address is something to say");
        assert!(a.set_own(interfaces()));
        assert_eq!(
            words(&a),
            [
                "203.0.113.9:4000 other",
                "192.168.1.20:35035 lan",
                "[fd00::20]:35035 lan",
                "100.101.1.2:35035 vpn",
            ]
        );
        assert!(!a.set_own(interfaces()), "the same list changes nothing");
        let mut fewer = interfaces();
        fewer.remove(0);
        assert!(a.set_own(fewer), "the LAN address went");
    }

    #[test]
    fn the_listening_address_decides_which_families_and_addresses_are_announced() {
        let mut v4 = Announcer::new(
            Setup {
                listen: "0.0.0.0".parse().unwrap(),
                advertise: vec![],
            },
            1,
        );
        assert!(!v4.knows(), "nothing before the first interface list");
        v4.set_own(interfaces());
        assert_eq!(words(&v4), ["192.168.1.20:1 lan", "100.101.1.2:1 vpn"]);
        let mut one = Announcer::new(
            Setup {
                listen: "100.101.1.2".parse().unwrap(),
                advertise: vec![],
            },
            1,
        );
        assert_eq!(words(&one), ["100.101.1.2:1 vpn"], "without interfaces too");
        one.set_own(interfaces());
        assert_eq!(words(&one), ["100.101.1.2:1 vpn"]);
        let lo = Announcer::new(
            Setup {
                listen: "127.0.0.1".parse().unwrap(),
                advertise: vec![],
            },
            1,
        );
        assert!(words(&lo).is_empty());
    }

    #[test]
    fn at_most_sixteen_addresses_are_announced() {
        let mut a = Announcer::new(Setup::default(), 1);
        a.set_own(
            (1..=40)
                .map(|i| own(&format!("10.0.0.{i}"), "eth0", IfaceKind::Ethernet))
                .collect(),
        );
        assert_eq!(a.ours().len(), MAX_ANNOUNCED);
    }

    #[test]
    fn a_link_is_lost_when_its_local_address_leaves_the_interfaces_that_are_up() {
        let mut a = Announcer::new(Setup::default(), 1);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(
            !a.lost(ip("192.168.1.20")),
            "no list yet: nothing is known lost"
        );
        a.set_own(interfaces());
        assert!(!a.lost(ip("192.168.1.20")));
        assert!(!a.lost(ip("::ffff:192.168.1.20")));
        assert!(
            !a.lost(ip("172.17.0.1")),
            "a container bridge is still ours"
        );
        assert!(!a.lost(ip("10.255.0.1")), "so is a router's address on lo");
        assert!(a.lost(ip("192.168.1.99")));
        assert!(!a.lost(ip("127.0.0.1")), "never loopback");
        a.set_own(Vec::new());
        assert!(a.lost(ip("192.168.1.20")));
    }
}
