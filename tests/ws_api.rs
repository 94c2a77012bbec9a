//! The UI WebSocket on a real node: Origin and token guards, hello/me/peers, rename to
//! every UI, errors that keep the socket open.

mod support;

use serde_json::json;
use std::time::Duration;
use support::{Node, Ws};
use tungstenite::Message;

#[test]
fn foreign_origin_is_403_and_missing_token_401() {
    let node = Node::start();
    let host = format!("127.0.0.1:{}", node.port);
    let cookie = format!("purr_token={}", node.token());
    for origin in [
        "http://evil.example",
        "http://localhost:1",
        "null",
        "https://127.0.0.1",
    ] {
        let r = Ws::connect(
            node.addr(),
            &host,
            &[("Cookie", &cookie), ("Origin", origin)],
        );
        assert_eq!(r.err(), Some(403), "Origin {origin}");
    }
    let r = Ws::connect(node.addr(), &host, &[("Origin", &format!("http://{host}"))]);
    assert_eq!(r.err(), Some(401));
    // Scripts send no Origin: allowed with the token.
    let bearer = format!("Bearer {}", node.token());
    assert!(Ws::connect(node.addr(), &host, &[("Authorization", &bearer)]).is_ok());
}

#[test]
fn hello_answers_me_then_peers() {
    let node = Node::start();
    let mut ws = node.ws();
    ws.send(json!({"cmd": "hello"}));
    let me = ws.recv();
    assert_eq!(me["cmd"], "me");
    assert_eq!(me["id"], node.id.as_str());
    assert_eq!(me["port"], node.port);
    assert_eq!(me["fingerprint"].as_str().unwrap().len(), 35);
    let peers = ws.recv();
    assert_eq!(peers["cmd"], "peers");
    assert_eq!(peers["peers"], json!([]));
}

#[test]
fn rename_reaches_every_ui_and_persists() {
    let mut node = Node::start();
    let mut a = node.ws();
    let mut b = node.ws();
    // Make sure both are subscribed before the rename.
    for ws in [&mut a, &mut b] {
        ws.send(json!({"cmd": "peers"}));
        ws.recv_cmd("peers");
    }
    a.send(json!({"cmd": "rename", "name": "Tom 🐱"}));
    for ws in [&mut a, &mut b] {
        let me = ws.recv_cmd("me");
        assert_eq!(me["name"], "Tom 🐱");
    }
    a.send(json!({"cmd": "rename", "name": ""}));
    let e = a.recv_cmd("error");
    assert_eq!(e["request"], "rename");
    a.send(json!({"cmd": "rename", "name": "x".repeat(65)}));
    assert_eq!(a.recv_cmd("error")["request"], "rename");

    let dir = node.data_dir.clone();
    assert!(node.stop_within(Duration::from_secs(5)).unwrap().success());
    let again = Node::builder().data_dir(&dir).start();
    let mut ws = again.ws();
    ws.send(json!({"cmd": "hello"}));
    assert_eq!(ws.recv_cmd("me")["name"], "Tom 🐱");
}

#[test]
fn bad_input_gets_an_error_and_the_socket_stays_usable() {
    let node = Node::start();
    let mut ws = node.ws();
    ws.send_raw(Message::text("{not json")).unwrap();
    let e = ws.recv();
    assert_eq!(e["cmd"], "error");
    assert!(e["error"].as_str().unwrap().contains("JSON"), "{e}");
    ws.send(json!({"cmd": "dance"}));
    let e = ws.recv();
    assert_eq!(e["cmd"], "error");
    assert_eq!(e["request"], "dance");
    ws.send_raw(Message::binary(vec![1, 2, 3])).unwrap();
    assert_eq!(ws.recv()["cmd"], "error");
    let nested = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    ws.send_raw(Message::text(nested)).unwrap();
    assert_eq!(ws.recv()["cmd"], "error");
    ws.send(json!({"cmd": "hello"}));
    assert_eq!(ws.recv()["cmd"], "me");
}

#[test]
fn an_oversized_frame_gets_an_error_and_close_1009() {
    let node = Node::start();
    let mut ws = node.ws();
    let big = format!(
        "{{\"cmd\":\"send\",\"to\":\"x\",\"text\":\"{}\"}}",
        "a".repeat(300 * 1024)
    );
    ws.send_raw(Message::text(big)).unwrap();
    let e = ws.recv();
    assert_eq!(e["cmd"], "error");
    assert!(e["error"].as_str().unwrap().contains("too large"), "{e}");
    let mut code = None;
    for _ in 0..10 {
        match ws.inner().read() {
            Ok(Message::Close(Some(c))) => {
                code = Some(u16::from(c.code));
                break;
            }
            Ok(_) => continue,
            Err(_) => break,
        }
    }
    assert_eq!(code, Some(1009));
    // The node itself is fine.
    let mut again = node.ws();
    again.send(json!({"cmd": "hello"}));
    assert_eq!(again.recv()["cmd"], "me");
}
