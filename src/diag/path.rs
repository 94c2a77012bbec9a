//! How a connected peer is reached, in words (issue 20, point 6): `LAN 192.168.1.20`,
//! `loopback 127.0.0.1`, `VPN tailscale0 100.101.1.2`.
//!
//! The words come from the connection's two ends: the peer's address (what is shown) and
//! our local address, whose interface says whether the traffic goes over a VPN or a
//! container bridge. [`describe`] reads the local address and the interface list
//! (`getifaddrs`, a netlink round trip) once per connection, on the connection's own
//! thread before it reports `PeerUp`: the state thread only stores the string. [`name`]
//! is the pure rule, tested without a network.
//!
//! ```text
//!   socket ──local_addr──▶ interface holding that address ──kind──┐
//!          ──peer_addr ─────────────────────────────────────────┴─▶ name() ─▶ "VPN wg0 10.8.0.2"
//! ```

use std::net::{IpAddr, SocketAddr, TcpStream};

use super::IfaceKind;
use crate::discovery::ifaces::Link;

/// The path of a connection whose socket is `stream` and whose remote end is `remote`.
/// Falls back to naming the remote address alone when the local one or the interface
/// list cannot be read.
pub fn describe(stream: &TcpStream, remote: SocketAddr) -> String {
    let local = stream.local_addr().ok().map(crate::net::canonical);
    let links = crate::discovery::ifaces::links().unwrap_or_default();
    let iface = local.and_then(|l| iface_of(&links, l.ip()));
    name(remote.ip(), iface.map(|l| (l.name.as_str(), kind(l))))
}

/// The interface that holds `ip` (our end of a connection).
pub fn iface_of(links: &[Link], ip: IpAddr) -> Option<&Link> {
    links.iter().find(|l| match ip {
        IpAddr::V4(v4) => l.v4.contains(&v4),
        IpAddr::V6(v6) => l.v6.contains(&v6),
    })
}

fn kind(link: &Link) -> IfaceKind {
    IfaceKind::guess(&link.name, link.loopback)
}

/// The words for a path: the remote address (IPv4-mapped folded to IPv4), prefixed by
/// what carries it. `iface` is our interface's name and kind, when known.
pub fn name(remote: IpAddr, iface: Option<(&str, IfaceKind)>) -> String {
    let ip = crate::net::canonical(SocketAddr::new(remote, 0)).ip();
    if crate::net::is_loopback(ip) {
        return format!("loopback {ip}");
    }
    match iface {
        Some((_, IfaceKind::Loopback)) => format!("loopback {ip}"),
        Some((name, IfaceKind::Vpn)) => format!("VPN {name} {ip}"),
        Some((name, IfaceKind::Container)) => format!("container {name} {ip}"),
        // Ethernet and Wi-Fi, or an interface we could not find: the LAN.
        _ => format!("LAN {ip}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn paths_are_named_by_the_local_interface_and_the_remote_address() {
        let eth = Some(("eth0", IfaceKind::Ethernet));
        assert_eq!(name(ip("192.168.1.20"), eth), "LAN 192.168.1.20");
        assert_eq!(
            name(ip("192.168.1.20"), Some(("wlp3s0", IfaceKind::Wifi))),
            "LAN 192.168.1.20"
        );
        assert_eq!(name(ip("192.168.1.20"), None), "LAN 192.168.1.20");
        assert_eq!(
            name(ip("100.101.1.2"), Some(("tailscale0", IfaceKind::Vpn))),
            "VPN tailscale0 100.101.1.2"
        );
        assert_eq!(
            name(ip("10.8.0.2"), Some(("wg0", IfaceKind::Vpn))),
            "VPN wg0 10.8.0.2"
        );
        assert_eq!(
            name(ip("172.17.0.2"), Some(("docker0", IfaceKind::Container))),
            "container docker0 172.17.0.2"
        );
        assert_eq!(name(ip("127.0.0.1"), eth), "loopback 127.0.0.1");
        assert_eq!(name(ip("::1"), None), "loopback ::1");
        // A dual-stack listener reports IPv4 clients as IPv4-mapped IPv6.
        assert_eq!(name(ip("::ffff:127.0.0.1"), None), "loopback 127.0.0.1");
        assert_eq!(name(ip("::ffff:10.0.0.7"), eth), "LAN 10.0.0.7");
        assert_eq!(name(ip("fe80::2"), eth), "LAN fe80::2");
    }

    #[test]
    fn the_local_address_finds_its_interface() {
        let links = vec![
            Link {
                name: "lo".into(),
                loopback: true,
                v4: vec![Ipv4Addr::LOCALHOST],
                ..Default::default()
            },
            Link {
                name: "tailscale0".into(),
                v4: vec![Ipv4Addr::new(100, 64, 0, 1)],
                v6: vec!["fd7a:115c::1".parse().unwrap()],
                ..Default::default()
            },
        ];
        let found = |s: &str| iface_of(&links, ip(s)).map(|l| (l.name.clone(), kind(l)));
        assert_eq!(
            found("100.64.0.1"),
            Some(("tailscale0".into(), IfaceKind::Vpn))
        );
        assert_eq!(
            found("fd7a:115c::1"),
            Some(("tailscale0".into(), IfaceKind::Vpn))
        );
        assert_eq!(found("127.0.0.1"), Some(("lo".into(), IfaceKind::Loopback)));
        assert_eq!(found("10.0.0.1"), None);
    }
}
