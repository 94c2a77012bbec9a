//! Display names from peers and users (`rules`: `validate_name`, `normalize_name`,
//! `name_skeleton`): never a panic; a name that passes holds no refused character and
//! is kept trimmed and in NFC (normalising twice changes nothing); white space and
//! spelling never change what a name looks like to `name_conflict`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use purr::rules::{is_refused_format, name_skeleton, normalize_name, validate_name};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let kept = normalize_name(&text);
    if validate_name(&kept).is_ok() {
        assert!(!kept.chars().any(is_refused_format), "{kept:?}");
        assert!(!kept.chars().any(char::is_control), "{kept:?}");
        assert_eq!(kept.trim(), kept);
    }
    assert_eq!(normalize_name(&kept), kept);
    // Unless the kept name was cut back to the limit, it looks like the given one.
    if text.trim().chars().count() < purr::rules::MAX_NAME_CHARS {
        assert_eq!(name_skeleton(&kept), name_skeleton(&text));
    }
});
