//! Discovery's counters for `purr doctor` (issue 20): beacons sent and failed per
//! interface, beacons heard per source id and interface. Bounded
//! ([`MAX_STATS_IFACES`] interfaces, [`MAX_HEARD_SOURCES`] sources: the one heard
//! longest ago makes room), and sent to the state thread as a snapshot after each round
//! of beacons ([`Command::DiscoveryStats`](crate::bus::Command::DiscoveryStats)).

use std::net::SocketAddr;
use std::time::Instant;

use crate::bus::{DiscoveryStats, HeardStats, IfaceStats, MAX_HEARD_SOURCES, MAX_STATS_IFACES};
use crate::identity::NodeId;

use super::ifaces::Iface;

/// The counters. See the module docs.
#[derive(Debug)]
pub struct Counters {
    stats: DiscoveryStats,
}

impl Counters {
    pub fn new(since: Instant) -> Counters {
        Counters {
            stats: DiscoveryStats {
                since,
                ifaces: Vec::new(),
                heard: Vec::new(),
                unicast: Default::default(),
                mdns: Default::default(),
            },
        }
    }

    /// Unicast discovery's counters, to update in place.
    pub fn unicast(&mut self) -> &mut crate::bus::UnicastStats {
        &mut self.stats.unicast
    }

    /// mDNS browsing's counters, to update in place.
    pub fn mdns(&mut self) -> &mut crate::bus::MdnsStats {
        &mut self.stats.mdns
    }

    /// A beacon was sent on `iface` at `now` (`Ok`), or could not be.
    pub fn sent(&mut self, iface: &str, result: Result<(), &std::io::Error>, now: Instant) {
        let pos = match self.stats.ifaces.iter().position(|i| i.name == iface) {
            Some(p) => p,
            None if self.stats.ifaces.len() >= MAX_STATS_IFACES => return,
            None => {
                self.stats.ifaces.push(IfaceStats {
                    name: iface.to_string(),
                    sent: 0,
                    errors: 0,
                    last_error: None,
                });
                self.stats.ifaces.len() - 1
            }
        };
        let i = &mut self.stats.ifaces[pos];
        match result {
            Ok(()) => i.sent = i.sent.saturating_add(1),
            Err(e) => {
                i.errors = i.errors.saturating_add(1);
                i.last_error = Some((e.to_string(), now));
            }
        }
    }

    /// A valid beacon of another node, `id`, came from `from` (dialable `addr`) at `now`;
    /// true when this id was not in the table for that interface (heard for the first
    /// time, or again after it was pushed out).
    pub fn heard(
        &mut self,
        id: NodeId,
        from: SocketAddr,
        addr: SocketAddr,
        ifaces: &[Iface],
        now: Instant,
    ) -> bool {
        let iface = iface_of(from, ifaces).unwrap_or_else(|| "?".to_string());
        let heard = &mut self.stats.heard;
        if let Some(h) = heard.iter_mut().find(|h| h.id == id && h.iface == iface) {
            h.count = h.count.saturating_add(1);
            h.last = now;
            h.addr = addr;
            false
        } else {
            if heard.len() >= MAX_HEARD_SOURCES {
                let oldest = (0..heard.len()).min_by_key(|&i| heard[i].last);
                if let Some(i) = oldest {
                    heard.swap_remove(i);
                }
            }
            heard.push(HeardStats {
                id,
                iface,
                addr,
                count: 1,
                first: now,
                last: now,
            });
            true
        }
    }

    /// A copy to send, the most recently heard sources first.
    pub fn snapshot(&self) -> DiscoveryStats {
        let mut s = self.stats.clone();
        s.heard.sort_by_key(|h| std::cmp::Reverse(h.last));
        s
    }
}

/// The interface a beacon from `from` came in on: for IPv6, its scope (link-local
/// sources carry it; a global source is not attributed); for IPv4, the interface whose address shares the longest prefix
/// with the source (a guess: the socket does not say, and the source is on the link).
pub fn iface_of(from: SocketAddr, ifaces: &[Iface]) -> Option<String> {
    match from {
        SocketAddr::V6(a) if a.scope_id() != 0 => ifaces
            .iter()
            .find(|i| i.index == a.scope_id())
            .map(|i| i.name.clone()),
        SocketAddr::V6(_) => None,
        SocketAddr::V4(a) => {
            let src = u32::from(*a.ip());
            ifaces
                .iter()
                .filter_map(|i| Some((i, u32::from(i.v4?))))
                .max_by_key(|(_, ip)| (ip ^ src).leading_zeros())
                .map(|(i, _)| i.name.clone())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use std::time::Duration;

    fn iface(index: u32, name: &str, v4: Option<[u8; 4]>) -> Iface {
        Iface {
            index,
            name: name.into(),
            v4: v4.map(Ipv4Addr::from),
            v6: true,
        }
    }

    #[test]
    fn beacons_are_attributed_to_their_interface() {
        let ifaces = [
            iface(2, "eth0", Some([192, 168, 1, 5])),
            iface(3, "docker0", Some([172, 17, 0, 1])),
            iface(4, "wlan0", None),
        ];
        let v4 = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert_eq!(
            iface_of(v4("192.168.1.20:40000"), &ifaces).as_deref(),
            Some("eth0")
        );
        assert_eq!(
            iface_of(v4("172.17.0.2:40000"), &ifaces).as_deref(),
            Some("docker0")
        );
        assert_eq!(
            iface_of(v4("[fe80::2%4]:40000"), &ifaces).as_deref(),
            Some("wlan0")
        );
        assert_eq!(iface_of(v4("[fe80::2%9]:40000"), &ifaces), None);
    }

    #[test]
    fn sends_and_errors_are_counted_per_interface_and_bounded() {
        let t = Instant::now();
        let mut c = Counters::new(t);
        c.sent("eth0", Ok(()), t);
        c.sent("eth0", Ok(()), t);
        let e = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        c.sent("eth0", Err(&e), t);
        let s = c.snapshot();
        assert_eq!((s.ifaces[0].sent, s.ifaces[0].errors), (2, 1));
        assert!(s.ifaces[0].last_error.is_some());
        for i in 0..100 {
            c.sent(&format!("veth{i}"), Ok(()), t);
        }
        assert_eq!(c.snapshot().ifaces.len(), MAX_STATS_IFACES);
    }

    #[test]
    fn heard_sources_keep_count_first_and_last_and_are_bounded() {
        let t = Instant::now();
        let ifaces = [iface(2, "eth0", Some([10, 0, 0, 1]))];
        let mut c = Counters::new(t);
        let from: SocketAddr = "10.0.0.2:40000".parse().unwrap();
        let addr: SocketAddr = "10.0.0.2:35035".parse().unwrap();
        for s in 0..5 {
            c.heard([1; 32], from, addr, &ifaces, t + Duration::from_secs(s));
        }
        let h = &c.snapshot().heard[0];
        assert_eq!(
            (h.count, h.first, h.last),
            (5, t, t + Duration::from_secs(4))
        );
        assert_eq!(h.iface, "eth0");
        // A flood of fresh ids keeps the newest sources only.
        for i in 0..1000u32 {
            let mut id = [0u8; 32];
            id[..4].copy_from_slice(&i.to_be_bytes());
            c.heard(
                id,
                from,
                addr,
                &ifaces,
                t + Duration::from_secs(10 + u64::from(i)),
            );
        }
        let s = c.snapshot();
        assert_eq!(s.heard.len(), MAX_HEARD_SOURCES);
        assert_eq!(s.heard[0].id[..4], 999u32.to_be_bytes());
    }
}
