//! The dialling side: what the accepted end answers (HAND + AUTH record, then records).
#![no_main]

use libfuzzer_sys::fuzz_target;
use purr_fuzz::{drive, initiator, responder_key};

fuzz_target!(|data: &[u8]| {
    let (hs, _hand) = initiator();
    drive(hs, responder_key().verifying_key().to_bytes(), data);
});
