//! Property tests of the mDNS answer parser (issue 20.5): an answer is untrusted bytes
//! from anyone on the link, read on a socket any host can send to. Arbitrary datagrams
//! (with and without a plausible DNS header), and valid answers with bytes changed, cut
//! or compression pointers aimed anywhere, never panic or hang it, and what it returns
//! stays within its bounds.

use std::net::{IpAddr, Ipv4Addr};

use proptest::collection::vec;
use proptest::prelude::*;
use purr::discovery::mdns::{parse, Found, MAX_ADDRS, MAX_INSTANCES, SERVICE};
use simple_dns::rdata::{RData, A, PTR, SRV, TXT};
use simple_dns::{Name, Packet, ResourceRecord, CLASS};

const FROM: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 5, 0, 9));

/// A valid answer naming `n` instances, as a responder writes it (compressed names).
fn answer(id: u16, n: usize) -> Vec<u8> {
    let names: Vec<String> = (0..n).map(|i| format!("p{i}._purr._tcp.local")).collect();
    let txts: Vec<String> = (0..n)
        .map(|i| format!("id={}", purr::hex::encode(&[i as u8; 32])))
        .collect();
    let mut p = Packet::new_reply(id);
    for (name, txt) in names.iter().zip(&txts) {
        let inst = Name::new_unchecked(name);
        p.answers.push(ResourceRecord::new(
            Name::new_unchecked(SERVICE),
            CLASS::IN,
            120,
            RData::PTR(PTR(inst.clone())),
        ));
        p.additional_records.push(ResourceRecord::new(
            inst.clone(),
            CLASS::IN,
            120,
            RData::SRV(SRV {
                priority: 0,
                weight: 0,
                port: 35035,
                target: Name::new_unchecked("box.local"),
            }),
        ));
        p.additional_records.push(ResourceRecord::new(
            inst,
            CLASS::IN,
            120,
            RData::TXT(TXT::new().with_string(txt).expect("txt")),
        ));
    }
    p.additional_records.push(ResourceRecord::new(
        Name::new_unchecked("box.local"),
        CLASS::IN,
        120,
        RData::A(A {
            address: u32::from(Ipv4Addr::new(10, 5, 0, 2)),
        }),
    ));
    p.build_bytes_vec_compressed().expect("build")
}

fn bounded(found: &[Found]) -> Result<(), TestCaseError> {
    prop_assert!(found.len() <= MAX_INSTANCES);
    for f in found {
        prop_assert!(!f.addrs.is_empty() && f.addrs.len() <= MAX_ADDRS);
    }
    Ok(())
}

#[test]
fn the_valid_answer_parses() {
    let found = parse(&answer(9, 3), 9, FROM).expect("parses");
    assert_eq!(found.len(), 3);
    assert_eq!(found[1].id, [1u8; 32]);
    assert_eq!(found[1].addrs, ["10.5.0.2:35035".parse().unwrap()]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3_000))]

    #[test]
    fn arbitrary_datagrams_never_panic(bytes in vec(any::<u8>(), 0..1500)) {
        if let Ok(found) = parse(&bytes, 0, FROM) {
            bounded(&found)?;
        }
    }

    #[test]
    fn arbitrary_records_behind_a_plausible_header_never_panic(
        id in any::<u16>(),
        counts in any::<[u8; 4]>(),
        body in vec(any::<u8>(), 0..1200),
    ) {
        // A response header with our id and small counts, so the parser gets to records.
        let mut bytes = id.to_be_bytes().to_vec();
        bytes.extend_from_slice(&[0x84, 0x00]);
        for c in counts {
            bytes.extend_from_slice(&[0, c % 40]);
        }
        bytes.extend_from_slice(&body);
        if let Ok(found) = parse(&bytes, id, FROM) {
            bounded(&found)?;
        }
    }

    #[test]
    fn a_damaged_answer_never_panics(
        n in 0usize..40,
        edits in vec((any::<usize>(), any::<u8>()), 1..8),
        pointers in vec((any::<usize>(), any::<u8>()), 0..3),
        cut in any::<Option<usize>>(),
    ) {
        let mut bytes = answer(7, n);
        let len = bytes.len();
        for (at, byte) in edits {
            bytes[at % len] = byte;
        }
        // Compression pointers (0xC0 | offset) aimed anywhere, loops included.
        for (at, to) in pointers {
            let at = at % (len - 1);
            bytes[at] = 0xc0;
            bytes[at + 1] = to;
        }
        if let Some(c) = cut {
            bytes.truncate(c % (len + 1));
        }
        if let Ok(found) = parse(&bytes, 7, FROM) {
            bounded(&found)?;
        }
    }
}
