//! DNS-SD over mDNS without a second responder (issue 20.5): purr never binds UDP 5353
//! (Avahi or systemd-resolved holds it on most desktops). Publishing is left to Avahi,
//! through the service file `purr avahi-service` prints; browsing is a one-shot query
//! (RFC 6762 §5.1) from an ephemeral port, which a responder answers by unicast to that
//! port (a "legacy unicast" answer, §6.7). No I/O here: the query's bytes and the answer's
//! parsing; the discovery thread owns the socket.
//!
//! ```text
//!   query  (id, QD=1)  _purr._tcp.local PTR IN           ──▶ 224.0.0.251:5353
//!   answer (same id)   _purr._tcp.local PTR <instance>     ◀── from port 5353
//!                      <instance> SRV 0 0 <port> <host>.local
//!                      <instance> TXT "id=<64 hex>" ...
//!                      <host>.local A / AAAA <address>
//!   ──▶ Found { id, addrs: (A/AAAA, or the answer's source) × SRV port }
//! ```
//!
//! An answer is untrusted bytes from anyone on the link: it is parsed by `simple-dns`
//! (bounded names, compression pointers only backwards), then only what names our
//! service is looked at, bounded in count ([`MAX_INSTANCES`], [`MAX_ADDRS`]); the id must
//! be 64 lowercase hex. What comes out is a hint for the dialer, like a beacon: the
//! handshake alone proves who answers at an address.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use simple_dns::rdata::RData;
use simple_dns::{Name, Packet};

use crate::identity::NodeId;

/// The service type purr's Avahi service file publishes (docs/PROTOCOL.md).
pub const SERVICE: &str = "_purr._tcp.local";
/// The mDNS group and port (RFC 6762).
pub const GROUP_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 251);
pub const MDNS_PORT: u16 = 5353;
/// Instances taken from one answer; the rest are ignored.
pub const MAX_INSTANCES: usize = 16;
/// Addresses taken per instance.
pub const MAX_ADDRS: usize = 4;
/// The TXT key holding the node id.
pub const TXT_ID: &str = "id";

/// A purr node named in an mDNS answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub id: NodeId,
    /// Where to dial it: its host's addresses with the SRV port.
    pub addrs: Vec<SocketAddr>,
}

/// Why an answer was not used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MdnsError {
    #[error("not a DNS message: {0}")]
    Malformed(String),
    #[error("a query, not an answer")]
    NotAnAnswer,
    #[error("answers query {got}, not ours ({want})")]
    OtherQuery { got: u16, want: u16 },
}

/// The one-shot query for `_purr._tcp.local` PTR, with message id `id`: a fixed message
/// (RFC 1035 §4.1), written out here rather than built with the crate's writer, which
/// would bring its serialiser into the binary for 34 bytes that never change.
pub fn query(id: u16) -> Vec<u8> {
    let mut q = Vec::with_capacity(34);
    q.extend_from_slice(&id.to_be_bytes());
    // Flags 0 (a standard query), one question, no other records.
    q.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in SERVICE.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    // QTYPE PTR (12), QCLASS IN (1) with the unicast-response bit clear: the answer
    // comes back by unicast anyway, since we do not ask from port 5353.
    q.extend_from_slice(&[0, 12, 0, 1]);
    q
}

/// Lower-case text of a name, for comparisons (DNS names are case-insensitive).
fn text(name: &Name<'_>) -> String {
    name.to_string().to_ascii_lowercase()
}

