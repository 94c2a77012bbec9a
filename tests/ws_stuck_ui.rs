//! Regression: a UI that stopped reading was dropped from the event fan-out once its
//! queue of events overflowed, but its socket stayed open and its writer stayed
//! blocked in a write for up to 30 s per write (60 s were seen), holding the queued
//! events (~10 MB with 40 contacts). Now the node shuts the socket down at once when it
//! drops a UI: once its backlog beyond the queue has waited 3 s (or passed 8 MiB).

mod support;

use std::time::{Duration, Instant};

use support::fake_peer::{connect_small_window, FakePeer};
use support::{eventually, Node};
use tungstenite::client::IntoClientRequest;
use tungstenite::Message;

#[test]
fn a_ui_that_never_reads_is_cut_off_within_seconds() {
    let node = Node::start();
    // Contacts make each `peers` answer ~10 KB, so the backlog outgrows the socket
    // buffers (the node's may grow to 4 MiB) quickly.
    for i in 0..40u8 {
        drop(FakePeer::connect(
            node.addr(),
            [i + 1; 32],
            &format!("contact {i}"),
        ));
    }
    assert!(eventually(Duration::from_secs(10), || node
        .peers()
        .iter()
        .all(|p| p["online"] == false)));
    let baseline = node.threads();

    let stream = connect_small_window(node.addr(), 4096);
    let mut req = format!("ws://127.0.0.1:{}/ws", node.port)
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        "Cookie",
        format!("purr_token={}", node.token()).parse().unwrap(),
    );
    let (mut ws, _) = tungstenite::client::client(req, stream).expect("upgrade");
    let start = Instant::now();
    for _ in 0..3_000 {
        if ws.send(Message::text(r#"{"cmd":"hello"}"#)).is_err() {
            break;
        }
    }
    // Never reading. The node cuts the connection off: its threads end, and a write
    // from us fails.
    let cut = eventually(Duration::from_secs(20), || {
        node.threads() <= baseline && ws.send(Message::text(r#"{"cmd":"peers"}"#)).is_err()
    });
    eprintln!("cut off after {:?}", start.elapsed());
    assert!(cut, "the UI that never reads is still connected");
    assert!(start.elapsed() < Duration::from_secs(20));
}
