//! This node's own addresses, for address announcements (issue 20, point 3): every
//! address of an interface that is up and running, but 127/8 and ::1. The discovery thread
//! lists them every [`POLL`] and tells the state when they change
//! ([`Command::OwnAddrs`](crate::bus::Command::OwnAddrs)); the state decides what to
//! announce (`state/announce.rs`) and drops links whose local address is gone.
//!
//! ```text
//!   getifaddrs ─▶ Link (up, running, addresses) ─▶ of_links ─▶ changed? ─▶ OwnAddrs ─▶ state
//! ```

use std::time::Duration;

use super::ifaces::Link;
use crate::bus::{OwnAddr, MAX_OWN_ADDRS};
use crate::diag::IfaceKind;

/// How often the interfaces are looked at for our addresses: a cable pulled or a VPN
/// coming up is seen within this (one netlink round trip each time, no socket).
pub const POLL: Duration = Duration::from_secs(1);

/// Our addresses on `links`: those of interfaces up and running, but 127/8 and ::1, in
/// the kernel's order, at most [`MAX_OWN_ADDRS`]. Each with its interface's name and
/// kind. Another address on `lo` (a router's) is ours too: the state never announces it
/// (its kind is loopback) but must not take a link over it for lost.
pub fn of_links(links: &[Link]) -> Vec<OwnAddr> {
    links
        .iter()
        .filter(|l| l.up && l.running)
        .flat_map(|l| {
            let kind = IfaceKind::guess(&l.name, l.loopback);
            let v4 = l.v4.iter().map(|ip| std::net::IpAddr::V4(*ip));
            let v6 = l.v6.iter().map(|ip| std::net::IpAddr::V6(*ip));
            v4.chain(v6).map(move |ip| OwnAddr {
                ip,
                iface: l.name.clone(),
                kind,
            })
        })
        .filter(|o| !crate::net::is_loopback(o.ip))
        .take(MAX_OWN_ADDRS)
        .collect()
}

/// Lists them now; `None` when the kernel would not say (the caller keeps what it had:
/// an empty list would make every link look lost).
pub fn now() -> Option<Vec<OwnAddr>> {
    match super::ifaces::links() {
        Ok(links) => Some(of_links(&links)),
        Err(e) => {
            log::debug!("cannot list interfaces for our addresses: {e}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn link(name: &str, up: bool, running: bool, v4: [u8; 4]) -> Link {
        Link {
            index: 2,
            name: name.into(),
            up,
            running,
            loopback: name == "lo",
            multicast: true,
            v4: vec![Ipv4Addr::from(v4)],
            v6: vec!["fd00::2".parse().unwrap()],
        }
    }

    #[test]
    fn addresses_of_interfaces_up_and_running_are_ours_with_their_kind() {
        let links = [
            Link {
                v4: vec![Ipv4Addr::LOCALHOST, Ipv4Addr::new(10, 255, 0, 1)],
                v6: vec![std::net::Ipv6Addr::LOCALHOST],
                ..link("lo", true, true, [127, 0, 0, 1])
            },
            link("eth0", true, true, [10, 0, 0, 2]),
            link("wlan0", true, false, [10, 0, 1, 2]),
            link("eth1", false, false, [10, 0, 2, 2]),
            link("wg0", true, true, [10, 8, 0, 2]),
        ];
        let got: Vec<String> = of_links(&links)
            .iter()
            .map(|o| format!("{} {} {}", o.iface, o.ip, o.kind))
            .collect();
        assert_eq!(
            got,
            [
                "lo 10.255.0.1 loopback",
                "eth0 10.0.0.2 ethernet",
                "eth0 fd00::2 ethernet",
                "wg0 10.8.0.2 VPN",
                "wg0 fd00::2 VPN",
            ],
            "127/8, ::1, a link without carrier and one down are left out"
        );
    }

    #[test]
    fn the_list_is_bounded() {
        let many: Vec<Link> = (0..100u8)
            .map(|i| link(&format!("eth{i}"), true, true, [10, 0, i, 2]))
            .collect();
        assert_eq!(of_links(&many).len(), MAX_OWN_ADDRS);
    }
}
