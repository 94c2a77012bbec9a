//! The accepting side of a peer connection: the bytes a dialler sends (HAND, AUTH record,
//! then records), through the handshake state machine and into the record layer. The
//! seeds are a recorded initiator session, so the fuzzer starts past the handshake.
#![no_main]

use libfuzzer_sys::fuzz_target;
use purr_fuzz::{drive, initiator_key, responder};

fuzz_target!(|data: &[u8]| {
    drive(
        responder(),
        initiator_key().verifying_key().to_bytes(),
        data,
    );
});
