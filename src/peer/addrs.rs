//! Address announcements (`ADDR`, capability `addr`; issue 20, point 3): a node tells
//! each peer every address it can be reached at, each with what carries it, so that a
//! peer that loses one path (a laptop leaving the office LAN for a VPN) redials it on
//! another without anyone typing an address.
//!
//! ```text
//!   ADDR  {"addrs":[{"addr":"192.168.1.20:35035","kind":"lan"},
//!                   {"addr":"100.101.1.2:35035","kind":"vpn"}]}
//! ```
//!
//! An announcement is a hint like a beacon: it proves nothing (the handshake proves who
//! answers at an address), and a receiver keeps only what it could dial. This module is
//! the body (bounded while parsing: at most [`MAX_ANNOUNCED`] entries, the rest skipped)
//! and the receiver's rule ([`usable`]); what a node does with it is not this module's.

use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Deserializer, Serialize};

use super::json;

/// Most addresses in one `ADDR` (and kept per peer): every interface of a host, and
/// the `--advertise` ones. A receiver keeps the first this many of a longer one.
pub const MAX_ANNOUNCED: usize = 16;

/// What carries an address, as its owner sees it. The receiver dials `lan` addresses
/// first, then `vpn`, then the rest. A kind this version does not know reads as
/// [`AddrKind::Other`] (forward compatibility).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AddrKind {
    /// Ethernet or Wi-Fi: the local network.
    Lan,
    /// A VPN interface (`tailscale0`, `wg0`, `tun0`, …).
    Vpn,
    /// Anything else (`--advertise` of a public address, an unknown kind).
    #[serde(other)]
    Other,
}

impl AddrKind {
    /// The word on the wire and in `purr doctor`.
    pub fn as_str(self) -> &'static str {
        match self {
            AddrKind::Lan => "lan",
            AddrKind::Vpn => "vpn",
            AddrKind::Other => "other",
        }
    }
}

/// One announced address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Announced {
    /// `a.b.c.d:port` or `[ipv6]:port`; never a host name.
    pub addr: SocketAddr,
    /// What carries it ([`AddrKind::Other`] when absent).
    #[serde(default = "other")]
    pub kind: AddrKind,
}

fn other() -> AddrKind {
    AddrKind::Other
}

/// The body of `ADDR`: every address the sender can be reached at now (an empty list:
/// none it knows of). Each `ADDR` replaces the one before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Addrs {
    /// At most [`MAX_ANNOUNCED`] (a longer list is cut while parsing).
    #[serde(deserialize_with = "de_announced")]
    pub addrs: Vec<Announced>,
}

fn de_announced<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Announced>, D::Error> {
    json::prefix(d, MAX_ANNOUNCED, "announced addresses")
}

/// Whether a receiver may keep and dial an announced address: a port, a unicast IP that
/// is not unspecified (`0.0.0.0`, `::`, `0.x.x.x`), multicast or broadcast; loopback
/// only from a peer on loopback (or a peer could make us dial our own machine's
/// services); and not IPv6 link-local, whose zone would be the sender's interface, not
/// one of ours. The same rule as `LIST` hints ([`super::inner::hint_addr_ok`]), plus
/// the last point.
pub fn usable(addr: &SocketAddr, peer_on_loopback: bool) -> bool {
    let link_local_v6 = match addr.ip().to_canonical() {
        IpAddr::V6(v6) => v6.is_unicast_link_local(),
        IpAddr::V4(_) => false,
    };
    super::inner::hint_addr_ok(addr, peer_on_loopback) && !link_local_v6
}

