//! Regression: the node read a request's body (up to 1 MiB, `Content-Length`) before it
//! checked the Host and the token, so clients without the token could make it hold
//! 1 MiB per connection (hundreds of MiB at the connection cap). The guards now run on
//! the head; a refused request's body is never read and its connection is closed.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::{read_response, Node};

const HEAD: &str = "POST /api/v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1048576\r\n\r\n";

#[test]
fn a_request_without_the_token_is_refused_before_its_body_is_read() {
    let node = Node::start();
    let conns: Vec<TcpStream> = (0..50)
        .map(|_| {
            let mut s = TcpStream::connect(node.addr()).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
            s.write_all(HEAD.as_bytes()).unwrap();
            s
        })
        .collect();
    let start = Instant::now();
    for mut s in conns {
        // The answer comes without a byte of the body sent ...
        let resp = read_response(&mut s).expect("an answer before the body");
        assert_eq!(resp.status, 401);
        assert_eq!(resp.header("connection").as_deref(), Some("close"));
        // ... and the node hangs up rather than reading the body as the next request.
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
        assert!(rest.is_empty());
    }
    assert!(start.elapsed() < Duration::from_secs(3));
}

#[test]
fn a_request_with_the_token_still_has_its_body_read() {
    let node = Node::start();
    let body = r#"{"to":"nobody","text":"hi"}"#;
    let resp = support::http(
        node.addr(),
        &format!(
            "POST /api/v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            node.token(),
            body.len()
        ),
    );
    // The body was read and understood: `nobody` is not a contact.
    assert_eq!(resp.status, 404, "{}", resp.text());
}
