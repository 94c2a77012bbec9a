//! `purr doctor --peer HOST:PORT` (issue 20, point 1): what answers at an address, on
//! loopback — a running node is purr with its id and fingerprint (a full handshake), a
//! plain TCP listener that sends garbage is "something else" with its first bytes, a
//! silent HTTP server is named by its status line, a closed port is refused. Each within
//! 5 s.

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{free_port, Node, BIN};

/// `purr doctor --peer TARGET --json`: exit code, the JSON, how long it took.
fn probe(target: &str) -> (i32, Value, Duration) {
    let start = Instant::now();
    let out = Command::new(BIN)
        .args(["doctor", "--peer", target, "--json"])
        .output()
        .expect("run purr doctor --peer");
    let took = start.elapsed();
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), json, took)
}

#[test]
fn a_running_node_is_purr_with_its_id_and_fingerprint() {
    let b = Node::start();
    let me = b.api("me");
    let (code, p, took) = probe(&format!("127.0.0.1:{}", b.port));
    assert_eq!(code, 0, "{p}");
    assert_eq!(p["answer"], "purr", "{p}");
    assert_eq!(p["id"], b.id.as_str());
    assert_eq!(p["fingerprint"], me["fingerprint"]);
    assert_eq!(p["port"], b.port);
    assert!(p["connect_ms"].as_f64().is_some(), "{p}");
    assert!(p["handshake_ms"].as_f64().is_some(), "{p}");
    assert!(took < Duration::from_secs(5), "took {took:?}");

    // The words, as a person sees them.
    let out = Command::new(BIN)
        .args(["doctor", "--peer", &format!("127.0.0.1:{}", b.port)])
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("purr \"{}\"", me["name"].as_str().unwrap())),
        "{text}"
    );
    assert!(
        text.contains(&b.id) && text.contains("TCP connect"),
        "{text}"
    );
    assert!(text.contains("handshake"), "{text}");
}

/// A listener on loopback whose every connection gets `reply` at once (or, when
/// `after_request`, once a request head has arrived), then is closed. Serves `n`.
fn listener(
    reply: &'static [u8],
    after_request: bool,
    n: usize,
) -> (u16, std::thread::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().unwrap().port();
    let t = std::thread::spawn(move || {
        for _ in 0..n {
            let Ok((mut s, _)) = l.accept() else { return };
            let _ = s.set_read_timeout(Some(Duration::from_secs(6)));
            if after_request {
                let mut head = Vec::new();
                let mut buf = [0u8; 256];
                // Bounded: until the blank line, EOF, 4 KiB or the timeout.
                while head.len() < 4096 && !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(k) => head.extend_from_slice(&buf[..k]),
                    }
                }
                if !head.starts_with(b"GET ") {
                    continue; // our HAND: an HTTP server says nothing to it here
                }
            }
            let _ = s.write_all(reply);
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    (port, t)
}

#[test]
fn a_listener_sending_garbage_is_something_else_with_its_first_bytes() {
    let (port, t) = listener(b"\x00\x01garbage\xff", false, 1);
    let (code, p, took) = probe(&format!("127.0.0.1:{port}"));
    assert_eq!(code, 1, "{p}");
    assert_eq!(p["answer"], "other", "{p}");
    assert_eq!(p["first_bytes"], "\\x00\\x01garbage\\xff", "{p}");
    assert!(p["id"].is_null());
    assert!(took < Duration::from_secs(5), "took {took:?}");
    t.join().unwrap();
}

#[test]
fn a_silent_http_server_is_named_by_its_status_line() {
    let (port, t) = listener(
        b"HTTP/1.1 200 OK\r\nServer: tinyhttpd/0.1\r\nContent-Length: 0\r\n\r\n",
        true,
        2,
    );
    let (code, p, took) = probe(&format!("127.0.0.1:{port}"));
    assert_eq!(code, 1, "{p}");
    assert_eq!(p["answer"], "http", "{p}");
    assert_eq!(
        p["banner"], "HTTP/1.1 200 OK (Server: tinyhttpd/0.1)",
        "{p}"
    );
    assert!(took < Duration::from_secs(5), "took {took:?}");
    t.join().unwrap();
}

#[test]
fn a_closed_port_is_refused() {
    let port = free_port();
    let (code, p, took) = probe(&format!("127.0.0.1:{port}"));
    assert_eq!(code, 1, "{p}");
    assert_eq!(p["answer"], "nothing", "{p}");
    assert!(p["error"].as_str().unwrap_or("").contains("refused"), "{p}");
    assert!(p["connect_ms"].is_null(), "{p}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
}