/// What a receiver keeps of an announcement: the [`usable`] addresses, each once (the
/// first kind given wins), in the sender's order, at most [`MAX_ANNOUNCED`]; and how
/// many it dropped.
pub fn keep(addrs: &[Announced], peer_on_loopback: bool) -> (Vec<Announced>, usize) {
    let mut kept: Vec<Announced> = Vec::with_capacity(addrs.len().min(MAX_ANNOUNCED));
    let mut dropped = 0;
    for a in addrs {
        let canonical = crate::net::canonical(a.addr);
        if !usable(&canonical, peer_on_loopback) || kept.len() >= MAX_ANNOUNCED {
            dropped += 1;
            continue;
        }
        if kept.iter().any(|k| k.addr == canonical) {
            continue;
        }
        kept.push(Announced {
            addr: canonical,
            kind: a.kind,
        });
    }
    (kept, dropped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peer::inner::Inner;

    fn a(s: &str, kind: AddrKind) -> Announced {
        Announced {
            addr: s.parse().unwrap(),
            kind,
        }
    }

    #[test]
    fn an_announcement_round_trips_and_reads_unknown_kinds_as_other() {
        let body = Addrs {
            addrs: vec![
                a("192.168.1.20:35035", AddrKind::Lan),
                a("[fd7a:115c:a1e0::2]:35035", AddrKind::Vpn),
            ],
        };
        let mut out = Vec::new();
        Inner::Addr(body.clone()).encode(&mut out);
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            r#"ADDR{"addrs":[{"addr":"192.168.1.20:35035","kind":"lan"},{"addr":"[fd7a:115c:a1e0::2]:35035","kind":"vpn"}]}"#
        );
        assert_eq!(Inner::parse(&out), Ok(Inner::Addr(body)));
        let later = br#"ADDR{"addrs":[{"addr":"10.0.0.1:1","kind":"satellite","x":1},{"addr":"10.0.0.2:1"}]}"#;
        let Ok(Inner::Addr(parsed)) = Inner::parse(later) else {
            panic!("an unknown kind and a missing one are not malformed");
        };
        assert_eq!(
            parsed.addrs,
            [
                a("10.0.0.1:1", AddrKind::Other),
                a("10.0.0.2:1", AddrKind::Other)
            ]
        );
    }

    #[test]
    fn a_long_announcement_is_cut_while_parsing_and_bad_bodies_are_malformed() {
        let entry = r#"{"addr":"10.0.0.1:1","kind":"lan"}"#;
        let long = format!(r#"ADDR{{"addrs":[{}]}}"#, vec![entry; 5000].join(","));
        let Ok(Inner::Addr(parsed)) = Inner::parse(long.as_bytes()) else {
            panic!("a long list is cut, not refused");
        };
        assert_eq!(parsed.addrs.len(), MAX_ANNOUNCED);
        for bad in [
            &br#"ADDR{"addrs":[{"addr":"host.example:1","kind":"lan"}]}"#[..],
            br#"ADDR{"addrs":[{"addr":"10.0.0.1","kind":"lan"}]}"#,
            br#"ADDR{"addrs":[{"addr":"10.0.0.1:70000"}]}"#,
            br#"ADDR{"addrs":[{"kind":"lan"}]}"#,
            br#"ADDR{"addrs":{}}"#,
            br#"ADDR{}"#,
            br#"ADDR{"addrs":[]} x"#,
            br#"ADDR{"addrs":[{"addr":"10.0.0.1:1","kind":7}]}"#,
        ] {
            assert!(
                Inner::parse(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn a_receiver_keeps_only_dialable_unicast_addresses_once_and_at_most_sixteen() {
        let given = vec![
            a("0.0.0.0:35035", AddrKind::Lan),
            a("[::]:35035", AddrKind::Lan),
            a("224.0.0.1:35035", AddrKind::Lan),
            a("[ff02::1]:35035", AddrKind::Lan),
            a("255.255.255.255:35035", AddrKind::Lan),
            a("0.1.2.3:35035", AddrKind::Lan),
            a("10.0.0.1:0", AddrKind::Lan),
            a("127.0.0.1:35035", AddrKind::Lan),
            a("[fe80::1%2]:35035", AddrKind::Lan),
            a("10.0.0.1:35035", AddrKind::Lan),
            a("[::ffff:10.0.0.1]:35035", AddrKind::Vpn),
            a("100.101.1.2:35035", AddrKind::Vpn),
        ];
        let (kept, dropped) = keep(&given, false);
        assert_eq!(
            kept,
            [
                a("10.0.0.1:35035", AddrKind::Lan),
                a("100.101.1.2:35035", AddrKind::Vpn)
            ],
            "the IPv4-mapped twin is the same address, its first kind wins"
        );
        assert_eq!(dropped, 9);
        let (on_lo, _) = keep(&[a("127.0.0.1:35035", AddrKind::Lan)], true);
        assert_eq!(on_lo.len(), 1, "loopback from a peer on loopback");

        let many: Vec<Announced> = (1..=40)
            .map(|i| a(&format!("10.0.1.{i}:35035"), AddrKind::Lan))
            .collect();
        let (kept, dropped) = keep(&many, false);
        assert_eq!((kept.len(), dropped), (MAX_ANNOUNCED, 40 - MAX_ANNOUNCED));
    }
}
