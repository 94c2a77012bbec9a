//! Property tests of the discovery beacon (SPEC §4), the one parser that takes bytes from
//! anyone on the LAN without a connection: arbitrary datagrams never panic it, every
//! beacon we emit parses back to itself, and whatever parses has exactly one spelling
//! (re-emitting it gives the same bytes), so a mutated beacon is either refused or
//! another well-formed beacon.

use proptest::collection::vec;
use proptest::prelude::*;
use purr::discovery::beacon::{Beacon, MAX_LEN};

fn valid() -> impl Strategy<Value = Beacon> {
    (any::<[u8; 32]>(), 1u16..).prop_map(|(id, port)| Beacon { id, port })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn parse_never_panics(bytes in vec(any::<u8>(), 0..=MAX_LEN + 8)) {
        if let Ok(beacon) = Beacon::parse(&bytes) {
            prop_assert_eq!(beacon.emit(), bytes);
        }
    }

    #[test]
    fn emitted_beacons_parse_back(beacon in valid()) {
        let bytes = beacon.emit();
        prop_assert!(bytes.len() <= MAX_LEN);
        prop_assert_eq!(Beacon::parse(&bytes), Ok(beacon));
    }

    #[test]
    fn a_mutated_beacon_is_refused_or_has_one_spelling(
        beacon in valid(),
        edits in vec((any::<usize>(), any::<u8>()), 1..4),
        cut in any::<Option<usize>>(),
    ) {
        let mut bytes = beacon.emit();
        for (at, byte) in edits {
            let at = at % bytes.len();
            bytes[at] = byte;
        }
        if let Some(cut) = cut {
            bytes.truncate(cut % (bytes.len() + 1));
        }
        if let Ok(parsed) = Beacon::parse(&bytes) {
            prop_assert_eq!(parsed.emit(), bytes);
            prop_assert_ne!(parsed.port, 0);
        }
    }
}
