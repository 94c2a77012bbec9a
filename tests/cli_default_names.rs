//! Regression (issue 19.1): two nodes started on one machine without `--name` had the
//! same default name (`purr@vm` where `$USER` is unset), so `purr send NAME` could not
//! tell them apart. A node on a data dir other than the default one now adds the dir's
//! name: `user@host/alice`, `user@host/bob`.

mod support;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::{eventually, Node, BIN};

#[test]
fn nodes_on_two_data_dirs_get_two_names_and_sending_by_name_works() {
    let tmp = tempfile::tempdir().unwrap();
    let bob = Node::builder().data_dir(&tmp.path().join("bob")).start();
    let alice = Node::builder()
        .data_dir(&tmp.path().join("alice"))
        .arg("--connect")
        .arg(format!("127.0.0.1:{}", bob.port))
        .start();
    assert!(eventually(Duration::from_secs(5), || alice
        .sees_online(&bob.id)
        && bob.sees_online(&alice.id)));
    let bob_name = alice.peers()[0]["name"].as_str().unwrap().to_string();
    let alice_name = bob.peers()[0]["name"].as_str().unwrap().to_string();
    assert_ne!(alice_name, bob_name);
    assert!(bob_name.ends_with("/bob"), "{bob_name}");
    assert!(alice_name.ends_with("/alice"), "{alice_name}");

    // The README's pipe example, by the name `purr peers` shows.
    let mut child = Command::new(BIN)
        .args(["send", "--data-dir"])
        .arg(&alice.data_dir)
        .args([&bob_name, "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"from a pipe")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(eventually(Duration::from_secs(3), || {
        bob.api(&format!("messages?peer={}", alice.id))[0]["text"] == "from a pipe"
    }));
}