/// The purr nodes an answer to query `want` names. `from` is where the answer came from:
/// the address used for an instance whose host has no A/AAAA record in the answer.
pub fn parse(datagram: &[u8], want: u16, from: IpAddr) -> Result<Vec<Found>, MdnsError> {
    let packet = Packet::parse(datagram).map_err(|e| MdnsError::Malformed(e.to_string()))?;
    if !packet.has_flags(simple_dns::PacketFlag::RESPONSE) {
        return Err(MdnsError::NotAnAnswer);
    }
    if packet.id() != want {
        return Err(MdnsError::OtherQuery {
            got: packet.id(),
            want,
        });
    }
    let records: Vec<&simple_dns::ResourceRecord<'_>> = packet
        .answers
        .iter()
        .chain(&packet.additional_records)
        .collect();
    let service = SERVICE.to_string();
    let mut instances: Vec<String> = Vec::new();
    for r in &records {
        if let RData::PTR(ptr) = &r.rdata {
            let target = text(&ptr.0);
            if text(&r.name) == service
                && !instances.contains(&target)
                && instances.len() < MAX_INSTANCES
            {
                instances.push(target);
            }
        }
    }
    let mut found = Vec::new();
    for instance in instances {
        let mut id = None;
        let mut srv = None;
        for r in records.iter().filter(|r| text(&r.name) == instance) {
            match &r.rdata {
                RData::SRV(s) if srv.is_none() && s.port != 0 => {
                    srv = Some((text(&s.target), s.port));
                }
                RData::TXT(t) if id.is_none() => id = txt_id(t),
                _ => {}
            }
        }
        let (Some(id), Some((host, port))) = (id, srv) else {
            continue;
        };
        let mut addrs: Vec<SocketAddr> = Vec::new();
        for r in records.iter().filter(|r| text(&r.name) == host) {
            let ip = match &r.rdata {
                RData::A(a) => IpAddr::from(Ipv4Addr::from(a.address)),
                RData::AAAA(a) => IpAddr::from(std::net::Ipv6Addr::from(a.address)),
                _ => continue,
            };
            let addr = SocketAddr::new(ip, port);
            if dialable(ip) && !addrs.contains(&addr) && addrs.len() < MAX_ADDRS {
                addrs.push(addr);
            }
        }
        if addrs.is_empty() && dialable(from) {
            addrs.push(SocketAddr::new(from, port));
        }
        if !addrs.is_empty() {
            found.push(Found { id, addrs });
        }
    }
    Ok(found)
}

/// An address one can dial without more context: not unspecified, multicast, or an IPv6
/// link-local one (which needs the interface the answer does not name).
fn dialable(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => !a.is_unspecified() && !a.is_multicast() && !a.is_broadcast(),
        IpAddr::V6(a) => {
            !a.is_unspecified() && !a.is_multicast() && (a.segments()[0] & 0xffc0) != 0xfe80
        }
    }
}

