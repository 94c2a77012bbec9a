//! Frames (SPEC §7): the 8-byte header and the payload, with the protocol's limit and
//! the handshake's smaller one. Whatever is read re-encodes to exactly the bytes read.
#![no_main]

use libfuzzer_sys::fuzz_target;
use purr::conn::handshake::HANDSHAKE_MAX_FRAME;
use purr::peer::frame::{self, HEADER_LEN, MAX_FRAME_LEN};

fuzz_target!(|data: &[u8]| {
    if let Some(header) = data.first_chunk::<HEADER_LEN>() {
        let _ = frame::parse_header(header, MAX_FRAME_LEN);
    }
    for limit in [MAX_FRAME_LEN, HANDSHAKE_MAX_FRAME] {
        let mut input = data;
        let mut at = 0;
        while let Ok(f) = frame::read_frame_limited(&mut input, limit) {
            assert!(f.payload.len() <= limit);
            let mut again = Vec::new();
            frame::encode_into(&f.cmd, &f.payload, &mut again).expect("re-encode");
            assert_eq!(&again[..], &data[at..at + again.len()]);
            at += again.len();
        }
    }
});
