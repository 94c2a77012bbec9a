//! Regression (issue 16.11): the UI token was printed on stdout at every start, so under
//! a service manager it landed in the journal. The `ui` line carries the token only when
//! stdout is a terminal; otherwise it is the bare address, and the log says to run
//! `purr url`.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use support::{eventually, Node, BIN};

#[test]
fn into_a_pipe_the_ui_line_has_no_token_and_the_log_says_purr_url() {
    let mut node = Node::start();
    assert_eq!(node.ui_url, format!("http://127.0.0.1:{}/", node.port));
    assert!(!node.ui_url.contains(&node.token()));
    assert!(node.stop_within(Duration::from_secs(5)).is_some());
    let read_log = || std::fs::read_to_string(node.log_path()).unwrap_or_default();
    assert!(
        eventually(Duration::from_secs(3), || read_log()
            .contains("run: purr url")),
        "{}",
        read_log()
    );
    assert!(!read_log().contains(&node.token()), "token in the log");
}

#[test]
fn on_a_terminal_the_ui_line_has_the_token() {
    // util-linux `script` gives the node a pseudo-terminal as stdout.
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: util-linux `script` is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let node_cmd = format!("{BIN} --port 0 --no-discovery --data-dir {}", dir.display());
    let mut script = Command::new("script")
        .args(["-q", "-e", "-c", &node_cmd, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = script.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let end = Instant::now() + Duration::from_secs(20);
    let mut ui_line = None;
    while ui_line.is_none() && Instant::now() < end {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) if line.starts_with("ui ") => ui_line = Some(line.trim_end().to_string()),
            _ => {}
        }
    }
    // Stop the node (its pid is in node.json), then `script`.
    let info: Option<serde_json::Value> = std::fs::read_to_string(dir.join("node.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    let pid = info.as_ref().and_then(|i| i["pid"].as_i64());
    if let Some(pid) = pid.and_then(|p| rustix::process::Pid::from_raw(p as i32)) {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    }
    let waited = eventually(Duration::from_secs(5), || {
        matches!(script.try_wait(), Ok(Some(_)))
    });
    if !waited {
        let _ = script.kill();
        let _ = script.wait();
    }
    let ui_line = ui_line.expect("a ui line within 20 s");
    let token = std::fs::read_to_string(dir.join("ui.token")).unwrap();
    let port = info.and_then(|i| i["port"].as_u64()).unwrap();
    assert_eq!(
        ui_line,
        format!("ui http://127.0.0.1:{port}/?token={}", token.trim())
    );
}
