//! The local JSON API and the `purr peers` / `purr send` subcommands, with their errors.

mod support;

use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::{eventually, http, Node, BIN};

fn purr(node: &Node, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .arg("--data-dir")
        .arg(&node.data_dir)
        .output()
        .unwrap()
}

fn post(node: &Node, body: &str, token: &str) -> support::HttpResp {
    http(
        node.addr(),
        &format!(
            "POST /api/v1/messages HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
}

#[test]
fn api_round_trip_and_errors() {
    let (a, b) = support::pair();
    let t = a.token();
    let r = post(&a, &format!(r#"{{"to":"{}","text":"via api"}}"#, b.id), &t);
    assert_eq!(r.status, 201, "{}", r.text());
    let m: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    // Committed here; B may have acknowledged it before A's own commit finished.
    assert!(
        m["status"] == "pending" || m["status"] == "delivered",
        "{m}"
    );
    assert_eq!(m["text"], "via api");
    assert_eq!(m["to"], b.id.as_str());
    assert!(eventually(Duration::from_secs(3), || {
        b.api(&format!("messages?peer={}", a.id))[0]["text"] == "via api"
    }));

    assert_eq!(post(&a, "{nope", &t).status, 400);
    assert_eq!(post(&a, r#"{"to":"x"}"#, &t).status, 400);
    assert_eq!(
        post(
            &a,
            &format!(r#"{{"to":"{}","text":"hi"}}"#, "ab".repeat(32)),
            &t
        )
        .status,
        404
    );
    let long = "x".repeat(65_537);
    assert_eq!(
        post(&a, &format!(r#"{{"to":"{}","text":"{long}"}}"#, b.id), &t).status,
        413
    );
    assert_eq!(
        post(&a, &format!(r#"{{"to":"{}","text":"hi"}}"#, b.id), "wrong").status,
        401
    );
    let auth = format!("Authorization: Bearer {t}\r\n");
    assert_eq!(
        support::get(a.addr(), "/api/v1/messages", &auth).status,
        400
    );
    assert_eq!(
        support::get(a.addr(), "/api/v1/messages?peer=zz", &auth).status,
        404
    );
    assert_eq!(support::get(a.addr(), "/api/v1/nothing", &auth).status, 404);
    let r = support::get(
        a.addr(),
        &format!("/api/v1/messages?peer={}&limit=x", b.id),
        &auth,
    );
    assert_eq!(r.status, 400);
}

#[test]
fn purr_peers_and_send_talk_to_the_running_node() {
    let (a, b) = support::pair();

    let out = purr(&a, &["peers"]);
    assert!(out.status.success());
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(
        listed.contains(&b.id) && listed.contains("online"),
        "{listed}"
    );

    let out = purr(&a, &["send", &b.id[..6], "by prefix"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Stored; possibly already acknowledged by B before A's own commit finished.
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        said.contains("pending") || said.contains("delivered"),
        "{said}"
    );

    let mut child = Command::new(BIN)
        .args(["send", "--data-dir"])
        .arg(&a.data_dir)
        .args([&b.id, "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all("from stdin\nline 2".as_bytes())
        .unwrap();
    assert!(child.wait_with_output().unwrap().status.success());

    assert!(eventually(Duration::from_secs(3), || {
        let h = b.api(&format!("messages?peer={}", a.id));
        let texts: Vec<&str> = h
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["text"].as_str().unwrap())
            .collect();
        texts == ["by prefix", "from stdin\nline 2"]
    }));

    let out = purr(&a, &["send", "nobody-by-that-name", "hi"]);
    assert_eq!(out.status.code(), Some(1));
}

/// Two Ed25519 seeds whose ids share their first 4 hex characters.
fn twin_seeds() -> ([u8; 32], [u8; 32]) {
    let mut by_prefix: HashMap<String, [u8; 32]> = HashMap::new();
    for n in 0u32..100_000 {
        let mut seed = [0u8; 32];
        seed[..4].copy_from_slice(&n.to_le_bytes());
        let id = ed25519_dalek::SigningKey::from_bytes(&seed)
            .verifying_key()
            .to_bytes();
        let prefix = purr::hex::encode(&id[..2]);
        if let Some(other) = by_prefix.insert(prefix, seed) {
            return (other, seed);
        }
    }
    panic!("no shared prefix found");
}

#[test]
fn an_ambiguous_prefix_exits_2_listing_the_candidates() {
    let keep = tempfile::tempdir().unwrap();
    let (s1, s2) = twin_seeds();
    let mut twins = Vec::new();
    for (i, seed) in [s1, s2].iter().enumerate() {
        let dir = keep.path().join(format!("twin{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("identity.key"), seed).unwrap();
        twins.push(Node::builder().data_dir(&dir).start());
    }
    let mut a = Node::builder();
    for t in &twins {
        a = a.arg("--connect").arg(format!("127.0.0.1:{}", t.port));
    }
    let a = a.start();
    assert!(eventually(Duration::from_secs(5), || twins
        .iter()
        .all(|t| a.sees_online(&t.id))));
    let prefix = &twins[0].id[..4];
    assert_eq!(prefix, &twins[1].id[..4]);
    let out = purr(&a, &["send", prefix, "hi"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&twins[0].id) && err.contains(&twins[1].id),
        "{err}"
    );
}

#[test]
fn me_says_when_discovery_is_off() {
    // Every test node runs with --no-discovery: the UI must not promise LAN discovery.
    let node = support::Node::start();
    assert_eq!(node.api("me")["discovery"], false);
}
