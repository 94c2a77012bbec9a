//! The UDP sockets of discovery and their options (SPEC §4), set through socket2.
//!
//! ```text
//!   senders   (ephemeral port)  TTL / hop limit 1, loop on, interface chosen per send:
//!     v4 ── IP_MULTICAST_IF <iface addr>  ──▶ 239.255.77.77:35035
//!     v6 ── IPV6_MULTICAST_IF <ifindex>   ──▶ [ff02::7075:7272]:35035
//!   listeners (SO_REUSEADDR + SO_REUSEPORT, so every node on a host hears every beacon)
//!     v4 bound to 239.255.77.77:35035, joined per interface by index
//!     v6 bound to [::]:35035 (v6 only), joined per interface by index
//!     unicast v4 bound to 0.0.0.0:35035, IP_MULTICAST_ALL off: beacons sent to us alone
//!   unicast probes (--scan) go out of the v4 sender, by the routing table
//! ```
//!
//! Loop stays on (the kernel's default, set anyway): nodes on one host find each other
//! through it, and a node hears its own beacons, which it ignores by id. All sockets are
//! non-blocking: the one discovery thread waits in `poll(2)` and must never be stuck in
//! a send.
//!
//! The IPv4 listener is bound to the group address, so the kernel hands it only what is
//! sent to the group. The IPv6 one cannot be: `ff02::` is link-scoped and binding it ties
//! the socket to one interface; it takes `IPV6_MULTICAST_ALL` off instead, so it gets the
//! groups it joined and unicast to the port, which the parser ignores unless valid.

use std::collections::HashSet;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};

use socket2::{Domain, InterfaceIndexOrAddress, Protocol, SockRef, Socket, Type};

/// SPEC §4: the IPv4 group.
pub const GROUP_V4: Ipv4Addr = Ipv4Addr::new(239, 255, 77, 77);
/// SPEC §4: the IPv6 group (link-local scope; `7075:7272` is "purr" in ASCII).
pub const GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0x7075, 0x7272);
/// SPEC §4: the discovery port, whatever the node's TCP `--port`.
pub const PORT: u16 = 35035;

/// IPv4 or IPv6: discovery runs both, each on its own sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    fn domain(self) -> Domain {
        match self {
            Family::V4 => Domain::IPV4,
            Family::V6 => Domain::IPV6,
        }
    }
}

impl std::fmt::Display for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        })
    }
}

fn udp(family: Family) -> io::Result<Socket> {
    let s = Socket::new(family.domain(), Type::DGRAM, Some(Protocol::UDP))?;
    if family == Family::V6 {
        s.set_only_v6(true)?;
    }
    s.set_nonblocking(true)?;
    Ok(s)
}

/// A socket that sends beacons of `family`: hop limit 1, loop on.
pub fn sender(family: Family) -> io::Result<UdpSocket> {
    let s = udp(family)?;
    match family {
        Family::V4 => {
            s.set_multicast_ttl_v4(1)?;
            s.set_multicast_loop_v4(true)?;
        }
        Family::V6 => {
            s.set_multicast_hops_v6(1)?;
            s.set_multicast_loop_v6(true)?;
        }
    }
    Ok(s.into())
}

/// A socket that receives beacons of `family`, shared with other nodes on this host.
/// It hears nothing until [`join`] adds interfaces.
pub fn listener(family: Family) -> io::Result<UdpSocket> {
    let s = udp(family)?;
    s.set_reuse_address(true)?;
    s.set_reuse_port(true)?;
    let addr: SocketAddr = match family {
        Family::V4 => SocketAddrV4::new(GROUP_V4, PORT).into(),
        Family::V6 => {
            s.set_multicast_all_v6(false)?;
            SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, PORT, 0, 0).into()
        }
    };
    s.bind(&addr.into())?;
    Ok(s.into())
}

/// The IPv4 socket that hears beacons sent to one of our addresses (`--scan`, issue
/// 20.4): bound to `0.0.0.0:35035`, shared like the group listener. `IP_MULTICAST_ALL`
/// off, so it gets no multicast at all (the group listener has those), only unicast: a
/// beacon read here was sent to us alone. With several nodes on one host, the kernel
/// hands each unicast datagram to one of them (`SO_REUSEPORT`).
pub fn unicast_listener() -> io::Result<UdpSocket> {
    let s = udp(Family::V4)?;
    s.set_reuse_address(true)?;
    s.set_reuse_port(true)?;
    s.set_multicast_all_v4(false)?;
    s.bind(&SocketAddr::from(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, PORT)).into())?;
    Ok(s.into())
}

/// Sends `beacon` by unicast to `to` on the discovery port (the route decides the way).
pub fn send_unicast(sender: &UdpSocket, to: Ipv4Addr, beacon: &[u8]) -> io::Result<()> {
    sender.send_to(beacon, SocketAddrV4::new(to, PORT))?;
    Ok(())
}

