//! Shared helpers for the integration tests: start real `purr` nodes on port 0 with a
//! temporary data dir, talk HTTP and WebSocket to them, stop them on drop.
#![allow(dead_code)] // each test file uses a different subset

pub mod fake_peer;
pub mod faults;
pub mod files;
pub mod group_lan;
pub mod lan;
pub mod netns;
pub mod tunnel;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tungstenite::client::IntoClientRequest;
use tungstenite::{Message, WebSocket};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_purr");

/// A temporary directory for a test's data dirs; kept (and its path printed) when
/// `PURR_TEST_KEEP` is set, so the nodes' `*.stderr.log` can be read after a failure.
pub fn test_dir() -> tempfile::TempDir {
    let mut dir = tempfile::tempdir().expect("tempdir");
    if std::env::var_os("PURR_TEST_KEEP").is_some() {
        dir.disable_cleanup(true);
        eprintln!(
            "PURR_TEST_KEEP: data dirs and logs kept in {}",
            dir.path().display()
        );
    }
    dir
}

/// A running node, stopped (SIGKILL if still alive) when dropped.
pub struct Node {
    child: Option<Child>,
    pub pid: u32,
    pub port: u16,
    pub id: String,
    pub ui_url: String,
    pub listening: String,
    pub data_dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    pub stdout_rest: mpsc::Receiver<String>,
}

/// How to start a node.
pub struct NodeBuilder {
    args: Vec<String>,
    data_dir: Option<PathBuf>,
    netns: Option<String>,
    stderr_log: Option<PathBuf>,
}

impl NodeBuilder {
    pub fn arg(mut self, a: impl Into<String>) -> Self {
        self.args.push(a.into());
        self
    }

    /// A fixed port instead of `--port 0`.
    pub fn port(mut self, port: u16) -> Self {
        if let Some(i) = self.args.iter().position(|a| a == "--port") {
            self.args[i + 1] = port.to_string();
        }
        self
    }

    pub fn data_dir(mut self, d: &Path) -> Self {
        self.data_dir = Some(d.to_path_buf());
        self
    }

    /// LAN discovery on (drops the default `--no-discovery`). Only together with
    /// [`NodeBuilder::netns`]: a test never sends beacons on the machine's own network,
    /// and `try_start` refuses to.
    pub fn discovery(mut self) -> Self {
        self.args.retain(|a| a != "--no-discovery");
        self
    }

    /// Appends the node's stderr to this file as it is written (instead of keeping it in
    /// memory until exit): logs of long runs and of restarts on one data dir all survive,
    /// a `kill -9` included.
    pub fn stderr_log(mut self, path: &Path) -> Self {
        self.stderr_log = Some(path.to_path_buf());
        self
    }

    /// Runs the node inside this network namespace (`ip netns exec`).
    pub fn netns(mut self, ns: &str) -> Self {
        self.netns = Some(ns.to_string());
        self
    }

    pub fn start(self) -> Node {
        self.try_start()
            .unwrap_or_else(|e| panic!("node did not start: {e}"))
    }

