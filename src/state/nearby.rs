//! Peers heard by beacon (issue 21): who is **nearby** on the LAN, without a session.
//!
//! A beacon proves nothing: its id is a claim anyone can make, and no name comes with
//! it. So a peer heard by beacon is only shown (`presence: "nearby"`, a stranger unless
//! it is a contact) and never dialled for that alone; a session is opened when the user
//! opens its conversation or sends to it, when it dials us, or when it is a contact
//! (`sessions`). This table is what the beacons leave behind, owned by the peer table:
//!
//! ```text
//!   (unknown) ──beacon──▶ heard{addr, last} ──beacon──▶ heard{addr', last'}
//!                             │ no beacon for `ttl` / table full (heard longest ago)
//!                             ▼
//!                          forgotten
//! ```
//!
//! Bounded: at most [`MAX_NEARBY`] ids (a flood of forged beacons costs this many small
//! entries, each dropped `ttl` after its last beacon), and nothing here is stored.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::identity::NodeId;
use crate::rules::short_id as short;

/// Ids heard by beacon kept at most (as many as strangers: an office of 256).
pub const MAX_NEARBY: usize = 256;
/// A peer is nearby this long after its last beacon at least (`ttl` is three beacon
/// intervals, never less than this: discovery reports an id at most every 2 s).
pub const MIN_NEARBY_TTL: Duration = Duration::from_secs(10);

/// What the beacons of one id said last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heard {
    /// The beacon's source address with its port: where a session would be dialled.
    pub addr: SocketAddr,
    /// When its last beacon came.
    pub last: Instant,
}

/// Every id heard by beacon lately. See the module docs.
#[derive(Debug)]
pub struct Nearby {
    map: HashMap<NodeId, Heard>,
    ttl: Duration,
}

impl Default for Nearby {
    fn default() -> Self {
        Nearby::new(Duration::from_secs(5))
    }
}

impl Nearby {
    /// A table for beacons sent every `beacon_interval`.
    pub fn new(beacon_interval: Duration) -> Nearby {
        Nearby {
            map: HashMap::new(),
            ttl: beacon_interval.saturating_mul(3).max(MIN_NEARBY_TTL),
        }
    }

    /// A beacon from `id` at `addr` came at `now`; true if `id` was not nearby before.
    pub fn heard(&mut self, id: NodeId, addr: SocketAddr, now: Instant) -> bool {
        if let Some(h) = self.map.get_mut(&id) {
            *h = Heard { addr, last: now };
            return false;
        }
        if self.map.len() >= MAX_NEARBY {
            let oldest = self.map.iter().min_by_key(|(_, h)| h.last).map(|(i, _)| *i);
            if let Some(old) = oldest {
                log::debug!("peer {}: nearby => forgotten (table full)", short(&old));
                self.map.remove(&old);
            }
        }
        log::debug!("peer {}: (unknown) => nearby at {addr}", short(&id));
        self.map.insert(id, Heard { addr, last: now });
        true
    }

    /// What `id`'s beacons said, if it is nearby.
    pub fn get(&self, id: &NodeId) -> Option<&Heard> {
        self.map.get(id)
    }

    /// Whether `id` was heard by beacon within the last `ttl`.
    pub fn contains(&self, id: &NodeId) -> bool {
        self.map.contains_key(id)
    }

    /// How many ids are nearby now.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Every id nearby now, with what it said.
    pub fn iter(&self) -> impl Iterator<Item = (&NodeId, &Heard)> {
        self.map.iter()
    }

    /// Forgets ids whose last beacon is `ttl` before `now`; returns them.
    pub fn expire(&mut self, now: Instant) -> Vec<(NodeId, Heard)> {
        let ttl = self.ttl;
        let gone: Vec<(NodeId, Heard)> = self
            .map
            .iter()
            .filter(|(_, h)| now.saturating_duration_since(h.last) >= ttl)
            .map(|(id, h)| (*id, *h))
            .collect();
        for (id, _) in &gone {
            log::debug!("peer {}: nearby => forgotten (no beacon)", short(id));
            self.map.remove(id);
        }
        if self.map.capacity() > 64 && self.map.len() < self.map.capacity() / 4 {
            self.map.shrink_to(self.map.len().max(16) * 2);
        }
        gone
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beacons_keep_a_peer_nearby_until_they_stop_and_the_table_is_bounded() {
        let t = Instant::now();
        let mut n = Nearby::new(Duration::from_secs(1));
        let a: SocketAddr = "10.0.0.2:35035".parse().unwrap();
        assert!(n.heard([2; 32], a, t));
        assert!(!n.heard([2; 32], a, t + Duration::from_secs(5)));
        assert!(n.expire(t + Duration::from_secs(14)).is_empty());
        assert_eq!(n.expire(t + Duration::from_secs(15))[0].0, [2; 32]);
        assert!(!n.contains(&[2; 32]));

        for i in 0..(MAX_NEARBY + 10) {
            let mut id = [0u8; 32];
            id[..8].copy_from_slice(&(i as u64).to_be_bytes());
            n.heard(id, a, t + Duration::from_millis(i as u64));
        }
        assert_eq!(n.iter().count(), MAX_NEARBY);
        assert!(
            !n.contains(&[0; 32]),
            "the one heard longest ago went first"
        );
    }
}