/// The socket for one-shot mDNS queries (RFC 6762 §5.1): an ephemeral port, never
/// 5353, so purr never competes with Avahi for it; answers come back to this port by
/// unicast. TTL 255 as the RFC asks (responders may check it); loop on, so a responder
/// on this host answers too.
pub fn mdns_querier() -> io::Result<UdpSocket> {
    let s = udp(Family::V4)?;
    s.set_multicast_ttl_v4(255)?;
    s.set_multicast_loop_v4(true)?;
    s.bind(&SocketAddr::from(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)).into())?;
    Ok(s.into())
}

/// Sends an mDNS `query` to 224.0.0.251:5353 out of the interface with address `via`.
pub fn send_mdns(sender: &UdpSocket, via: Ipv4Addr, query: &[u8]) -> io::Result<()> {
    SockRef::from(sender).set_multicast_if_v4(&via)?;
    sender.send_to(
        query,
        SocketAddrV4::new(super::mdns::GROUP_V4, super::mdns::MDNS_PORT),
    )?;
    Ok(())
}

/// Joins the group of `family` on interface `index`. Already being a member (an
/// interface that went down and came back) counts as success.
pub fn join(listener: &UdpSocket, family: Family, index: u32) -> io::Result<()> {
    let s = SockRef::from(listener);
    let joined = match family {
        Family::V4 => s.join_multicast_v4_n(&GROUP_V4, &InterfaceIndexOrAddress::Index(index)),
        Family::V6 => s.join_multicast_v6(&GROUP_V6, index),
    };
    match joined {
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => Ok(()),
        other => other,
    }
}

/// Leaves and joins the group of `family` on interface `index` again, so the kernel
/// sends an unsolicited membership report: a switch that snoops IGMP/MLD with no
/// querier on the LAN forgets members after its membership interval (260 s by default)
/// and then stops forwarding the group to them, unless they report again.
pub fn rejoin(listener: &UdpSocket, family: Family, index: u32) -> io::Result<()> {
    let s = SockRef::from(listener);
    let _ = match family {
        Family::V4 => s.leave_multicast_v4_n(&GROUP_V4, &InterfaceIndexOrAddress::Index(index)),
        Family::V6 => s.leave_multicast_v6(&GROUP_V6, index),
    };
    join(listener, family, index)
}

/// Sends `beacon` to the IPv4 group out of the interface that has address `via`.
pub fn send_v4(sender: &UdpSocket, via: Ipv4Addr, beacon: &[u8]) -> io::Result<()> {
    SockRef::from(sender).set_multicast_if_v4(&via)?;
    sender.send_to(beacon, SocketAddrV4::new(GROUP_V4, PORT))?;
    Ok(())
}

/// Sends `beacon` to the IPv6 group out of interface `index`.
pub fn send_v6(sender: &UdpSocket, index: u32, beacon: &[u8]) -> io::Result<()> {
    SockRef::from(sender).set_multicast_if_v6(index)?;
    sender.send_to(beacon, SocketAddrV6::new(GROUP_V6, PORT, 0, index))?;
    Ok(())
}

/// Logs each problem once at `warn` (SPEC/issue: "a warning once per interface, not
/// every 5 s"), and at `debug` when it happens again. Keys name the problem and the
/// interface, e.g. `join IPv6 eth0`.
#[derive(Debug, Default)]
pub struct Warnings {
    warned: HashSet<String>,
}

impl Warnings {
    /// Logs `what` at warn the first time `key` fails, at debug afterwards. Returns
    /// whether this was the first time.
    pub fn warn(&mut self, key: &str, what: std::fmt::Arguments<'_>) -> bool {
        if self.warned.contains(key) {
            log::debug!("LAN discovery: {what}");
            return false;
        }
        self.warned.insert(key.to_string());
        log::warn!("LAN discovery: {what}");
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_groups_are_the_spec_ones() {
        assert_eq!(GROUP_V4.to_string(), "239.255.77.77");
        assert_eq!(GROUP_V6.to_string(), "ff02::7075:7272");
        assert!(GROUP_V4.is_multicast() && GROUP_V6.is_multicast());
        assert_eq!(&GROUP_V6.octets()[12..], b"purr");
    }

    #[test]
    fn each_problem_is_warned_once() {
        let mut w = Warnings::default();
        assert!(w.warn("send IPv4 eth0", format_args!("x")));
        assert!(!w.warn("send IPv4 eth0", format_args!("x")));
        assert!(w.warn("send IPv6 eth0", format_args!("x")));
        assert!(w.warn("send IPv4 eth1", format_args!("x")));
    }
}