/// `id=<64 lowercase hex>` in a TXT record; anything else is no id.
fn txt_id(t: &simple_dns::rdata::TXT<'_>) -> Option<NodeId> {
    t.iter_raw().find_map(|(key, value)| {
        if !key.eq_ignore_ascii_case(TXT_ID.as_bytes()) {
            return None;
        }
        let value = std::str::from_utf8(value?).ok()?;
        if value.len() != 64
            || !value
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return None;
        }
        crate::hex::decode_array::<32>(value).ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use simple_dns::rdata::{PTR, SRV, TXT};
    use simple_dns::{ResourceRecord, CLASS, TYPE};

    const HEX: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    /// An answer as Avahi writes it for purr's service file.
    fn answer(id: u16, txt: &str, with_a: bool) -> Vec<u8> {
        let mut p = Packet::new_reply(id);
        let instance = Name::new_unchecked("purr on box._purr._tcp.local");
        p.answers.push(ResourceRecord::new(
            Name::new_unchecked(SERVICE),
            CLASS::IN,
            10,
            RData::PTR(PTR(instance.clone())),
        ));
        p.additional_records.push(ResourceRecord::new(
            instance.clone(),
            CLASS::IN,
            10,
            RData::SRV(SRV {
                priority: 0,
                weight: 0,
                port: 35035,
                target: Name::new_unchecked("box.local"),
            }),
        ));
        let t = TXT::new().with_string(txt).unwrap();
        p.additional_records
            .push(ResourceRecord::new(instance, CLASS::IN, 10, RData::TXT(t)));
        if with_a {
            p.additional_records.push(ResourceRecord::new(
                Name::new_unchecked("Box.local"),
                CLASS::IN,
                10,
                RData::A(simple_dns::rdata::A {
                    address: u32::from(Ipv4Addr::new(10, 5, 0, 2)),
                }),
            ));
        }
        p.build_bytes_vec().unwrap()
    }

    fn src() -> IpAddr {
        IpAddr::from([10, 5, 0, 9])
    }

    #[test]
    fn the_query_asks_for_purrs_ptr_records() {
        let q = query(0x1234);
        assert_eq!(q.len(), 34);
        let p = Packet::parse(&q).unwrap();
        assert_eq!(p.id(), 0x1234);
        assert!(!p.has_flags(simple_dns::PacketFlag::RESPONSE));
        assert_eq!(p.questions.len(), 1);
        assert_eq!(p.questions[0].qname.to_string(), SERVICE);
        assert_eq!(p.questions[0].qtype, TYPE::PTR.into());
    }

    #[test]
    fn an_avahi_answer_gives_the_id_and_the_address() {
        let found = parse(&answer(7, &format!("id={HEX}"), true), 7, src()).unwrap();
        let id = crate::hex::decode_array::<32>(HEX).unwrap();
        assert_eq!(
            found,
            [Found {
                id,
                addrs: vec!["10.5.0.2:35035".parse().unwrap()]
            }]
        );
        // No A record: the answer's source address, with the SRV port.
        let found = parse(&answer(7, &format!("id={HEX}"), false), 7, src()).unwrap();
        assert_eq!(found[0].addrs, ["10.5.0.9:35035".parse().unwrap()]);
    }

    #[test]
    fn answers_without_a_valid_id_or_to_another_query_are_not_used() {
        for bad in [
            "id=".to_string(),
            "id".to_string(),
            format!("id={}", HEX.to_uppercase()),
            format!("id={}", &HEX[1..]),
            format!("id={HEX}0"),
            format!("di={HEX}"),
        ] {
            assert_eq!(parse(&answer(7, &bad, true), 7, src()), Ok(vec![]), "{bad}");
        }
        assert_eq!(
            parse(&answer(7, &format!("id={HEX}"), true), 8, src()),
            Err(MdnsError::OtherQuery { got: 7, want: 8 })
        );
        assert_eq!(parse(&query(7), 7, src()), Err(MdnsError::NotAnAnswer));
        assert!(matches!(
            parse(&[0u8; 5], 0, src()),
            Err(MdnsError::Malformed(_))
        ));
    }

    #[test]
    fn many_instances_are_bounded() {
        let mut p = Packet::new_reply(1);
        let names: Vec<String> = (0..100).map(|i| format!("n{i}._purr._tcp.local")).collect();
        let hex: Vec<String> = (0..100u8).map(|i| crate::hex::encode(&[i; 32])).collect();
        let txts: Vec<String> = hex.iter().map(|h| format!("id={h}")).collect();
        for (name, txt) in names.iter().zip(&txts) {
            let n = Name::new_unchecked(name);
            p.answers.push(ResourceRecord::new(
                Name::new_unchecked(SERVICE),
                CLASS::IN,
                10,
                RData::PTR(PTR(n.clone())),
            ));
            p.additional_records.push(ResourceRecord::new(
                n.clone(),
                CLASS::IN,
                10,
                RData::SRV(SRV {
                    priority: 0,
                    weight: 0,
                    port: 1,
                    target: Name::new_unchecked("h.local"),
                }),
            ));
            p.additional_records.push(ResourceRecord::new(
                n,
                CLASS::IN,
                10,
                RData::TXT(TXT::new().with_string(txt).unwrap()),
            ));
        }
        for i in 0..50u32 {
            p.additional_records.push(ResourceRecord::new(
                Name::new_unchecked("h.local"),
                CLASS::IN,
                10,
                RData::A(simple_dns::rdata::A {
                    address: 0x0a00_0001 + i,
                }),
            ));
        }
        let bytes = p.build_bytes_vec().unwrap();
        let found = parse(&bytes, 1, src()).unwrap();
        assert_eq!(found.len(), MAX_INSTANCES);
        assert!(found.iter().all(|f| f.addrs.len() == MAX_ADDRS));
    }

    #[test]
    fn link_local_and_odd_addresses_are_not_dialled() {
        assert!(!dialable("fe80::1".parse().unwrap()));
        assert!(!dialable("0.0.0.0".parse().unwrap()));
        assert!(!dialable("224.0.0.251".parse().unwrap()));
        assert!(dialable("fd00::5".parse().unwrap()));
        assert!(dialable("192.168.1.4".parse().unwrap()));
    }
}
