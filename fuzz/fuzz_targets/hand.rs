//! The `HAND` payload (SPEC §7 step 1): whatever parses is a valid HAND and survives
//! encode → parse unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use purr::peer::hand::Hand;

fuzz_target!(|data: &[u8]| {
    if let Ok(hand) = Hand::parse(data) {
        assert_eq!(hand.check(), Ok(()));
        assert_eq!(Hand::parse(&hand.encode()), Ok(hand));
    }
});
