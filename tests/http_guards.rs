//! SPEC §3 guards on a real node: token flow, Host check, limits, keep-alive, caching.

mod support;

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use support::{get, http, read_response, Node};

#[test]
fn no_token_is_401_with_the_hint() {
    let node = Node::start();
    let r = get(node.addr(), "/", "");
    assert_eq!(r.status, 401);
    assert!(r.text().contains("purr url"), "{}", r.text());
    let r = get(node.addr(), "/", "Cookie: purr_token=wrong\r\n");
    assert_eq!(r.status, 401);
    let r = get(node.addr(), "/api/v1/me", "");
    assert_eq!(r.status, 401);
    assert!(
        r.text().contains("\"error\""),
        "API errors are JSON: {}",
        r.text()
    );
}

#[test]
fn token_url_sets_the_cookie_and_redirects() {
    let node = Node::start();
    let token = node.token();
    let r = get(node.addr(), &format!("/?token={token}"), "");
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location").as_deref(), Some("/"));
    assert_eq!(
        r.header("set-cookie").as_deref(),
        Some(format!("purr_token={token}; HttpOnly; SameSite=Strict; Path=/").as_str())
    );
    let r = get(node.addr(), "/?token=00", "");
    assert_eq!(r.status, 401);
}

#[test]
fn cookie_or_bearer_gets_the_page_and_the_api() {
    let node = Node::start();
    let token = node.token();
    let r = get(
        node.addr(),
        "/",
        &format!("Cookie: a=b; purr_token={token}\r\n"),
    );
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    assert!(r
        .header("content-security-policy")
        .unwrap()
        .contains("default-src 'self'"));
    assert!(r.text().contains("<html"));
    let r = get(
        node.addr(),
        "/api/v1/me",
        &format!("Authorization: Bearer {token}\r\n"),
    );
    assert_eq!(r.status, 200);
    let me: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(me["id"], node.id.as_str());
    assert_eq!(me["port"], node.port);
}

#[test]
fn foreign_host_is_421() {
    let node = Node::start();
    let token = node.token();
    let auth = format!("Authorization: Bearer {token}\r\n");
    for host in [
        "evil.example",
        "localhost.evil.example:80",
        "10.0.0.1",
        "127.0.0.2",
    ] {
        let r = http(
            node.addr(),
            &format!("GET / HTTP/1.1\r\nHost: {host}\r\n{auth}Connection: close\r\n\r\n"),
        );
        assert_eq!(r.status, 421, "Host {host}");
    }
    let r = http(
        node.addr(),
        &format!("GET / HTTP/1.1\r\n{auth}Connection: close\r\n\r\n"),
    );
    assert_eq!(r.status, 421, "missing Host");
    for host in ["localhost:1", "127.0.0.1", "[::1]:9"] {
        let r = http(
            node.addr(),
            &format!("GET / HTTP/1.1\r\nHost: {host}\r\n{auth}Connection: close\r\n\r\n"),
        );
        assert_eq!(r.status, 200, "Host {host}");
    }
}

#[test]
fn bad_requests_get_400_431_413() {
    let node = Node::start();
    let r = http(node.addr(), "GET /\x01 HTTP/1.1\r\n\r\n");
    assert_eq!(r.status, 400);
    let big = format!(
        "GET / HTTP/1.1\r\nHost: localhost\r\nX: {}\r\n\r\n",
        "a".repeat(17 * 1024)
    );
    let r = http(node.addr(), &big);
    assert_eq!(r.status, 431);
    let r = http(
        node.addr(),
        "POST /api/v1/messages HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2000000\r\n\r\n",
    );
    assert_eq!(r.status, 413);
}

#[test]
fn keep_alive_serves_two_requests_on_one_socket() {
    let node = Node::start();
    let token = node.token();
    let mut s = TcpStream::connect(node.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let req = format!(
        "GET /api/v1/me HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n\r\n"
    );
    s.write_all(req.as_bytes()).unwrap();
    assert_eq!(read_response(&mut s).unwrap().status, 200);
    s.write_all(req.as_bytes()).unwrap();
    let second = read_response(&mut s).unwrap();
    assert_eq!(second.status, 200);
    assert_eq!(second.header("connection"), None, "still keep-alive");
    // HEAD: same headers, no body.
    let head = format!("HEAD / HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n");
    s.write_all(head.as_bytes()).unwrap();
    let mut rest = Vec::new();
    std::io::Read::read_to_end(&mut s, &mut rest).unwrap();
    let rest = String::from_utf8_lossy(&rest);
    assert!(rest.starts_with("HTTP/1.1 200"), "{rest}");
    assert!(rest.ends_with("\r\n\r\n"), "HEAD has no body: {rest}");
}

#[test]
fn etag_gives_304() {
    let node = Node::start();
    let auth = format!("Authorization: Bearer {}\r\n", node.token());
    let r = get(node.addr(), "/", &auth);
    let etag = r.header("etag").expect("ETag");
    assert_eq!(r.header("cache-control").as_deref(), Some("no-cache"));
    let r = get(
        node.addr(),
        "/",
        &format!("{auth}If-None-Match: {etag}\r\n"),
    );
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    let r = get(node.addr(), "/nope.js", &auth);
    assert_eq!(r.status, 404);
}

#[test]
fn no_ui_auth_serves_without_token_but_still_checks_host() {
    let node = Node::builder().arg("--no-ui-auth").start();
    assert!(!node.ui_url.contains("token"), "{}", node.ui_url);
    assert_eq!(get(node.addr(), "/", "").status, 200);
    let r = http(node.addr(), "GET / HTTP/1.1\r\nHost: evil.example\r\n\r\n");
    assert_eq!(r.status, 421);
}

#[test]
fn an_idle_http_connection_that_sends_nothing_is_closed_by_the_sniff_deadline() {
    let node = Node::start();
    let mut s = TcpStream::connect(node.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let start = std::time::Instant::now();
    let mut buf = [0u8; 1];
    let n = std::io::Read::read(&mut s, &mut buf).unwrap_or(0);
    assert_eq!(n, 0, "closed without a byte");
    let took = start.elapsed();
    assert!(
        took >= Duration::from_secs(4) && took < Duration::from_secs(10),
        "{took:?}"
    );
}

/// Regression (issue 16, point 11): with two `Host` headers the first one was checked
/// and the request served. Now it is malformed: `400`, whichever of the two is ours.
#[test]
fn two_host_headers_are_a_bad_request() {
    let node = Node::start();
    let auth = format!("Authorization: Bearer {}\r\n", node.token());
    for (first, second) in [
        ("localhost", "evil.example"),
        ("evil.example", "localhost"),
        ("127.0.0.1", "127.0.0.1"),
    ] {
        let r = http(
            node.addr(),
            &format!(
                "GET /api/v1/me HTTP/1.1\r\nHost: {first}\r\n{auth}Host: {second}\r\nConnection: close\r\n\r\n"
            ),
        );
        assert_eq!(r.status, 400, "Host {first} then {second}");
        assert!(r.text().contains("more than one Host"), "{}", r.text());
    }
}
