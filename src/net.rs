//! Address classification: what counts as "this machine" (SPEC §2).
//!
//! Loopback is decided on parsed `IpAddr`s, never on strings: `127.0.0.0/8`, `::1`, and
//! the IPv4-mapped forms of 127/8 (`::ffff:127.x.y.z`, which a dual-stack socket reports
//! for IPv4 clients). Nothing else, in particular not `::ffff:10.0.0.1`.

use std::net::{IpAddr, SocketAddr};

/// True when `ip` is on this machine's loopback (SPEC §2 definition).
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.is_loopback(),
            None => v6.is_loopback(),
        },
    }
}

/// The address as the peer sees it, with IPv4-mapped IPv6 folded back to IPv4 so logs
/// and peer lists show `10.0.0.2:5000`, not `[::ffff:10.0.0.2]:5000`.
pub fn canonical(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), v6.port()),
            None => addr,
        },
        SocketAddr::V4(_) => addr,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn loopback_v4_whole_slash_8() {
        assert!(is_loopback(ip("127.0.0.1")));
        assert!(is_loopback(ip("127.255.0.9")));
        assert!(!is_loopback(ip("128.0.0.1")));
        assert!(!is_loopback(ip("10.0.0.1")));
        assert!(!is_loopback(ip("0.0.0.0")));
    }

    #[test]
    fn loopback_v6_and_mapped() {
        assert!(is_loopback(ip("::1")));
        assert!(is_loopback(ip("::ffff:127.0.0.1")));
        assert!(is_loopback(ip("::ffff:127.1.2.3")));
        assert!(!is_loopback(ip("::ffff:10.0.0.1")));
        assert!(!is_loopback(ip("::")));
        assert!(!is_loopback(ip("fe80::1")));
        // IPv4-compatible (deprecated) ::127.0.0.1 is not loopback.
        assert!(!is_loopback(ip("::7f00:1")));
    }

    #[test]
    fn canonical_unmaps() {
        let a: SocketAddr = "[::ffff:10.0.0.2]:5000".parse().unwrap();
        assert_eq!(canonical(a), "10.0.0.2:5000".parse::<SocketAddr>().unwrap());
        let b: SocketAddr = "[fe80::1]:5000".parse().unwrap();
        assert_eq!(canonical(b), b);
    }
}
