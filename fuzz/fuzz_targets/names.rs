//! Display names from peers and users (`rules`: `validate_name`, `normalize_name`,
//! `name_skeleton`): never a panic; a name that passes holds no refused character and
//! is kept trimmed; white space never changes what a name looks like to
//! `name_conflict`.
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
    assert_eq!(name_skeleton(&kept), name_skeleton(&text));
});
