//! Regression (issue 19.4): `purr url` and `purr id` on a mistyped `--data-dir` created
//! the directory, a token or a brand-new identity and exited 0; `url` printed the dead
//! port of a stale `node.json`; a 401 from another program answered "run: purr url".
//! The client subcommands now never create anything and say plainly what is wrong.

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use support::{Node, BIN};

fn purr(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Every entry of `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_missing_data_dir_is_never_created() {
    let tmp = tempfile::tempdir().unwrap();
    let typo = tmp.path().join("typo");
    for sub in ["url", "id", "peers"] {
        let out = purr(&typo, &[sub]);
        assert_eq!(out.status.code(), Some(1), "{sub}");
        assert!(
            stderr(&out).contains("no data dir at"),
            "{sub}: {}",
            stderr(&out)
        );
        assert!(!typo.exists(), "{sub} created the data dir");
    }
}

#[test]
fn an_empty_data_dir_gets_no_identity_and_no_token() {
    let tmp = tempfile::tempdir().unwrap();
    let out = purr(tmp.path(), &["id"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no identity in"), "{}", stderr(&out));
    let out = purr(tmp.path(), &["url"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no purr node is running"),
        "{}",
        stderr(&out)
    );
    assert!(listing(tmp.path()).is_empty(), "{:?}", listing(tmp.path()));
}

#[test]
fn id_works_without_a_running_node_and_url_needs_one() {
    let mut node = Node::start();
    let dir = node.data_dir.clone();
    assert!(node.stop_within(Duration::from_secs(5)).is_some());
    let before = listing(&dir);
    let out = purr(&dir, &["id"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with(&node.id));
    let out = purr(&dir, &["url"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no purr node is running") && stderr(&out).contains("node.json"),
        "{}",
        stderr(&out)
    );
    assert_eq!(listing(&dir), before);
}

#[test]
fn url_with_a_stale_node_json_says_no_node_runs() {
    let mut node = Node::start();
    let dir = node.data_dir.clone();
    // A node killed with -9 leaves its node.json behind, naming a port nobody serves.
    node.signal(rustix::process::Signal::KILL);
    assert!(node.stop_within(Duration::from_secs(5)).is_some());
    assert!(dir.join("node.json").exists());
    let out = purr(&dir, &["url"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let err = stderr(&out);
    assert!(
        err.contains("no purr node is running") && err.contains(&format!("port {}", node.port)),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn another_program_on_the_port_is_named_and_the_hint_is_not_circular() {
    let mut node = Node::start();
    let dir = node.data_dir.clone();
    assert!(node.stop_within(Duration::from_secs(5)).is_some());
    // Something else answers 401 on the port node.json names.
    let other = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = other.local_addr().unwrap().port();
    std::fs::write(
        dir.join("node.json"),
        format!(r#"{{"pid":1,"port":{port}}}"#),
    )
    .unwrap();
    let server = std::thread::spawn(move || {
        for _ in 0..2 {
            let Ok((mut s, _)) = other.accept() else {
                return;
            };
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let body = r#"{"error":"missing or wrong token; run: purr url"}"#;
            let _ = write!(
                s,
                "HTTP/1.1 401 Unauthorized\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    for sub in ["url", "peers"] {
        let out = purr(&dir, &[sub]);
        assert_eq!(out.status.code(), Some(1), "{sub}");
        let err = stderr(&out);
        assert!(
            err.contains(&format!("the program on port {port} refused the token")),
            "{sub}: {err}"
        );
        assert!(!err.contains("run: purr url"), "{sub}: {err}");
    }
    server.join().unwrap();
}

#[test]
fn url_refuses_to_print_the_address_of_another_node() {
    let mut stopped = Node::start();
    let dir = stopped.data_dir.clone();
    assert!(stopped.stop_within(Duration::from_secs(5)).is_some());
    let open = Node::builder().arg("--no-ui-auth").start();
    let out = Command::new(BIN)
        .args(["url", "--port", &open.port.to_string(), "--data-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("another purr node") && err.contains(&open.id),
        "{err}"
    );
}
