//! Regression (found by `make soak`): a node puts its current name in its `HAND`, and a
//! `rename` sends `NAME` only to peers already online. A rename between the two — while
//! a handshake was under way — never reached that peer, which showed the old name until
//! the next reconnect. The node must follow up with `NAME` once the connection is up.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use purr::conn::handshake::run_initiator;
use purr::peer::frame;
use purr::peer::inner::Inner;
use serde_json::json;
use support::Node;

/// The stream with the first `skip` bytes the handshake writes dropped (the test sent
/// them already, to start the node's side of the handshake early).
struct SkipFirst {
    stream: TcpStream,
    skip: usize,
}

impl Read for SkipFirst {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.stream.read(buf)
    }
}

impl Write for SkipFirst {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let dropped = self.skip.min(buf.len());
        self.skip -= dropped;
        self.stream.write_all(&buf[dropped..])?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.stream.flush()
    }
}

#[test]
fn a_rename_during_a_handshake_reaches_that_peer() {
    let node = Node::start();
    let mut ui = node.ws();
    ui.send(json!({"cmd": "hello"}));
    let old = ui.recv_cmd("me")["name"].as_str().unwrap().to_string();

    // "HAND" routes the connection to the peer protocol, and the node takes its name
    // for its own HAND; the rest of our HAND comes after the rename.
    let mut stream = TcpStream::connect(node.addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(b"HAND").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    ui.send(json!({"cmd": "rename", "name": "renamed mid-handshake"}));
    assert_eq!(ui.recv_cmd("me")["name"], "renamed mid-handshake");

    let mut io = SkipFirst { stream, skip: 4 };
    let key = SigningKey::from_bytes(&[7; 32]);
    let est = run_initiator(&mut io, &key, 1, "fake").expect("handshake");
    assert_eq!(est.peer_name, old, "the node's HAND still had the old name");
    let mut session = est.session;
    let mut names = Vec::new();
    for _ in 0..20 {
        let Ok(f) = frame::read_frame(&mut io.stream) else {
            break;
        };
        let plain = session.open(&f.payload).expect("record opens");
        if let Ok(Inner::Name(n)) = Inner::parse(&plain) {
            names.push(n);
            break;
        }
    }
    assert_eq!(
        names,
        ["renamed mid-handshake"],
        "NAME follows the handshake"
    );
}
