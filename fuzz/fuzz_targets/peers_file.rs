//! `--peers FILE` (SPEC §1): every target it yields is a valid `host:port`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (targets, _bad) = purr::peers_file::parse(&text);
    for t in targets {
        assert!(purr::rules::valid_target(&t), "{t:?}");
    }
});
