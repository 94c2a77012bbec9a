//! Which interfaces carry beacons (SPEC §4): up, multicast-capable, not loopback.
//!
//! libc's `getifaddrs(3)` is asked (through `nix`; glibc reads it over netlink), so the
//! answer is for the network namespace this process lives in. The choice itself
//! ([`select`]) is a pure function of what was read, tested without touching the
//! machine's interfaces.
//!
//! ```text
//!   getifaddrs() ──group by name──▶ Link (flags, index, addresses) ──select──▶ Iface
//!                                 loopback / down / no multicast / no address ──▶ skipped
//! ```

use std::net::{Ipv4Addr, Ipv6Addr};

/// An interface discovery sends on and listens on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Iface {
    /// The kernel's interface index (what `IPV6_MULTICAST_IF` and joins take).
    pub index: u32,
    pub name: String,
    /// An IPv4 address of the interface: `IP_MULTICAST_IF` names the interface by one,
    /// and without one there is no IPv4 on it. `None`: IPv6 only.
    pub v4: Option<Ipv4Addr>,
    /// Whether IPv6 is on (an up interface with IPv6 has at least a link-local address).
    pub v6: bool,
}

/// What the kernel says of one interface, before choosing.
#[derive(Debug, Clone, Default)]
pub struct Link {
    pub index: u32,
    pub name: String,
    pub up: bool,
    /// `IFF_RUNNING`: the link has a carrier (a cable, an associated Wi-Fi, the other
    /// end of a veth up). Addresses of an interface that is up but not running reach
    /// nobody.
    pub running: bool,
    pub loopback: bool,
    pub multicast: bool,
    pub v4: Vec<Ipv4Addr>,
    pub v6: Vec<Ipv6Addr>,
}

/// The interfaces to use now, in the kernel's order. A failing `getifaddrs` (out of
/// memory, no netlink) means no interface this round: discovery asks again later.
pub fn usable() -> Vec<Iface> {
    match links() {
        Ok(links) => links.into_iter().filter_map(select).collect(),
        Err(e) => {
            log::warn!("cannot list network interfaces: {e}");
            Vec::new()
        }
    }
}

/// Every interface of this network namespace, usable or not, in the kernel's order
/// (`purr doctor` shows them all: a VPN without multicast is worth naming).
pub fn links() -> Result<Vec<Link>, nix::Error> {
    let addrs = nix::ifaddrs::getifaddrs()?;
    // One entry per (interface, address), plus one without an IP address per interface:
    // group them by name, in the order the names first appear.
    let mut links: Vec<Link> = Vec::new();
    for a in addrs {
        let pos = match links.iter().position(|l| l.name == a.interface_name) {
            Some(p) => p,
            None => {
                let flags = a.flags;
                use nix::net::if_::InterfaceFlags as F;
                links.push(Link {
                    index: nix::net::if_::if_nametoindex(a.interface_name.as_str()).unwrap_or(0),
                    name: a.interface_name.clone(),
                    up: flags.contains(F::IFF_UP),
                    running: flags.contains(F::IFF_RUNNING),
                    loopback: flags.contains(F::IFF_LOOPBACK),
                    multicast: flags.contains(F::IFF_MULTICAST),
                    v4: Vec::new(),
                    v6: Vec::new(),
                });
                links.len() - 1
            }
        };
        let Some(addr) = a.address else { continue };
        if let Some(v4) = addr.as_sockaddr_in() {
            links[pos].v4.push(v4.ip());
        } else if let Some(v6) = addr.as_sockaddr_in6() {
            links[pos].v6.push(v6.ip());
        }
    }
    Ok(links)
}

/// SPEC §4's rule for one interface. An IPv4 address that is not link-local
/// (169.254/16) is preferred as the `IP_MULTICAST_IF` handle only because it is the one a
/// person would recognise in a log; any address of the interface names it.
pub fn select(link: Link) -> Option<Iface> {
    if !link.up || link.loopback || !link.multicast || link.index == 0 {
        return None;
    }
    let v4 = link
        .v4
        .iter()
        .find(|a| !a.is_link_local())
        .or(link.v4.first())
        .copied();
    let v6 = !link.v6.is_empty();
    if v4.is_none() && !v6 {
        return None;
    }
    Some(Iface {
        index: link.index,
        name: link.name,
        v4,
        v6,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eth() -> Link {
        Link {
            index: 2,
            name: "eth0".into(),
            up: true,
            running: true,
            loopback: false,
            multicast: true,
            v4: vec![Ipv4Addr::new(10, 0, 0, 2)],
            v6: vec!["fe80::1".parse().unwrap()],
        }
    }

    #[test]
    fn an_ordinary_lan_interface_is_used_for_both_families() {
        assert_eq!(
            select(eth()),
            Some(Iface {
                index: 2,
                name: "eth0".into(),
                v4: Some(Ipv4Addr::new(10, 0, 0, 2)),
                v6: true,
            })
        );
    }

    #[test]
    fn loopback_down_and_non_multicast_interfaces_are_skipped() {
        assert_eq!(
            select(Link {
                loopback: true,
                ..eth()
            }),
            None
        );
        assert_eq!(select(Link { up: false, ..eth() }), None);
        // A WireGuard-style tunnel: up, point-to-point, no IFF_MULTICAST.
        assert_eq!(
            select(Link {
                multicast: false,
                ..eth()
            }),
            None
        );
        assert_eq!(select(Link { index: 0, ..eth() }), None);
    }

    #[test]
    fn an_interface_without_addresses_is_skipped() {
        let bare = Link {
            v4: vec![],
            v6: vec![],
            ..eth()
        };
        assert_eq!(select(bare), None);
    }

    #[test]
    fn families_follow_the_addresses() {
        let v6_only = select(Link {
            v4: vec![],
            ..eth()
        })
        .unwrap();
        assert_eq!((v6_only.v4, v6_only.v6), (None, true));
        let v4_only = select(Link {
            v6: vec![],
            ..eth()
        })
        .unwrap();
        assert_eq!(v4_only.v4, Some(Ipv4Addr::new(10, 0, 0, 2)));
        assert!(!v4_only.v6);
    }

    #[test]
    fn a_routable_ipv4_address_is_preferred_over_link_local() {
        let link = Link {
            v4: vec![Ipv4Addr::new(169, 254, 3, 4), Ipv4Addr::new(192, 168, 1, 9)],
            ..eth()
        };
        assert_eq!(
            select(link).unwrap().v4,
            Some(Ipv4Addr::new(192, 168, 1, 9))
        );
        let only_ll = Link {
            v4: vec![Ipv4Addr::new(169, 254, 3, 4)],
            ..eth()
        };
        assert_eq!(
            select(only_ll).unwrap().v4,
            Some(Ipv4Addr::new(169, 254, 3, 4))
        );
    }
}
