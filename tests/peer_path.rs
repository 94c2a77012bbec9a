//! Path on every peer (issue 20, point 6): how each online peer is reached is in the
//! Peer JSON (`path`), in `purr peers`, and in the diag's contacts (`route`). Two nodes
//! on loopback reach each other by "loopback 127.0.0.1"; a peer that goes offline has
//! no path.

mod support;

use std::process::Command;
use std::time::Duration;

use support::{eventually, pair, BIN};

fn path_of(node: &support::Node, id: &str) -> serde_json::Value {
    node.peers()
        .into_iter()
        .find(|p| p["id"] == id)
        .map_or(serde_json::Value::Null, |p| p["path"].clone())
}

#[test]
fn two_nodes_on_loopback_show_the_loopback_path_everywhere() {
    let (a, b) = pair();
    // Both sides: A dialled B, B accepted A.
    assert_eq!(path_of(&a, &b.id), "loopback 127.0.0.1");
    assert_eq!(path_of(&b, &a.id), "loopback 127.0.0.1");

    let out = Command::new(BIN)
        .arg("peers")
        .arg("--data-dir")
        .arg(&a.data_dir)
        .output()
        .expect("run purr peers");
    assert!(out.status.success());
    let listed = String::from_utf8_lossy(&out.stdout);
    let line = listed
        .lines()
        .find(|l| l.starts_with(&b.id))
        .unwrap_or_else(|| panic!("no line for B:\n{listed}"));
    assert!(line.contains("online   loopback 127.0.0.1"), "{line}");

    let diag = a.api("diag");
    let bob = diag["contacts"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["id"] == b.id.as_str()).cloned())
        .expect("B in the diag");
    assert_eq!(bob["route"], "loopback 127.0.0.1");

    let b_id = b.id.clone();
    drop(b);
    assert!(
        eventually(Duration::from_secs(10), || path_of(&a, &b_id).is_null()),
        "an offline peer keeps a path: {}",
        path_of(&a, &b_id)
    );
}
