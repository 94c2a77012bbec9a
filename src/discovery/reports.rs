//! Which valid beacons are passed on to the state thread, as `Command::Discovered`.
//!
//! A node sends each beacon on IPv4 and on IPv6, back to back, so a peer hears it twice
//! from two addresses. Reporting both would start two dials to one id at once, and two
//! connections with the same initiator are settled by arrival order, which the two ends
//! may see differently (SPEC §7: "the newer one closes"), closing both. So each id is
//! reported at most once per [`HOLD`], and when it has been heard at several addresses the
//! one reported least recently goes next: if IPv4 dials fail (a firewall, a node listening
//! on IPv6 only), the next report tries IPv6.
//!
//! ```text
//!   beacon(id, addr) ──▶ remember addr (≤ 4 per id) ──▶ id reported < HOLD ago? ──yes──▶ drop
//!                                                            │ no
//!                                                            ▼
//!                      report the address of this id reported least recently (never first)
//! ```
//!
//! This is only about duplicates among honest beacons. Forged ones are the dialer's
//! business (backoff per id and address, 8 automatic dials in flight): a flood with fresh
//! ids passes through here, one report per beacon, and is refused there. What is kept
//! here is bounded: [`MAX_IDS`] ids, [`MAX_ADDRS`] addresses each.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::identity::NodeId;

/// At most one report per id in this time: longer than a LAN handshake takes, shorter
/// than the default beacon interval, so a peer that is not connected is reported at
/// every beacon of the default 5 s rhythm.
pub const HOLD: Duration = Duration::from_secs(2);
/// An address not heard for this long is not tried any more.
const STALE: Duration = Duration::from_secs(60);
/// Ids remembered; past this, the ones not heard within [`STALE`] are forgotten (and if
/// that frees nothing, all are: the worst outcome is one extra report each).
pub const MAX_IDS: usize = 1024;
/// Addresses remembered per id; the one heard longest ago makes room.
pub const MAX_ADDRS: usize = 4;

#[derive(Debug)]
struct Heard {
    addr: SocketAddr,
    heard: Instant,
    reported: Option<Instant>,
}

#[derive(Debug, Default)]
struct Peer {
    addrs: Vec<Heard>,
    reported: Option<Instant>,
}

/// The report policy. See the module docs.
#[derive(Debug, Default)]
pub struct Reports {
    peers: HashMap<NodeId, Peer>,
}

impl Reports {
    /// A valid beacon from `id` arrived from `addr` at `now`; returns the address to
    /// report, if any.
    pub fn heard(&mut self, id: NodeId, addr: SocketAddr, now: Instant) -> Option<SocketAddr> {
        if !self.peers.contains_key(&id) && self.peers.len() >= MAX_IDS {
            self.prune(now);
        }
        let peer = self.peers.entry(id).or_default();
        match peer.addrs.iter_mut().find(|h| h.addr == addr) {
            Some(h) => h.heard = now,
            None => {
                if peer.addrs.len() >= MAX_ADDRS {
                    let oldest = (0..peer.addrs.len()).min_by_key(|&i| peer.addrs[i].heard);
                    if let Some(i) = oldest {
                        peer.addrs.swap_remove(i);
                    }
                }
                peer.addrs.push(Heard {
                    addr,
                    heard: now,
                    reported: None,
                });
            }
        }
        if peer.reported.is_some_and(|t| now.duration_since(t) < HOLD) {
            return None;
        }
        // Least recently reported first (never reported sorts first); on a tie, the
        // address that was just heard.
        let pick = peer
            .addrs
            .iter_mut()
            .filter(|h| now.duration_since(h.heard) < STALE)
            .min_by_key(|h| (h.reported, h.addr != addr))?;
        pick.reported = Some(now);
        peer.reported = Some(now);
        Some(pick.addr)
    }

    /// How many ids are remembered (for tests).
    pub fn len(&self) -> usize {
        self.peers.len()
    }

    /// Whether no id is remembered.
    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }

    fn prune(&mut self, now: Instant) {
        self.peers
            .retain(|_, p| p.addrs.iter().any(|h| now.duration_since(h.heard) < STALE));
        if self.peers.len() >= MAX_IDS {
            self.peers.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: NodeId = [0xa; 32];

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_ipv6_twin_of_a_beacon_is_not_reported() {
        let mut r = Reports::default();
        let t = Instant::now();
        let v4 = addr("10.0.0.2:35035");
        let v6 = addr("[fe80::2%2]:35035");
        assert_eq!(r.heard(A, v4, t), Some(v4));
        assert_eq!(r.heard(A, v6, t + Duration::from_millis(1)), None);
        // Next round (5 s later): IPv4 arrives first again, but IPv6 has never been tried.
        let t2 = t + Duration::from_secs(5);
        assert_eq!(r.heard(A, v4, t2), Some(v6));
        assert_eq!(r.heard(A, v6, t2), None);
        let t3 = t2 + Duration::from_secs(5);
        assert_eq!(r.heard(A, v4, t3), Some(v4));
    }

    #[test]
    fn one_address_is_reported_once_per_hold() {
        let mut r = Reports::default();
        let t = Instant::now();
        let a = addr("10.0.0.2:1");
        let mut reports = 0;
        // A beacon every 100 ms for 10 s.
        for i in 0..100u32 {
            if r.heard(A, a, t + Duration::from_millis(100) * i).is_some() {
                reports += 1;
            }
        }
        assert_eq!(reports, 5);
    }

    #[test]
    fn different_ids_are_independent() {
        let mut r = Reports::default();
        let t = Instant::now();
        let a = addr("10.0.0.2:1");
        assert!(r.heard([1; 32], a, t).is_some());
        assert!(r.heard([2; 32], a, t).is_some());
    }

    #[test]
    fn stale_addresses_are_not_tried() {
        let mut r = Reports::default();
        let t = Instant::now();
        let old = addr("10.0.0.2:1");
        let new = addr("10.0.0.3:1");
        assert_eq!(r.heard(A, old, t), Some(old));
        let later = t + STALE + Duration::from_secs(1);
        // `new` was never reported, `old` was; but `old` has gone quiet.
        assert_eq!(r.heard(A, new, later), Some(new));
        assert_eq!(r.heard(A, new, later + HOLD), Some(new));
    }

    #[test]
    fn addresses_per_id_are_bounded() {
        let mut r = Reports::default();
        let t = Instant::now();
        for port in 1..=100u16 {
            let a = SocketAddr::from(([10, 0, 0, 2], port));
            r.heard(A, a, t + Duration::from_millis(u64::from(port)));
        }
        assert_eq!(r.peers[&A].addrs.len(), MAX_ADDRS);
    }

    #[test]
    fn a_flood_of_fresh_ids_is_bounded_in_memory() {
        let mut r = Reports::default();
        let t = Instant::now();
        let a = addr("10.0.0.9:1");
        let mut reported = 0;
        for i in 0..10_000u32 {
            let mut id = [0u8; 32];
            id[..4].copy_from_slice(&i.to_be_bytes());
            if r.heard(id, a, t + Duration::from_millis(u64::from(i)))
                .is_some()
            {
                reported += 1;
            }
            assert!(r.len() <= MAX_IDS);
        }
        // Every fresh id is reported: refusing them is the dialer's job.
        assert_eq!(reported, 10_000);
        assert!(!r.is_empty());
    }
}
