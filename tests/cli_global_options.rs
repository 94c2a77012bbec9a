//! Regression (issue 19.6): `purr --data-dir DIR peers` was refused ("the subcommand
//! 'peers' cannot be used with '--data-dir'"). `--data-dir` and `--port` are global now:
//! before or after the subcommand. A node-only option with a subcommand is still a usage
//! error (exit 2), one that names the option.

mod support;

use std::process::Command;

use support::{pair, BIN};

#[test]
fn data_dir_and_port_may_come_before_the_subcommand() {
    let (a, b) = pair();
    let out = Command::new(BIN)
        .arg("--data-dir")
        .arg(&a.data_dir)
        .args(["--port", &a.port.to_string(), "peers"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(String::from_utf8_lossy(&out.stdout).contains(&b.id));

    let out = Command::new(BIN)
        .arg("--data-dir")
        .arg(&a.data_dir)
        .args(["send", &b.id[..8], "hi"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = Command::new(BIN)
        .arg("--no-discovery")
        .arg("peers")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--no-discovery is an option of the node"),
        "{err}"
    );
}
