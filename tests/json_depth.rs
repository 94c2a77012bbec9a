//! Regression (issue 16, point 11): JSON nesting from a browser or a script was bounded
//! only by serde_json's recursion limit (128), which in a debug build takes most of a
//! connection thread's 256 KiB stack. Every body and command is now refused past 32
//! levels, before serde sees it, with an error that says so; the node stays up.

mod support;

use std::time::Duration;

use serde_json::json;
use support::{http, HttpResp, Node};
use tungstenite::Message;

const TOO_DEEP: &str = "nested deeper than 32 levels";

fn post(node: &Node, body: &str) -> HttpResp {
    http(
        node.addr(),
        &format!(
            "POST /api/v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            node.token(),
            body.len()
        ),
    )
}

/// A send to `to` with an extra field nested `depth` levels (the object itself is one).
fn send_body(to: &str, depth: usize) -> String {
    let extra = format!("{}1{}", "[".repeat(depth - 1), "]".repeat(depth - 1));
    format!(r#"{{"to":"{to}","text":"deep","x":{extra}}}"#)
}

#[test]
fn deep_api_bodies_get_a_clear_400() {
    let (a, b) = support::pair();
    for depth in [33, 100, 10_000] {
        let r = post(&a, &send_body(&b.id, depth));
        assert_eq!(r.status, 400, "depth {depth}: {}", r.text());
        assert!(r.text().contains(TOO_DEEP), "depth {depth}: {}", r.text());
    }
    // Unclosed, as an attacker would rather send it.
    let r = post(&a, &"[".repeat(10_000));
    assert_eq!(r.status, 400);
    assert!(r.text().contains(TOO_DEEP), "{}", r.text());
    // 32 levels are fine (unknown fields are ignored), and the node is still up.
    let r = post(&a, &send_body(&b.id, 32));
    assert_eq!(r.status, 201, "{}", r.text());
}

#[test]
fn deep_websocket_commands_get_a_clear_error_and_the_socket_stays_usable() {
    let node = Node::start();
    let mut ws = node.ws();
    for depth in [33, 10_000] {
        let cmd = format!(
            r#"{{"cmd":"hello","x":{}1{}}}"#,
            "[".repeat(depth - 1),
            "]".repeat(depth - 1)
        );
        ws.send_raw(Message::text(cmd)).unwrap();
        let e = ws.recv_cmd("error");
        let text = e["error"].as_str().unwrap_or_default();
        assert!(text.contains(TOO_DEEP), "depth {depth}: {e}");
    }
    ws.send(json!({"cmd": "hello"}));
    let me = ws.recv_cmd("me");
    assert_eq!(me["id"], node.id.as_str());
    // The node answers other clients too.
    assert!(support::eventually(Duration::from_secs(2), || {
        node.api("me")["id"] == node.id.as_str()
    }));
}
