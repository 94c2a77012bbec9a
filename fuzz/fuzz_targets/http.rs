//! Local HTTP (SPEC §3): request heads (pipelined, so one input may hold several) and the
//! router with its guards. Anything routed to a page, the API or the WebSocket passed the
//! Host check and presented the token (asserted in `route_checked`).
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use purr::http::request::read_request;

fuzz_target!(|data: &[u8]| {
    let mut input = data;
    let mut buf = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    for _ in 0..16 {
        match read_request(&mut input, &mut buf, deadline) {
            Ok(req) => purr_fuzz::route_checked(&req),
            Err(_) => break,
        }
    }
});
