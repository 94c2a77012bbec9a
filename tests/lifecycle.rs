//! Starting and stopping: startup lines, SIGTERM, one node per data dir, fatal errors,
//! and the offline subcommands.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::{Node, BIN};

#[test]
fn startup_prints_three_lines_once_and_sigterm_exits_0() {
    let mut node = Node::start();
    assert!(node.listening.ends_with(&format!(":{}", node.port)));
    assert_eq!(node.id.len(), 64);
    // SPEC §1: the address with its token (see tests/startup_token.rs for the journal).
    assert_eq!(
        node.ui_url,
        format!("http://127.0.0.1:{}/?token={}", node.port, node.token())
    );
    let info = std::fs::read_to_string(node.data_dir.join("node.json")).unwrap();
    let info: serde_json::Value = serde_json::from_str(&info).unwrap();
    assert_eq!(info["port"], node.port);
    assert_eq!(info["pid"], node.pid);

    let start = Instant::now();
    let status = node.stop_within(Duration::from_secs(5)).expect("exits");
    assert!(status.success(), "{status:?}");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    let extra: Vec<String> = node.stdout_rest.try_iter().collect();
    assert!(extra.is_empty(), "nothing more on stdout: {extra:?}");
    assert!(
        !node.data_dir.join("node.json").exists(),
        "node.json removed on clean exit"
    );
}

#[test]
fn a_second_node_on_the_same_data_dir_exits_1_naming_the_pid() {
    let node = Node::start();
    let out = Command::new(BIN)
        .args(["--port", "0", "--no-discovery", "--data-dir"])
        .arg(&node.data_dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("is in use by pid {}", node.pid)),
        "{err}"
    );
}

#[test]
fn url_and_id_subcommands_find_the_running_node() {
    let node = Node::start();
    let out = Command::new(BIN)
        .arg("url")
        .arg("--data-dir")
        .arg(&node.data_dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("http://127.0.0.1:{}/?token={}", node.port, node.token())
    );
    let out = Command::new(BIN)
        .arg("id")
        .arg("--data-dir")
        .arg(&node.data_dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(node.id.as_str()));
    assert_eq!(lines.next().map(str::len), Some(35));
}

#[test]
fn bad_arguments_exit_2() {
    for args in [&["--port", "notaport"][..], &["--bogus"], &["send"]] {
        let out = Command::new(BIN).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty());
    }
}

#[test]
fn port_in_use_exits_1_with_a_clear_message() {
    let node = Node::start();
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args([
            "--no-discovery",
            "--listen",
            "::",
            "--port",
            &node.port.to_string(),
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("port {} is in use", node.port)),
        "{err}"
    );
    assert!(
        !dir.path().join("identity.key").exists(),
        "no identity made"
    );
}

#[test]
fn a_corrupt_identity_exits_1_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("identity.key"), b"garbage").unwrap();
    let out = Command::new(BIN)
        .args(["--port", "0", "--no-discovery", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("identity.key") && err.contains("corrupt"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(dir.path().join("identity.key")).unwrap(),
        b"garbage"
    );
}

#[test]
fn peers_subcommand_without_a_node_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    // A port nothing listens on: bind one, then free it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = Command::new(BIN)
        .args(["peers", "--port", &port.to_string(), "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no purr node is running"));
}

#[test]
fn a_database_from_a_newer_version_exits_1_and_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("purr.db");
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch("CREATE TABLE future(x); PRAGMA user_version = 99;")
            .unwrap();
    }
    let out = Command::new(BIN)
        .args(["--port", "0", "--no-discovery", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("purr.db") && err.contains("newer"), "{err}");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let v: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, 99);
}

/// The state loop logs a turn over 50 ms with what it handled. Its clock once started
/// before the wait for the next command, so an idle node logged every one-second tick
/// as a turn of a second (and gave its handlers a `now` up to a second old).
#[test]
fn an_idle_node_logs_no_slow_turns() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("node.log");
    let mut node = Node::builder()
        .data_dir(&dir.path().join("data"))
        .stderr_log(&log)
        .start();
    std::thread::sleep(Duration::from_millis(3500));
    let _ = node.api("me");
    node.stop_within(Duration::from_secs(5)).expect("exits");
    let text = std::fs::read_to_string(&log).unwrap();
    // A loaded machine may make one turn genuinely slow; none of an idle node's turns
    // takes half a second.
    let slow: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("a turn took"))
        .filter(|l| {
            let took = l.split("a turn took ").nth(1).unwrap_or("");
            let took = took.split_whitespace().next().unwrap_or("");
            let ms = match took.strip_suffix("ms") {
                Some(ms) => ms.parse::<f64>().unwrap_or(0.0),
                None => took.trim_end_matches('s').parse::<f64>().unwrap_or(0.0) * 1000.0,
            };
            ms >= 500.0
        })
        .collect();
    assert!(slow.is_empty(), "{slow:#?}");
}