    pub fn try_start(self) -> Result<Node, String> {
        if self.netns.is_none() && !self.args.iter().any(|a| a == "--no-discovery") {
            return Err("discovery on outside a test network namespace: refused".into());
        }
        let (tmp, dir) = match self.data_dir {
            Some(d) => (None, d),
            None => {
                let t = tempfile::tempdir().map_err(|e| e.to_string())?;
                let d = t.path().join("data");
                (Some(t), d)
            }
        };
        let mut cmd = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, BIN]);
                c
            }
            None => Command::new(BIN),
        };
        cmd.arg("--data-dir").arg(&dir).args(&self.args);
        // `PURR_TEST_LOG` (a benchmark sets `warn`): a node logging at debug level to a
        // pipe is a slower node.
        let level = std::env::var("PURR_TEST_LOG").unwrap_or_else(|_| "debug".into());
        cmd.env("RUST_LOG", level);
        let stderr_to = match &self.stderr_log {
            Some(path) => std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map(Stdio::from)
                .map_err(|e| format!("{}: {e}", path.display()))?,
            None => Stdio::piped(),
        };
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr_to);
        let mut child = cmd.spawn().map_err(|e| e.to_string())?;
        let pid = child.id();
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        if let Some(stderr) = child.stderr.take() {
            let log_path = dir.with_extension("stderr.log");
            std::thread::spawn(move || {
                let mut all = Vec::new();
                let _ = BufReader::new(stderr).read_to_end(&mut all);
                let _ = std::fs::write(log_path, all);
            });
        }
        let mut lines = Vec::new();
        for _ in 0..3 {
            match rx.recv_timeout(Duration::from_secs(20)) {
                Ok(l) => lines.push(l),
                Err(_) => {
                    let _ = child.kill();
                    let status = child.wait().ok();
                    // The node says why on stderr; with a log file, quote its end.
                    let said = self
                        .stderr_log
                        .as_deref()
                        .and_then(|p| std::fs::read_to_string(p).ok())
                        .map(|log| {
                            let tail: Vec<&str> = log.lines().rev().take(3).collect();
                            let tail: Vec<&str> = tail.into_iter().rev().collect();
                            format!(", log ends: {tail:?}")
                        })
                        .unwrap_or_default();
                    return Err(format!(
                        "startup lines missing: got {lines:?}, exit {status:?}{said}"
                    ));
                }
            }
        }
        let listening = lines[0]
            .strip_prefix("listening on ")
            .ok_or(format!("bad line 1: {}", lines[0]))?
            .to_string();
        let port = listening
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .ok_or("no port")?;
        let id = lines[1]
            .strip_prefix("id ")
            .ok_or("bad line 2")?
            .to_string();
        let ui_url = lines[2]
            .strip_prefix("ui ")
            .ok_or("bad line 3")?
            .to_string();
        Ok(Node {
            child: Some(child),
            pid,
            port,
            id,
            ui_url,
            listening,
            data_dir: dir,
            _tmp: tmp,
            stdout_rest: rx,
        })
    }
}

impl Node {
    /// A node on loopback, `--port 0 --no-discovery`, fresh data dir.
    pub fn builder() -> NodeBuilder {
        NodeBuilder {
            args: vec!["--port".into(), "0".into(), "--no-discovery".into()],
            data_dir: None,
            netns: None,
            stderr_log: None,
        }
    }

    pub fn start() -> Node {
        Node::builder().start()
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn token(&self) -> String {
        std::fs::read_to_string(self.data_dir.join("ui.token"))
            .expect("token file")
            .trim()
            .to_string()
    }

    /// Threads of the node process (from /proc).
    pub fn threads(&self) -> usize {
        proc_status_field(self.pid, "Threads:").unwrap_or(0) as usize
    }

    /// Resident memory in KiB (from /proc).
    pub fn rss_kib(&self) -> u64 {
        proc_status_field(self.pid, "VmRSS:").unwrap_or(0)
    }

    /// Open file descriptors of the node process.
    pub fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    /// The node's stderr so far is only written at exit; this returns it after `stop`.
    pub fn log_path(&self) -> PathBuf {
        self.data_dir.with_extension("stderr.log")
    }

    pub fn signal(&self, sig: rustix::process::Signal) {
        if let Some(pid) = rustix::process::Pid::from_raw(self.pid as i32) {
            let _ = rustix::process::kill_process(pid, sig);
        }
    }

    /// The exit status if the process has ended (without waiting), else `None`.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.as_mut()?.try_wait().ok().flatten()
    }

