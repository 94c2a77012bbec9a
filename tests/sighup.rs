//! Regression (issue 19.7): SIGHUP (the SSH session of a node started by hand ends)
//! killed the node at once: no clean shutdown, `node.json` left behind. It now shuts
//! down like SIGTERM and exits 0.

mod support;

use std::time::{Duration, Instant};

use support::{eventually, Node};

#[test]
fn sighup_shuts_down_cleanly_with_exit_0() {
    let mut node = Node::start();
    assert!(node.data_dir.join("node.json").exists());
    node.signal(rustix::process::Signal::HUP);
    let end = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(status) = node.exited() {
            break status;
        }
        assert!(Instant::now() < end, "no exit within 5 s of SIGHUP");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert!(
        !node.data_dir.join("node.json").exists(),
        "node.json removed on clean exit"
    );
    // The log file is written by a thread of the test once the pipe closes.
    let read_log = || std::fs::read_to_string(node.log_path()).unwrap_or_default();
    assert!(
        eventually(Duration::from_secs(3), || read_log()
            .contains("signal 1: shutting down")),
        "{}",
        read_log()
    );
}
