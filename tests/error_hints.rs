//! Regression (issue 19.11): fatal errors say what to do. A port in use suggests
//! `--port`/`--port 0` and leaves no new identity behind; a file given as the data dir
//! says it is not a directory; an id prefix that is too short says the minimum.

mod support;

use std::process::Command;

use support::{pair, Node, BIN};

#[test]
fn port_in_use_suggests_another_port_and_creates_no_identity() {
    let node = Node::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let out = Command::new(BIN)
        .args([
            "--no-discovery",
            "--listen",
            "::",
            "--port",
            &node.port.to_string(),
        ])
        .arg("--data-dir")
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("port {} is in use", node.port)) && err.contains("--port 0"),
        "{err}"
    );
    assert!(!dir.join("identity.key").exists(), "identity created");
    assert!(!dir.join("ui.token").exists(), "token created");
}

#[test]
fn a_file_as_data_dir_says_it_is_not_a_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let out = Command::new(BIN)
        .args(["--port", "0", "--no-discovery", "--data-dir"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is not a directory"), "{err}");
}

#[test]
fn a_short_prefix_says_the_minimum() {
    let (a, b) = pair();
    let out = Command::new(BIN)
        .args(["send", &b.id[..3], "hi", "--data-dir"])
        .arg(&a.data_dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("at least 4 hex characters"), "{err}");
}

#[test]
fn a_damaged_database_says_how_to_move_it_aside_and_is_left_as_it_is() {
    let mut node = Node::start();
    let dir = node.data_dir.clone();
    assert!(node
        .stop_within(std::time::Duration::from_secs(5))
        .is_some());
    // Garbage over the schema page, the header kept: SQLite sees a damaged file.
    let db = dir.join("purr.db");
    let mut bytes = std::fs::read(&db).unwrap();
    for b in bytes.iter_mut().skip(100).take(3000) {
        *b = 0xff;
    }
    std::fs::write(&db, &bytes).unwrap();
    let out = Command::new(BIN)
        .args(["--no-discovery", "--port", "0", "--data-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is damaged")
            && err.contains("purr.db.damaged")
            && err.contains("purr restore"),
        "{err}"
    );
    assert_eq!(std::fs::read(&db).unwrap(), bytes, "never replaced");
}
