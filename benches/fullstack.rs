//! Full-stack benchmark: two real nodes (release binary) on loopback, a client driving
//! node A's WebSocket and reading node B's, against plain loopback TCP measured by the
//! same program in the same run.
//!
//! `cargo bench --bench fullstack -- [--quick] [--delay-ms N] [--no-fsync]`
//! Prints Markdown table rows; `make bench` collects them into docs/BENCHMARKS.md.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tungstenite::client::IntoClientRequest;
use tungstenite::{Message, WebSocket};

const BIN: &str = env!("CARGO_BIN_EXE_purr");

struct Node {
    child: Child,
    port: u16,
    id: String,
    token: String,
    dir: tempfile::TempDir,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(extra: &[String]) -> Node {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(BIN)
        .args(["--port", "0", "--no-discovery", "--data-dir"])
        .arg(dir.path())
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn purr");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut next = || lines.next().and_then(Result::ok).unwrap_or_default();
    let listening = next();
    let id = next().trim_start_matches("id ").to_string();
    let _ui = next();
    let port = listening
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");
    let token = std::fs::read_to_string(dir.path().join("ui.token")).expect("token");
    Node {
        child,
        port,
        id,
        token: token.trim().to_string(),
        dir,
    }
}

fn ws(node: &Node) -> WebSocket<TcpStream> {
    let stream = TcpStream::connect(("127.0.0.1", node.port)).expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let mut req = format!("ws://127.0.0.1:{}/ws", node.port)
        .into_client_request()
        .expect("req");
    req.headers_mut().insert(
        "Authorization",
        format!("Bearer {}", node.token).parse().expect("header"),
    );
    let (mut ws, _) = tungstenite::client::client(req, stream).expect("ws handshake");
    ws.send(Message::text(json!({"cmd": "hello"}).to_string()))
        .expect("hello");
    ws
}

fn next_json(ws: &mut WebSocket<TcpStream>) -> Option<Value> {
    loop {
        match ws.read() {
            Ok(Message::Text(t)) => return serde_json::from_str(t.as_str()).ok(),
            Ok(_) => continue,
            Err(_) => return None,
        }
    }
}

fn wait_online(a: &Node, b: &Node) {
    let mut wa = ws(a);
    let end = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end {
        let Some(v) = next_json(&mut wa) else { break };
        let peers = match v["cmd"].as_str() {
            Some("peers") => v["peers"].as_array().cloned().unwrap_or_default(),
            Some("peer") => vec![v["peer"].clone()],
            _ => continue,
        };
        if peers
            .iter()
            .any(|p| p["id"] == b.id.as_str() && p["online"] == true)
        {
            return;
        }
    }
    panic!("nodes did not connect");
}

fn text_of(i: u64) -> String {
    format!("{i:012}-{}", "x".repeat(87)) // 100 bytes
}

/// Drains a WebSocket on a thread, counting `cmd`s of interest until `stop`.
fn drain(
    mut w: WebSocket<TcpStream>,
    count_cmd: &'static str,
    count: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    let _ = w
        .get_mut()
        .set_read_timeout(Some(Duration::from_millis(200)));
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            match w.read() {
                Ok(Message::Text(t)) => {
                    if t.as_str().contains(&format!("\"cmd\":\"{count_cmd}\"")) {
                        let is_delivered =
                            count_cmd != "status" || t.as_str().contains("\"delivered\"");
                        if is_delivered {
                            count.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => break,
            }
        }
    })
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Latency of `n` single messages, A's WS send → B's WS arrival, in ms (p50, p99).
fn latency(a: &Node, b: &Node, n: u64) -> (f64, f64) {
    let mut wa = ws(a);
    let mut wb = ws(b);
    // A's own events (pending, delivered) must be read or A would drop this UI.
    let stop = Arc::new(AtomicBool::new(false));
    let reader_a = WebSocket::from_raw_socket(
        wa.get_ref().try_clone().expect("clone"),
        tungstenite::protocol::Role::Client,
        None,
    );
    let drained = drain(
        reader_a,
        "status",
        Arc::new(AtomicU64::new(0)),
        stop.clone(),
    );
    let mut samples = Vec::with_capacity(n as usize);
    for i in 0..n {
        let text = text_of(i);
        let t0 = Instant::now();
        wa.send(Message::text(
            json!({"cmd": "send", "to": b.id, "text": text}).to_string(),
        ))
        .expect("send");
        loop {
            let v = next_json(&mut wb).expect("B's socket");
            if v["cmd"] == "message" && v["message"]["text"] == text.as_str() {
                break;
            }
        }
        samples.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    stop.store(true, Ordering::Relaxed);
    let _ = drained.join();
    samples.sort_by(|x, y| x.total_cmp(y));
    (percentile(&samples, 0.5), percentile(&samples, 0.99))
}

/// Messages per second with `window` in flight for `secs`; returns (rate, sent, delivered,
/// new rows in B's db), and panics unless every message was delivered and stored once.
fn throughput(a: &Node, b: &Node, window: u64, secs: f64) -> (f64, u64, u64, u64) {
    let wa = ws(a);
    let wb = ws(b);
    let stop = Arc::new(AtomicBool::new(false));
    let received = Arc::new(AtomicU64::new(0));
    let delivered = Arc::new(AtomicU64::new(0));
    let mut sender = wa;
    let reader_a = {
        let stream = sender.get_ref().try_clone().expect("clone");
        WebSocket::from_raw_socket(stream, tungstenite::protocol::Role::Client, None)
    };
    let rows_before = count_rows(b);
    let ta = drain(reader_a, "status", delivered.clone(), stop.clone());
    let tb = drain(wb, "message", received.clone(), stop.clone());
    let start = Instant::now();
    let mut sent = 0u64;
    while start.elapsed().as_secs_f64() < secs {
        if sent - received.load(Ordering::Relaxed) < window {
            let msg = json!({"cmd": "send", "to": b.id, "text": text_of(sent)}).to_string();
            sender.write(Message::text(msg)).expect("send");
            sent += 1;
            if sent.is_multiple_of(16) || sent - received.load(Ordering::Relaxed) >= window {
                sender.flush().expect("flush");
            }
        } else {
            sender.flush().expect("flush");
            std::thread::yield_now();
        }
    }
    sender.flush().expect("flush");
    let got = received.load(Ordering::Relaxed);
    let rate = got as f64 / start.elapsed().as_secs_f64();
    // Let every message settle, then count what is durable on B.
    let end = Instant::now() + Duration::from_secs(60);
    while (received.load(Ordering::Relaxed) < sent || delivered.load(Ordering::Relaxed) < sent)
        && Instant::now() < end
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let _ = ta.join();
    let _ = tb.join();
    let rows = count_rows(b) - rows_before;
    let delivered = delivered.load(Ordering::Relaxed);
    // Durable means every message is acknowledged and stored once on B.
    assert_eq!(delivered, sent, "window {window}: every message delivered");
    assert_eq!(
        rows, sent,
        "window {window}: every message stored once on B"
    );
    (rate, sent, delivered, rows)
}

fn count_rows(node: &Node) -> u64 {
    let db = rusqlite::Connection::open_with_flags(
        node.dir.path().join("purr.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open B's db");
    db.query_row(
        "SELECT count(*) FROM messages WHERE direction = 'in'",
        [],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n as u64)
    .unwrap_or(0)
}

/// Loopback TCP between two threads: (one-way latency ms = RTT/2 p50, p99; msgs/s echoed with a window).
fn tcp_baseline(n: u64, window: u64, secs: f64) -> (f64, f64, f64) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let echo = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        s.set_nodelay(true).ok();
        let mut buf = [0u8; 100];
        while s.read_exact(&mut buf).is_ok() {
            if s.write_all(&buf).is_err() {
                break;
            }
        }
    });
    let mut c = TcpStream::connect(addr).expect("connect");
    c.set_nodelay(true).ok();
    let msg = [b'x'; 100];
    let mut back = [0u8; 100];
    let mut samples = Vec::new();
    for _ in 0..n {
        let t0 = Instant::now();
        c.write_all(&msg).expect("write");
        c.read_exact(&mut back).expect("read");
        samples.push(t0.elapsed().as_secs_f64() * 1000.0 / 2.0);
    }
    samples.sort_by(|x, y| x.total_cmp(y));
    // Windowed echo throughput.
    let mut reader = c.try_clone().expect("clone");
    let done = Arc::new(AtomicU64::new(0));
    let d2 = done.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let s2 = stop.clone();
    let rt = std::thread::spawn(move || {
        let mut b = [0u8; 100];
        while !s2.load(Ordering::Relaxed) && reader.read_exact(&mut b).is_ok() {
            d2.fetch_add(1, Ordering::Relaxed);
        }
    });
    let start = Instant::now();
    let mut sent = 0u64;
    while start.elapsed().as_secs_f64() < secs {
        if sent - done.load(Ordering::Relaxed) < window {
            c.write_all(&msg).expect("write");
            sent += 1;
        } else {
            std::thread::yield_now();
        }
    }
    let rate = done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let _ = c.shutdown(std::net::Shutdown::Both);
    let _ = rt.join();
    let _ = echo.join();
    (percentile(&samples, 0.5), percentile(&samples, 0.99), rate)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let delay: Option<String> = args
        .iter()
        .position(|a| a == "--delay-ms")
        .and_then(|i| args.get(i + 1).cloned());
    let (n, secs, windows): (u64, f64, Vec<u64>) = if quick {
        (50, 0.5, vec![1, 100])
    } else {
        (1000, 10.0, vec![1, 20, 100, 1000])
    };
    let mut extra = Vec::new();
    if let Some(d) = &delay {
        extra = vec!["--store-commit-delay-ms".to_string(), d.clone()];
    }
    if args.iter().any(|a| a == "--no-fsync") {
        extra.push("--bench-no-fsync".to_string());
    }
    let b = start(&extra);
    let a = start(
        &[
            extra.clone(),
            vec!["--connect".into(), format!("127.0.0.1:{}", b.port)],
        ]
        .concat(),
    );
    wait_online(&a, &b);

    let (tp50, tp99, _) = tcp_baseline(n, 1, 0.2);
    let (p50, p99) = latency(&a, &b, n);
    println!("| latency, {n} × 100 B, A WS → B WS | p50 {p50:.3} ms, p99 {p99:.3} ms | TCP RTT/2 p50 {tp50:.3} ms, p99 {tp99:.3} ms | {:.1}× |", p50 / tp50);
    for w in windows {
        let (_, _, tcp_rate) = tcp_baseline(10, w, secs.min(2.0));
        let (rate, sent, delivered, rows) = throughput(&a, &b, w, secs);
        println!(
            "| throughput, window {w}, {secs} s | {rate:.0} msg/s (sent {sent}, delivered {delivered}, rows in B {rows}) | TCP echo {tcp_rate:.0} msg/s | {:.3} |",
            rate / tcp_rate
        );
    }
    drop(a);
    drop(b);
}
