//! The record layer (SPEC §7 "Records"): a stream of DATA frames opened in order with
//! fixed keys, as the connection reader does; a refused record never advances the
//! session. And any input, as plaintext, seals and opens back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use purr::peer::session::{Role, Session, MAX_INNER_LEN};
use purr_fuzz::{open_records, record_keys};

fuzz_target!(|data: &[u8]| {
    let keys = record_keys();
    let mut rx = Session::new(&keys, Role::Responder);
    open_records(&mut rx, data);

    if data.len() <= MAX_INNER_LEN {
        let mut tx = Session::new(&keys, Role::Initiator);
        let mut back = Session::new(&keys, Role::Responder);
        let mut wire = Vec::new();
        tx.seal_with_iv(data, &[7; 16], &mut wire).expect("seal");
        let f = purr::peer::frame::read_frame(&mut wire.as_slice()).expect("frame");
        assert_eq!(back.open(&f.payload).expect("open"), data);
    }
});
