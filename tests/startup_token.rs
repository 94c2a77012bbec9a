//! Regression (issue 16.11): the UI token was printed on stdout at every start, so under
//! a service manager it landed in the journal. SPEC §1 puts it on the `ui` line (scripts
//! read it there, through a pipe), so it stays there, except when stdout is systemd's
//! journal (`JOURNAL_STREAM`): then the line is the bare address and the log says to run
//! `purr url`.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use support::{eventually, Node, BIN};

#[test]
fn into_a_pipe_the_ui_line_has_the_token_as_spec_says() {
    // Scripts that start a node read the token from its `ui` line (SPEC §1).
    let node = Node::start();
    assert_eq!(
        node.ui_url,
        format!("http://127.0.0.1:{}/?token={}", node.port, node.token())
    );
}

#[test]
fn into_the_journal_the_ui_line_has_no_token_and_the_log_says_purr_url() {
    use std::os::unix::fs::MetadataExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    // Stands in for the journal: systemd names the stream it gives a service in
    // JOURNAL_STREAM as DEV:INODE.
    let journal = tmp.path().join("journal");
    let out = std::fs::File::create(&journal).unwrap();
    let meta = std::fs::metadata(&journal).unwrap();
    let mut child = Command::new(BIN)
        .args(["--port", "0", "--no-discovery", "--data-dir"])
        .arg(&dir)
        .env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()))
        .env("RUST_LOG", "info")
        .stdout(Stdio::from(out.try_clone().unwrap()))
        .stderr(Stdio::from(out))
        .spawn()
        .unwrap();
    let read = || std::fs::read_to_string(&journal).unwrap_or_default();
    let started = eventually(Duration::from_secs(20), || {
        read().contains("\nui ") || read().starts_with("ui ")
    });
    let _ = rustix::process::kill_process(
        rustix::process::Pid::from_child(&child),
        rustix::process::Signal::TERM,
    );
    let _ = child.wait();
    assert!(started, "no ui line: {}", read());
    let token = std::fs::read_to_string(dir.join("ui.token")).unwrap();
    let text = read();
    assert!(
        !text.contains(token.trim()),
        "the token went to the journal:\n{text}"
    );
    assert!(text.contains("run: purr url"), "{text}");
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
