//! A UDP beacon (SPEC §4): anything a LAN host sends to the multicast group. A datagram
//! that parses must be written back byte for byte, so there is exactly one spelling of
//! each beacon and no way to smuggle extra bytes past the parser.
#![no_main]

use libfuzzer_sys::fuzz_target;
use purr::discovery::beacon::Beacon;

fuzz_target!(|data: &[u8]| {
    if let Ok(beacon) = Beacon::parse(data) {
        assert_eq!(beacon.emit(), data, "{beacon:?}");
        assert_ne!(beacon.port, 0);
    }
});
