//! Inner messages (SPEC §7): every kind's body, LIST entries included. Whatever parses
//! is valid and survives encode → parse unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use purr::peer::inner::Inner;

fuzz_target!(|data: &[u8]| {
    if let Ok(inner) = Inner::parse(data) {
        purr_fuzz::check_inner_round_trip(&inner);
    }
});
