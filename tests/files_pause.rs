//! Issue 17, point 5: the receiver pauses a file coming to it and resumes it. Paused,
//! the sender stops once what it was granted has come (flow control: the credit of
//! each chunk written is held back), nothing is lost, and resumed, it goes on to an
//! identical file. The sender cannot pause what it sends this way (refused).

mod support;

use std::time::Duration;

use serde_json::json;
use support::files::{accept, make_file, offer, post, sha256, transfer, wait_state};
use support::{eventually, pair_with, Node};

fn bytes(node: &Node, id: &str) -> u64 {
    transfer(node, id).map_or(0, |t| t["bytes"].as_u64().unwrap_or(0))
}

#[test]
fn the_receiver_pauses_and_resumes_and_the_file_arrives_identical() {
    // A slow disk on the receiver (A): the transfer is still running when paused.
    let (a, b) = pair_with(Node::builder().arg("--store-commit-delay-ms").arg("20"));
    let dir = tempfile::tempdir().expect("tempdir");
    let src = make_file(dir.path(), "big.bin", 48 << 20);
    let id = offer(&b, &a, &src);
    wait_state(&a, &id, "offered", Duration::from_secs(10));
    accept(&a, &id);
    assert!(
        eventually(Duration::from_secs(30), || bytes(&a, &id) > 0),
        "nothing arrived"
    );

    // The sender may not pause: only a receiver holds back credit.
    let refused = post(&b, &format!("files/{id}/pause"), &json!({}));
    assert_eq!(refused.status, 400, "{}", refused.text());

    let paused = post(&a, &format!("files/{id}/pause"), &json!({}));
    assert_eq!(paused.status, 200, "{}", paused.text());
    let t = wait_state(&a, &id, "paused", Duration::from_secs(5));
    assert_eq!(t["paused_by_user"], true);
    // What was granted comes (at most the window and what was in flight), then nothing.
    std::thread::sleep(Duration::from_secs(2));
    let held = bytes(&a, &id);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(bytes(&a, &id), held, "chunks kept coming while paused");
    assert!(held < 48 << 20, "the whole file came before the pause took");
    assert_eq!(transfer(&a, &id).expect("known")["state"], "paused");

    let resumed = post(&a, &format!("files/{id}/resume"), &json!({}));
    assert_eq!(resumed.status, 200, "{}", resumed.text());
    wait_state(&a, &id, "done", Duration::from_secs(120));
    wait_state(&b, &id, "done", Duration::from_secs(10));
    assert_eq!(
        sha256(&a.data_dir.join("files").join("big.bin")),
        sha256(&src)
    );
    // Resuming what is not paused is refused.
    let again = post(&a, &format!("files/{id}/resume"), &json!({}));
    assert_eq!(again.status, 400, "{}", again.text());
}
