//! Helpers for the file-transfer tests: offer, accept, wait, compare.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{http, HttpResp, Node};

/// `POST /api/v1/<path>` with a JSON body and the node's token.
pub fn post(node: &Node, path: &str, body: &Value) -> HttpResp {
    let body = body.to_string();
    http(
        node.addr(),
        &format!(
            "POST /api/v1/{path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            node.port,
            node.token(),
            body.len()
        ),
    )
}

/// Offers `path` from `from` to `to`; returns the transfer id.
pub fn offer(from: &Node, to: &Node, path: &Path) -> String {
    let r = post(
        from,
        "files",
        &json!({"to": to.id, "path": path.display().to_string()}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let v: Value = serde_json::from_str(&r.text()).expect("json");
    v["id"].as_str().expect("id").to_string()
}

/// The transfer `id` as `node` sees it, if it knows it.
pub fn transfer(node: &Node, id: &str) -> Option<Value> {
    node.api("files")
        .as_array()?
        .iter()
        .find(|t| t["id"] == id)
        .cloned()
}

/// Waits (bounded) until `node` sees `id` in state `state`; panics with what it saw.
pub fn wait_state(node: &Node, id: &str, state: &str, within: Duration) -> Value {
    let end = Instant::now() + within;
    let mut last = None;
    while Instant::now() < end {
        last = transfer(node, id);
        if last.as_ref().is_some_and(|t| t["state"] == state) {
            return last.unwrap_or_default();
        }
        if state != "ended" && last.as_ref().is_some_and(|t| t["state"] == "ended") {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("transfer {id} not {state} within {within:?}: {last:?}");
}

/// Accepts `id` on `node`.
pub fn accept(node: &Node, id: &str) {
    let r = post(node, &format!("files/{id}/accept"), &json!({}));
    assert_eq!(r.status, 200, "{}", r.text());
}

/// A file of `len` pseudo-random bytes in `dir`.
pub fn make_file(dir: &Path, name: &str, len: usize) -> PathBuf {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ len as u64;
    let data: Vec<u8> = (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let path = dir.join(name);
    std::fs::write(&path, data).expect("write test file");
    path
}

pub fn sha256(path: &Path) -> [u8; 32] {
    Sha256::digest(std::fs::read(path).expect("read")).into()
}

/// Waits (bounded, 60 s) until `node` holds at least `bytes` of `id` (or it is done).
pub fn wait_bytes(node: &Node, id: &str, bytes: u64) {
    let end = Instant::now() + Duration::from_secs(60);
    while Instant::now() < end {
        let t = transfer(node, id).expect("known");
        if t["bytes"].as_u64().unwrap_or(0) >= bytes || t["state"] == "done" {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("{id} never reached {bytes} bytes");
}

/// How many chunks of transfer `id` the node whose stderr is `log` put on the wire, over
/// all its runs: the writer logs one line per chunk at debug level, and a log appended
/// by every run (`NodeBuilder::stderr_log`) keeps them through a `kill -9`.
pub fn chunks_sent(log: &Path, id: &str) -> u64 {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let needle = format!("transfer {id}: chunk ");
    text.lines()
        .filter(|l| l.contains(&needle) && l.ends_with(" sent"))
        .count() as u64
}
