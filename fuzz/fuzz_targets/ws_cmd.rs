//! UI WebSocket commands (SPEC §5): one JSON text frame each. A command that parses has
//! the name its `cmd` field says.
#![no_main]

use libfuzzer_sys::fuzz_target;
use purr::api::ClientCmd;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(cmd) = ClientCmd::parse(text) {
        let value: serde_json::Value = serde_json::from_str(text).expect("was JSON");
        assert_eq!(value["cmd"].as_str(), Some(cmd.name()));
    }
});
