//! Issue 19, point 10: what scripts want beyond `send` and `peers`: `history`, `follow`,
//! `connect`, `--json` on `peers` and `id`, `send --wait` (exit 0 only once delivered),
//! and one trailing newline dropped from text read from a pipe.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;
use support::{free_port, pair, Node, BIN};

fn purr(node: &Node, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .arg("--data-dir")
        .arg(&node.data_dir)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn name_of(node: &Node) -> String {
    node.api("me")["name"].as_str().unwrap().to_string()
}

#[test]
fn history_send_wait_and_a_piped_newline() {
    let (a, b) = pair();
    let bob = name_of(&b);
    for text in ["one", "two", "three"] {
        let o = purr(&a, &["send", &bob, text, "--wait", "--timeout", "10"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(
            stdout(&o).ends_with(&format!("delivered to {bob}")) || stdout(&o).contains("read to"),
            "{}",
            stdout(&o)
        );
    }
    // From a pipe: `echo` adds a newline, which is not part of the message.
    let mut child = Command::new(BIN)
        .args(["send", &bob, "-", "--data-dir"])
        .arg(&a.data_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"from a pipe\n")
        .unwrap();
    assert!(child.wait_with_output().unwrap().status.success());

    let o = purr(&a, &["history", &bob, "--limit", "2", "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let lines: Vec<Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let texts: Vec<&str> = lines.iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["three", "from a pipe"]);
    let o = purr(&a, &["history", &bob]);
    assert_eq!(stdout(&o).lines().count(), 4);
    assert!(stdout(&o).contains("me: one"), "{}", stdout(&o));

    // --wait to a peer that is gone: exit 1, and the message stays pending.
    drop(b);
    let o = purr(
        &a,
        &["send", &bob, "nobody home", "--wait", "--timeout", "1"],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("not delivered to") && err.contains("stays pending"),
        "{err}"
    );
}

#[test]
fn json_peers_and_id_and_connect() {
    let a = Node::start();
    let b = Node::start();
    let o = purr(&a, &["connect", &format!("127.0.0.1:{}", b.port)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout(&o).contains(&b.id), "{}", stdout(&o));

    let peers: Value = serde_json::from_str(&stdout(&purr(&a, &["peers", "--json"]))).unwrap();
    assert_eq!(peers.as_array().unwrap()[0]["id"], b.id.as_str());
    let id: Value = serde_json::from_str(&stdout(&purr(&b, &["id", "--json"]))).unwrap();
    assert_eq!(id["id"], b.id.as_str());
    assert_eq!(id["fingerprint"].as_str().unwrap().len(), 35);

    // Nothing listens there: the reason, exit 1.
    let o = purr(&a, &["connect", &format!("127.0.0.1:{}", free_port())]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot connect"));
}

#[test]
fn follow_prints_messages_as_they_come() {
    let (a, b) = pair();
    let mut follow = Command::new(BIN)
        .args(["follow", "--json", "--data-dir"])
        .arg(&b.data_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let out = follow.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // Give follow a moment to subscribe, then send.
    std::thread::sleep(Duration::from_millis(300));
    let bob = name_of(&b);
    assert!(purr(&a, &["send", &bob, "are you there"]).status.success());
    let mut seen = None;
    for _ in 0..50 {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => {
                let v: Value = serde_json::from_str(&line).unwrap();
                if v["cmd"] == "message" {
                    seen = Some(v);
                    break;
                }
            }
            Err(_) => continue,
        }
    }
    let _ = follow.kill();
    let _ = follow.wait();
    let seen = seen.expect("follow printed the message within 10 s");
    assert_eq!(seen["message"]["text"], "are you there");
}
