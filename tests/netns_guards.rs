//! What other machines see, in network namespaces the test creates: the banner only,
//! and floods that cannot lock the local user out (SPEC §2, §9).

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::json;
use support::netns::{link, Netns};
use support::{Node, Ws};

/// These tests open hundreds of sockets each; run them one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

const NODE_IP: &str = "10.77.0.1";
const CLIENT_IP: &str = "10.77.0.2";

/// A node in its own namespace plus a "LAN client" namespace joined by a veth pair.
fn lan() -> (Netns, Netns, Node) {
    let node_ns = Netns::new("node");
    let client_ns = Netns::new("client");
    link(
        &node_ns,
        &format!("{NODE_IP}/24"),
        &client_ns,
        &format!("{CLIENT_IP}/24"),
    );
    let node = Node::builder().netns(&node_ns.name).start();
    (node_ns, client_ns, node)
}

/// A WebSocket hello from the node's own loopback, inside its namespace.
fn loopback_hello(ns: &Netns, node: &Node) -> Result<String, String> {
    let port = node.port;
    let token = node.token();
    ns.run(move || {
        let host = format!("127.0.0.1:{port}");
        let cookie = format!("purr_token={token}");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut ws = Ws::connect(addr, &host, &[("Cookie", &cookie)])
            .map_err(|s| format!("ws refused: {s}"))?;
        ws.send(json!({"cmd": "hello"}));
        let me = ws.try_recv()?;
        Ok(me["id"].as_str().unwrap_or("").to_string())
    })
}

#[test]
fn lan_clients_get_only_the_banner() {
    require_netns!();
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (_node_ns, client_ns, node) = lan();
    let port = node.port;
    let token = node.token();
    let answers = client_ns.run(move || {
        let mut out = Vec::new();
        for path in ["/", "/ws", "/api/v1/me", &format!("/?token={token}")] {
            let addr: SocketAddr = format!("{NODE_IP}:{port}").parse().unwrap();
            let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let req = format!(
                "GET {path} HTTP/1.1\r\nHost: localhost:{port}\r\nAuthorization: Bearer {token}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
            );
            s.write_all(req.as_bytes()).unwrap();
            let mut all = Vec::new();
            // read_to_end returning means the node closed the connection.
            s.read_to_end(&mut all).unwrap();
            out.push((path.to_string(), String::from_utf8_lossy(&all).into_owned()));
        }
        out
    });
    for (path, answer) in answers {
        assert!(
            answer.starts_with("HTTP/1.1 200 OK\r\n"),
            "{path}: {answer}"
        );
        assert!(
            answer.contains("Content-Type: text/plain"),
            "{path}: {answer}"
        );
        let body = answer.split("\r\n\r\n").nth(1).unwrap_or("");
        assert_eq!(body, "purr peer-to-peer messenger\n", "{path}");
        assert!(!answer.contains("Set-Cookie"), "{path}");
    }
}

/// Waits until the flood's connections are gone: threads and fds back near baseline.
fn settle(node: &Node, baseline: (usize, usize)) {
    node.wait_for(
        "threads and fds back near baseline",
        Duration::from_secs(20),
        |n| n.threads() <= baseline.0 + 2 && n.fds() <= baseline.1 + 2,
    );
}

#[test]
fn a_lan_flood_of_idle_connections_leaves_the_ui_reachable() {
    require_netns!();
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (node_ns, client_ns, node) = lan();
    let baseline = (node.threads(), node.fds());
    let port = node.port;
    // 600 idle connections from the LAN, held open while we try the UI.
    let (hold_tx, hold_rx) = std::sync::mpsc::channel::<()>();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<usize>();
    let flood = std::thread::spawn(move || {
        client_ns.run(move || {
            let addr: SocketAddr = format!("{NODE_IP}:{port}").parse().unwrap();
            let conns: Vec<TcpStream> = (0..600)
                .filter_map(|_| TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok())
                .collect();
            ready_tx.send(conns.len()).unwrap();
            let _ = hold_rx.recv_timeout(Duration::from_secs(30));
            drop(conns);
        });
        client_ns
    });
    let opened = ready_rx.recv_timeout(Duration::from_secs(60)).unwrap();
    assert_eq!(opened, 600, "the kernel accepted all 600 connects");
    // Connections that have sent nothing wait in the acceptor's lobby: no thread each.
    let peak = node.threads();
    assert!(
        peak <= baseline.0 + 1,
        "idle connections cost threads: {peak}"
    );
    let fds = node.fds();
    assert!(fds <= 512 + baseline.1 + 2, "cap holds: {fds} fds");
    let id = loopback_hello(&node_ns, &node).expect("UI reachable during the flood");
    assert_eq!(id, node.id);
    hold_tx.send(()).unwrap();
    let _client_ns = flood.join().unwrap();
    settle(&node, baseline);
    assert!(loopback_hello(&node_ns, &node).is_ok());
}

#[test]
fn a_loopback_flood_is_cleared_by_the_sniff_deadline() {
    require_netns!();
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (node_ns, _client_ns, node) = lan();
    let baseline = (node.threads(), node.fds());
    let port = node.port;
    let conns = node_ns.run(move || {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        (0..600)
            .filter_map(|_| TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok())
            .collect::<Vec<_>>()
    });
    assert_eq!(conns.len(), 600);
    // +2: a connection over the cap exists for a moment between accept and close.
    assert!(
        node.fds() <= 512 + baseline.1 + 2,
        "cap holds: {}",
        node.fds()
    );
    assert!(
        node.threads() <= baseline.0 + 1,
        "no thread per idle connection"
    );
    // The sniff deadline (5 s) closes them all; the UI works right after.
    settle(&node, baseline);
    let id = loopback_hello(&node_ns, &node).expect("UI reachable after the flood");
    assert_eq!(id, node.id);
    drop(conns);
}

/// Regression: the banner for LAN clients read the request body too (up to 1 MiB each,
/// for up to 5 s), so a LAN host could make the node hold hundreds of MiB. Now the head
/// alone is read, and the banner comes at once.
#[test]
fn lan_clients_get_the_banner_without_their_body_being_read() {
    require_netns!();
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (_node_ns, client_ns, node) = lan();
    let port = node.port;
    let took = client_ns.run(move || {
        let addr: SocketAddr = format!("{NODE_IP}:{port}").parse().unwrap();
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let start = std::time::Instant::now();
        s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\n")
            .unwrap();
        let mut answer = Vec::new();
        let _ = s.read_to_end(&mut answer);
        assert!(
            String::from_utf8_lossy(&answer).ends_with("purr peer-to-peer messenger\n"),
            "{}",
            String::from_utf8_lossy(&answer)
        );
        start.elapsed()
    });
    assert!(took < Duration::from_secs(2), "banner after {took:?}");
}

/// A namespace left by a test process that is gone (killed, or failed while a thread
/// held the namespace) is deleted by the next run; one whose process lives is kept.
#[test]
fn namespaces_of_gone_test_processes_are_swept() {
    require_netns!();
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    gone.wait().unwrap();
    let stale = format!("purr-stale-{}-0", gone.id());
    let live = format!("purr-live-{}-{}", std::process::id(), u32::MAX);
    support::netns::ip(&["netns", "add", &stale]);
    support::netns::ip(&["netns", "add", &live]);
    support::netns::sweep_stale();
    let left = std::fs::read_dir("/run/netns")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect::<Vec<_>>();
    let _ = std::process::Command::new("ip")
        .args(["netns", "del", &live])
        .output();
    assert!(!left.contains(&stale), "{stale} still there: {left:?}");
    assert!(left.contains(&live), "{live} deleted: {left:?}");
}
