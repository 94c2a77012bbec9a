//! Regression (issue 19.5): `purr peers | head -1` and `purr id | true` ended with a Rust
//! panic ("failed printing to stdout: Broken pipe") and exit 101. A reader that went away
//! now means a quiet exit 0, as in ripgrep.

mod support;

use std::process::{Command, Stdio};

use support::{Node, BIN};

#[test]
fn a_closed_stdout_is_a_quiet_exit_0() {
    let node = Node::start();
    for sub in ["id", "peers", "url"] {
        let mut child = Command::new(BIN)
            .arg(sub)
            .arg("--data-dir")
            .arg(&node.data_dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Close the read end before purr writes: its write fails with EPIPE.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{sub}: {err}");
        assert!(err.is_empty(), "{sub}: {err}");
    }
}
