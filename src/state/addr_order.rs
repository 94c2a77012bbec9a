//! In which order a peer's addresses are tried (issue 20, point 3): LAN first, then VPN,
//! then the rest. A LAN address answers fastest when both ends are on it; a VPN one
//! works from anywhere but costs a tunnel; a public or unknown one comes last.
//!
//! The kind of an address is what its owner announced (`ADDR`, `peer::addrs`) or a
//! `LIST` carried; for an address we only saw (a connection, a beacon, a stored one)
//! it is [`guess`]ed from the address. Pure: the dialer's limits (backoff per address
//! and per id, one dial per id at a time, 8 automatic dials in flight) apply to
//! whatever order this gives.
//!
//! ```text
//!   seen (most recent first) ─┐
//!   announced (peer's order) ─┴─▶ one entry per address ─▶ sorted by kind (stable) ─▶ dial order
//! ```

use std::net::{IpAddr, SocketAddr};

use crate::peer::addrs::{AddrKind, Announced};

/// The kind of an address nobody announced, from the address alone: private, link-local
/// and loopback ranges are the LAN; the shared range 100.64.0.0/10 (Tailscale and
/// carrier NAT) and Tailscale's IPv6 prefix fd7a:115c:a1e0::/48 are VPN; the rest is
/// other. A guess: a WireGuard network in 10/8 reads as LAN until its owner says so.
pub fn guess(ip: IpAddr) -> AddrKind {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            if a == 100 && (64..128).contains(&b) {
                AddrKind::Vpn
            } else if v4.is_private() || v4.is_link_local() || v4.is_loopback() {
                AddrKind::Lan
            } else {
                AddrKind::Other
            }
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            if s[0] == 0xfd7a && s[1] == 0x115c && s[2] == 0xa1e0 {
                AddrKind::Vpn
            } else if v6.is_unique_local() || v6.is_unicast_link_local() || v6.is_loopback() {
                AddrKind::Lan
            } else {
                AddrKind::Other
            }
        }
    }
}

/// Every address of a peer once, in the order to try them, each with its kind: by kind
/// (LAN, VPN, other), and within a kind the `seen` ones (most recent first, as given)
/// before the `announced` ones (in the peer's order). A seen address the peer also
/// announced takes the announced kind.
pub fn dial_order(seen: &[SocketAddr], announced: &[Announced]) -> Vec<(SocketAddr, AddrKind)> {
    let mut all: Vec<(SocketAddr, AddrKind)> = Vec::with_capacity(seen.len() + announced.len());
    for addr in seen {
        let addr = crate::net::canonical(*addr);
        if all.iter().any(|(a, _)| *a == addr) {
            continue;
        }
        let kind = announced
            .iter()
            .find(|a| a.addr == addr)
            .map_or_else(|| guess(addr.ip()), |a| a.kind);
        all.push((addr, kind));
    }
    for a in announced {
        let addr = crate::net::canonical(a.addr);
        if !all.iter().any(|(known, _)| *known == addr) {
            all.push((addr, a.kind));
        }
    }
    // Stable: the order within a kind is kept.
    all.sort_by_key(|(_, kind)| *kind);
    all
}

/// The addresses of a `LIST` entry with their kinds: `kinds` if it has one per address
/// (a sender since 2026-12), else guessed.
pub fn listed(addrs: &[SocketAddr], kinds: &[AddrKind]) -> Vec<Announced> {
    addrs
        .iter()
        .enumerate()
        .map(|(i, addr)| Announced {
            addr: *addr,
            kind: match kinds.len() == addrs.len() {
                true => kinds[i],
                false => guess(addr.ip()),
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn ann(s: &str, kind: AddrKind) -> Announced {
        Announced { addr: sa(s), kind }
    }

    #[test]
    fn guesses_name_private_ranges_lan_and_tailscale_ranges_vpn() {
        let g = |s: &str| guess(s.parse().unwrap());
        for lan in [
            "192.168.1.20",
            "10.8.0.2",
            "172.16.0.1",
            "169.254.3.4",
            "127.0.0.1",
            "fd00::1",
            "fe80::1",
            "::ffff:192.168.1.2",
        ] {
            assert_eq!(g(lan), AddrKind::Lan, "{lan}");
        }
        for vpn in [
            "100.64.0.1",
            "100.101.1.2",
            "100.127.255.1",
            "fd7a:115c:a1e0::5",
        ] {
            assert_eq!(g(vpn), AddrKind::Vpn, "{vpn}");
        }
        for other in ["100.63.0.1", "100.128.0.1", "8.8.8.8", "2001:db8::1"] {
            assert_eq!(g(other), AddrKind::Other, "{other}");
        }
    }

    #[test]
    fn lan_comes_first_then_vpn_then_the_rest_seen_before_announced_within_a_kind() {
        let seen = [sa("203.0.113.7:35035"), sa("192.168.1.20:35035")];
        let announced = [
            ann("100.101.1.2:35035", AddrKind::Vpn),
            ann("10.9.0.2:35035", AddrKind::Lan),
            ann("192.168.1.20:35035", AddrKind::Lan),
            // Announced as VPN although it looks like a LAN address: the owner knows.
            ann("10.8.0.2:35035", AddrKind::Vpn),
            ann("[2001:db8::2]:35035", AddrKind::Other),
        ];
        let order: Vec<String> = dial_order(&seen, &announced)
            .iter()
            .map(|(a, k)| format!("{a} {}", k.as_str()))
            .collect();
        assert_eq!(
            order,
            [
                "192.168.1.20:35035 lan",
                "10.9.0.2:35035 lan",
                "100.101.1.2:35035 vpn",
                "10.8.0.2:35035 vpn",
                "203.0.113.7:35035 other",
                "[2001:db8::2]:35035 other",
            ]
        );
    }

    #[test]
    fn a_seen_address_announced_as_vpn_takes_that_kind_and_twins_count_once() {
        let seen = [sa("10.8.0.2:35035"), sa("[::ffff:10.8.0.2]:35035")];
        let announced = [
            ann("10.8.0.2:35035", AddrKind::Vpn),
            ann("192.168.1.20:35035", AddrKind::Lan),
        ];
        assert_eq!(
            dial_order(&seen, &announced),
            [
                (sa("192.168.1.20:35035"), AddrKind::Lan),
                (sa("10.8.0.2:35035"), AddrKind::Vpn)
            ]
        );
    }

    #[test]
    fn listed_kinds_count_only_with_one_per_address() {
        let addrs = [sa("10.8.0.2:1"), sa("100.64.0.9:1")];
        let with = listed(&addrs, &[AddrKind::Vpn, AddrKind::Lan]);
        assert_eq!(
            with.iter().map(|a| a.kind).collect::<Vec<_>>(),
            [AddrKind::Vpn, AddrKind::Lan]
        );
        let without = listed(&addrs, &[AddrKind::Vpn]);
        assert_eq!(
            without.iter().map(|a| a.kind).collect::<Vec<_>>(),
            [AddrKind::Lan, AddrKind::Vpn],
            "guessed"
        );
    }
}
