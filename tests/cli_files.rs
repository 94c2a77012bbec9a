//! Issue 17: `purr send-file PEER PATH [--wait]`, `purr files [--json]`, `purr accept ID`,
//! `purr decline ID`, against two real nodes.

mod support;

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::files::{make_file, sha256, transfer};
use support::{pair, Node, BIN};

fn purr(node: &Node, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .arg("--data-dir")
        .arg(&node.data_dir)
        .output()
        .unwrap()
}

fn spawn(node: &Node, args: &[&str]) -> Child {
    Command::new(BIN)
        .args(args)
        .arg("--data-dir")
        .arg(&node.data_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits (bounded) for the child to exit; kills it if it does not.
fn finish(mut child: Child, within: Duration) -> Output {
    let end = Instant::now() + within;
    while Instant::now() < end {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    panic!("purr send-file did not exit within {within:?}");
}

/// The first transfer `node` lists, via `purr files --json`, once there is one.
fn first_offer(node: &Node) -> Value {
    let end = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end {
        let out = purr(node, &["files", "--json"]);
        assert!(out.status.success(), "{out:?}");
        let all: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
        if let Some(t) = all.iter().rev().find(|t| t["state"] == "offered") {
            return t.clone();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("no offer reached the receiver");
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn send_file_wait_accept_decline_and_files() {
    let (a, b) = pair();
    let dir = tempfile::tempdir().unwrap();
    let src = make_file(dir.path(), "report.bin", 20 << 20);
    let src_s = src.display().to_string();

    // Accepted: --wait returns 0 once B has it all.
    let child = spawn(&a, &["send-file", &b.id[..8], &src_s, "--wait"]);
    let offer = first_offer(&b);
    let id = offer["id"].as_str().unwrap().to_string();
    let listed = text(&purr(&b, &["files"]).stdout);
    assert!(
        listed.contains(&id) && listed.contains("offered"),
        "{listed}"
    );
    assert!(
        listed.contains("report.bin") && listed.contains(" in "),
        "{listed}"
    );
    let out = purr(&b, &["accept", &id[..6]]);
    assert!(out.status.success(), "{out:?}");
    // The sender's own view moves with the receiver's credits, not only at the end.
    let mut midway = false;
    let end = Instant::now() + Duration::from_secs(60);
    while Instant::now() < end {
        let t = transfer(&a, &id).unwrap_or_default();
        let bytes = t["bytes"].as_u64().unwrap_or(0);
        midway |= bytes > 0 && bytes < 20 << 20 && t["state"] == "sending";
        if t["state"] == "done" {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = finish(child, Duration::from_secs(60));
    assert!(out.status.success(), "{out:?}");
    assert!(
        text(&out.stdout).contains(&format!("{id} done: report.bin")),
        "{out:?}"
    );
    assert!(
        midway,
        "the sender never showed progress between 0 and 100%"
    );
    let got = b.data_dir.join("files").join("report.bin");
    assert_eq!(sha256(&got), sha256(&src));
    let listed = text(&purr(&a, &["files"]).stdout);
    assert!(
        listed.contains("done") && listed.contains("100%"),
        "{listed}"
    );

    // Declined: --wait exits 1 with the reason.
    let child = spawn(
        &a,
        &["send-file", &b.id, &src_s, "--wait", "--timeout", "30"],
    );
    let offer = first_offer(&b);
    let id = offer["id"].as_str().unwrap().to_string();
    let out = purr(&b, &["decline", &id]);
    assert!(out.status.success(), "{out:?}");
    let out = finish(child, Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = text(&out.stderr);
    assert!(
        err.contains("report.bin was not sent") && err.contains("declined"),
        "{err}"
    );

    // Without --wait: the id, at once. A missing file or an unknown transfer: exit 1.
    let out = purr(&a, &["send-file", &b.id, &src_s]);
    assert!(out.status.success(), "{out:?}");
    assert!(text(&out.stdout).contains("offered to"), "{out:?}");
    let out = purr(&a, &["send-file", &b.id, "/nonexistent/file"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(text(&out.stderr).contains("/nonexistent/file"), "{out:?}");
    let out = purr(&b, &["accept", "ffffffff"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(text(&out.stderr).contains("no transfer matches"), "{out:?}");
}