    /// SIGTERM, then waits up to `timeout` for the exit.
    pub fn stop_within(&mut self, timeout: Duration) -> Option<ExitStatus> {
        self.signal(rustix::process::Signal::TERM);
        let child = self.child.as_mut()?;
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Waits (bounded) until `f` holds, polling every 50 ms.
    pub fn wait_for(&self, what: &str, timeout: Duration, mut f: impl FnMut(&Node) -> bool) {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if f(self) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("timed out after {timeout:?} waiting for {what}");
    }

    /// A WebSocket to `/ws` with the token as a cookie and the page's own Origin.
    pub fn ws(&self) -> Ws {
        let host = format!("127.0.0.1:{}", self.port);
        let origin = format!("http://{host}");
        let cookie = format!("purr_token={}", self.token());
        Ws::connect(
            self.addr(),
            &host,
            &[("Cookie", cookie.as_str()), ("Origin", origin.as_str())],
        )
        .expect("WebSocket connects")
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A numeric field of /proc/<pid>/status (e.g. `VmRSS:` in KiB, `Threads:`).
pub fn proc_status_field(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// An HTTP response as the tests see it.
#[derive(Debug)]
pub struct HttpResp {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl HttpResp {
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Reads one response (head + `Content-Length` body) from a keep-alive stream.
pub fn read_response(s: &mut TcpStream) -> std::io::Result<HttpResp> {
    let mut raw = Vec::new();
    let mut byte = [0u8; 1];
    while !raw.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        raw.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&raw).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut resp = HttpResp {
        status,
        head,
        body: Vec::new(),
    };
    let len: usize = resp
        .header("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    resp.body = vec![0; len];
    s.read_exact(&mut resp.body)?;
    Ok(resp)
}

/// Sends a raw request on a fresh connection and reads one response.
pub fn http(addr: SocketAddr, raw: &str) -> HttpResp {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(raw.as_bytes()).expect("write request");
    read_response(&mut s).expect("read response")
}

/// `GET path` with the given extra header lines (each ending in \r\n).
pub fn get(addr: SocketAddr, path: &str, extra: &str) -> HttpResp {
    http(
        addr,
        &format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n{extra}Connection: close\r\n\r\n",
            addr.port()
        ),
    )
}

/// A WebSocket client with JSON helpers.
pub struct Ws {
    ws: WebSocket<TcpStream>,
}

impl Ws {
    /// Connects to `/ws` with the given `Host` and extra headers; `Err` carries the HTTP
    /// status of a refused upgrade.
    pub fn connect(addr: SocketAddr, host: &str, headers: &[(&str, &str)]) -> Result<Ws, u16> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|_| 0u16)?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut req = format!("ws://{host}/ws")
            .into_client_request()
            .map_err(|_| 0u16)?;
        for (name, value) in headers {
            req.headers_mut().insert(
                tungstenite::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        match tungstenite::client::client(req, stream) {
            Ok((ws, _)) => Ok(Ws { ws }),
            Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(resp))) => {
                Err(resp.status().as_u16())
            }
            Err(_) => Err(0),
        }
    }

    /// Wraps a WebSocket already upgraded (one opened inside a network namespace).
    pub fn from_socket(ws: WebSocket<TcpStream>) -> Ws {
        Ws { ws }
    }

    pub fn send(&mut self, v: Value) {
        self.ws.send(Message::text(v.to_string())).expect("ws send");
    }

    pub fn send_raw(&mut self, m: Message) -> tungstenite::Result<()> {
        self.ws.send(m)
    }

    /// The next text message as JSON (pings are answered on the way).
    pub fn recv(&mut self) -> Value {
        self.try_recv().expect("ws recv")
    }

    pub fn try_recv(&mut self) -> Result<Value, String> {
        loop {
            match self.ws.read() {
                Ok(Message::Text(t)) => {
                    return serde_json::from_str(t.as_str()).map_err(|e| e.to_string())
                }
                Ok(Message::Close(c)) => return Err(format!("closed: {c:?}")),
                Ok(_) => continue,
                Err(e) => return Err(e.to_string()),
            }
        }
    }

    /// Reads messages until one has `cmd`, returning it (bounded by the read timeout).
    pub fn recv_cmd(&mut self, cmd: &str) -> Value {
        for _ in 0..1000 {
            let v = self.recv();
            if v["cmd"] == cmd {
                return v;
            }
        }
        panic!("no {cmd} within 1000 messages");
    }

    pub fn inner(&mut self) -> &mut WebSocket<TcpStream> {
        &mut self.ws
    }
}

impl Node {
    /// `GET /api/v1/<path>` with the token; the JSON answer.
    pub fn api(&self, path: &str) -> Value {
        let r = get(
            self.addr(),
            &format!("/api/v1/{path}"),
            &format!("Authorization: Bearer {}\r\n", self.token()),
        );
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        serde_json::from_slice(&r.body).expect("JSON")
    }

    /// This node's contacts, as `GET /api/v1/peers` lists them.
    pub fn peers(&self) -> Vec<Value> {
        self.api("peers").as_array().cloned().unwrap_or_default()
    }

    /// Whether this node lists `id` as online.
    pub fn sees_online(&self, id: &str) -> bool {
        self.peers()
            .iter()
            .any(|p| p["id"] == id && p["online"] == true)
    }

    /// Established TCP connections owned by this node's process (from /proc).
    pub fn established(&self) -> usize {
        let inodes: std::collections::HashSet<String> =
            std::fs::read_dir(format!("/proc/{}/fd", self.pid))
                .map(|d| {
                    d.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                        .filter_map(|l| {
                            let l = l.to_string_lossy().into_owned();
                            l.strip_prefix("socket:[")?
                                .strip_suffix(']')
                                .map(str::to_string)
                        })
                        .collect()
                })
                .unwrap_or_default();
        let mut n = 0;
        for table in ["tcp", "tcp6"] {
            let text = std::fs::read_to_string(format!("/proc/{}/net/{table}", self.pid))
                .unwrap_or_default();
            for line in text.lines().skip(1) {
                let cols: Vec<&str> = line.split_whitespace().collect();
                // st 01 = ESTABLISHED; column 9 is the inode.
                if cols.len() > 9 && cols[3] == "01" && inodes.contains(cols[9]) {
                    n += 1;
                }
            }
        }
        n
    }
}

/// A port that was free a moment ago, for tests that must know a node's port in advance
/// (a restart on the same port). Taken *below* the kernel's ephemeral range: a port from
/// that range can be taken meanwhile by any outgoing connection (the test's own HTTP
/// requests included) and then stays taken by its TIME_WAIT for a minute, so a node
/// restarted on it fails with "port in use" (a soak smoke failed so in CI).
pub fn free_port() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    const LOW: u16 = 10_000;
    let span = ephemeral_low.saturating_sub(LOW);
    if span >= 1000 {
        // Random per process (std's hasher keys) and per call, so parallel tests rarely
        // pick the same port; the bind below rules out ports already in use.
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(CALLS.fetch_add(1, Ordering::Relaxed));
        let start = h.finish();
        for i in 0..200u64 {
            let port = LOW + (start.wrapping_add(i.wrapping_mul(7919)) % u64::from(span)) as u16;
            if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
                return port;
            }
        }
    }
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Starts B, then A with `--connect` to B, and waits (5 s at most) until each lists
/// the other online: the set-up of most two-node tests. Returns `(a, b)`.
pub fn pair() -> (Node, Node) {
    pair_with(Node::builder())
}

/// [`pair`], with A started from `a` (extra options, its own data dir).
pub fn pair_with(a: NodeBuilder) -> (Node, Node) {
    let b = Node::start();
    let a = a
        .arg("--connect")
        .arg(format!("127.0.0.1:{}", b.port))
        .start();
    assert!(
        eventually(Duration::from_secs(5), || a.sees_online(&b.id)
            && b.sees_online(&a.id)),
        "A and B did not connect"
    );
    (a, b)
}

/// Polls `f` every 50 ms until it holds or `timeout` passes; returns whether it held.
pub fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
