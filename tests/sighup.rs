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

/// `nohup purr &` asks to survive the hang-up: SIGHUP, ignored at start, stays ignored.
#[test]
fn under_nohup_sighup_is_ignored_and_sigterm_still_stops() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let tmp = tempfile::tempdir().unwrap();
    let mut child = Command::new("nohup")
        .arg(support::BIN)
        .args(["--port", "0", "--no-discovery", "--data-dir"])
        .arg(tmp.path().join("data"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Started: its first line is there (bounded: the node prints it within a second).
    let mut first = String::new();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let _ = out.read_line(&mut first);
    assert!(first.starts_with("listening on"), "{first:?}");
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::HUP).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let still_running = child.try_wait().unwrap().is_none();
    let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    let end = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(still_running, "SIGHUP stopped a node started under nohup");
    assert_eq!(status.and_then(|s| s.code()), Some(0), "{status:?}");
}
