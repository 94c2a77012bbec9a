//! `identity.key` is deleted under a running node (a clean-up script, a slip in a
//! shell): the node still has the key in memory, writes the file back (same bytes,
//! 0600), says so in the log and the UI, and keeps serving; a restart keeps the same
//! identity, so contacts do not see a stranger. The key never appears in the log.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use serde_json::json;
use support::faults::wait_event;
use support::{eventually, Node};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn a_deleted_identity_key_is_written_back_and_a_restart_keeps_the_identity() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("a");
    let b = Node::start();
    let start_a = || {
        Node::builder()
            .data_dir(&dir)
            .arg("--connect")
            .arg(format!("127.0.0.1:{}", b.port))
            .start()
    };
    let mut a = start_a();
    assert!(eventually(Duration::from_secs(5), || a.sees_online(&b.id)));
    let mut ws = a.ws();
    ws.send(json!({"cmd": "hello"}));
    ws.recv_cmd("peers");

    let key_path = dir.join("identity.key");
    let key = std::fs::read(&key_path).unwrap();
    assert_eq!(key.len(), 32);
    std::fs::remove_file(&key_path).unwrap();
    let deleted = Instant::now();

    // Back within a few ticks, byte for byte, private.
    assert!(
        eventually(Duration::from_secs(5), || std::fs::read(&key_path)
            .is_ok_and(|k| k == key)),
        "identity.key was not written back"
    );
    eprintln!("identity.key back after {:?}", deleted.elapsed());
    let mode = std::fs::metadata(&key_path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let e = wait_event(&mut ws, "an error event", |v| v["cmd"] == "error");
    assert!(
        e["error"].as_str().unwrap_or("").contains("identity.key"),
        "{e}"
    );

    // Still serving: the UI, and the peer session.
    ws.send(json!({"cmd": "hello"}));
    let me = wait_event(&mut ws, "me", |v| v["cmd"] == "me");
    assert_eq!(me["id"], a.id.as_str());
    ws.send(json!({"cmd": "send", "to": b.id, "text": "still me"}));
    assert!(eventually(Duration::from_secs(5), || {
        b.api(&format!("messages?peer={}", a.id))
            .as_array()
            .is_some_and(|m| m.len() == 1)
    }));

    // The log names the file and never holds the key.
    assert!(a
        .stop_within(Duration::from_secs(10))
        .is_some_and(|s| s.success()));
    let log = || std::fs::read_to_string(a.log_path()).unwrap_or_default();
    assert!(
        eventually(Duration::from_secs(5), || log()
            .contains("identity.key was deleted")),
        "log:\n{}",
        log()
    );
    let secret = hex(&key);
    assert!(
        !log().to_lowercase().contains(&secret),
        "the key is in the log"
    );
    let id = a.id.clone();
    drop(a);

    // Same identity after a restart; B knows it as the same contact.
    let a = start_a();
    assert_eq!(a.id, id);
    assert!(eventually(Duration::from_secs(5), || b.sees_online(&id)));
    assert_eq!(b.peers().len(), 1, "B sees one contact, not a stranger");
    assert_eq!(std::fs::read(&key_path).unwrap(), key);
}
