//! Helpers shared by the benchmark programs: start a release node and stop it by PID,
//! read its memory, threads and per-thread CPU time from /proc, and call its JSON API.
//! Every wait here is bounded in time.
#![allow(dead_code)] // each benchmark uses a different subset

pub mod report;
pub mod testpeer;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The release binary `cargo bench` built.
pub const BIN: &str = env!("CARGO_BIN_EXE_purr");

/// The binary to run: `$PURR_BENCH_BIN` if set (another build, e.g. one with symbols for
/// `perf`, or one from another branch), else [`BIN`].
pub fn bin() -> String {
    std::env::var("PURR_BENCH_BIN").unwrap_or_else(|_| BIN.to_string())
}

/// A running node, stopped (SIGTERM, then SIGKILL) by its PID when dropped.
pub struct Node {
    child: Child,
    pub pid: u32,
    pub port: u16,
    pub id: String,
    pub data_dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    /// Time from just before `spawn` to the `listening` line.
    pub startup: Duration,
}

/// Starts `purr --port 0 --no-discovery` with `extra` arguments on a fresh data dir.
pub fn start(extra: &[&str]) -> Node {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("data");
    let mut node = start_in(&dir, extra);
    node._tmp = Some(tmp);
    node
}

/// Starts a node on `data_dir` (created by the node if missing).
pub fn start_in(data_dir: &Path, extra: &[&str]) -> Node {
    let mut cmd = Command::new(bin());
    cmd.args(["--port", "0", "--no-discovery", "--data-dir"])
        .arg(data_dir)
        .args(extra);
    spawn(cmd, data_dir)
}

/// Spawns a prepared node command and waits (at most 20 s) for its three startup lines.
pub fn spawn(mut cmd: Command, data_dir: &Path) -> Node {
    cmd.env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let t0 = Instant::now();
    let mut child = cmd.spawn().expect("spawn purr");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send((line, Instant::now())).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    for _ in 0..3 {
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(l) => lines.push(l),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("node did not print its startup lines: {lines:?}");
            }
        }
    }
    let startup = lines[0].1.duration_since(t0);
    let port = lines[0]
        .0
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port in the listening line");
    let id = lines[1].0.trim_start_matches("id ").to_string();
    Node {
        pid: child.id(),
        child,
        port,
        id,
        data_dir: data_dir.to_path_buf(),
        _tmp: None,
        startup,
    }
}

impl Node {
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn token(&self) -> String {
        std::fs::read_to_string(self.data_dir.join("ui.token"))
            .expect("token file")
            .trim()
            .to_string()
    }

    /// Resident memory, KiB.
    pub fn rss_kib(&self) -> u64 {
        status_field(self.pid, "VmRSS:").unwrap_or(0)
    }

    /// Threads of the process.
    pub fn threads(&self) -> u64 {
        status_field(self.pid, "Threads:").unwrap_or(0)
    }

    /// `GET /api/v1/<path>` on loopback with the token; the JSON answer.
    pub fn api(&self, path: &str) -> Option<serde_json::Value> {
        api_get(self.addr(), &self.token(), path)
    }

    /// How many peers the node has online, strangers included: from `GET /api/v1/diag`,
    /// which lists up to 256 peers online first (`/api/v1/peers` shows at most 32
    /// strangers, and the test peers of a bench are strangers), else from the peer list.
    pub fn online_peers(&self) -> usize {
        let online = |v: Option<serde_json::Value>, key: Option<&str>| {
            v.and_then(|v| match key {
                Some(k) => v[k].as_array().cloned(),
                None => v.as_array().cloned(),
            })
            .map(|a| a.iter().filter(|p| p["online"] == true).count())
        };
        online(self.api("diag"), Some("contacts"))
            .or_else(|| online(self.api("peers"), None))
            .unwrap_or(0)
    }

    /// Waits (at most 5 s) for the process to end, e.g. after a `kill -9`.
    pub fn wait_exit(&mut self) {
        let end = Instant::now() + Duration::from_secs(5);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// SIGTERM, then waits up to 5 s (SIGKILL after that).
    pub fn stop(mut self) {
        self.terminate();
    }

    fn terminate(&mut self) {
        if let Some(pid) = rustix::process::Pid::from_raw(self.pid as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        let end = Instant::now() + Duration::from_secs(5);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.terminate();
        }
    }
}

/// A field of /proc/<pid>/status, first number (e.g. `VmRSS:` in KiB).
pub fn status_field(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// `GET /api/v1/<path>` with a bearer token; `None` on any failure (5 s timeouts).
pub fn api_get(addr: SocketAddr, token: &str, path: &str) -> Option<serde_json::Value> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let req = format!(
        "GET /api/v1/{path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n",
        addr.port()
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut all = Vec::new();
    s.read_to_end(&mut all).ok()?;
    let text = String::from_utf8_lossy(&all);
    let (head, body) = text.split_once("\r\n\r\n")?;
    if !head.starts_with("HTTP/1.1 200") {
        return None;
    }
    serde_json::from_str(body).ok()
}

/// CPU time (user + system, in clock ticks of 1/100 s) of every thread of `pid`, by tid,
/// with the thread's name.
pub fn thread_ticks(pid: u32) -> HashMap<u32, (String, u64)> {
    let mut out = HashMap::new();
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for e in dir.flatten() {
        let Some(tid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // "tid (comm) state ppid ..." — comm may contain spaces; split at the last ')'.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = stat[open + 1..close].to_string();
        let rest: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        // After the comm: state(0) ppid(1) ... utime(11) stime(12).
        let ticks = rest
            .get(11)
            .and_then(|u| u.parse::<u64>().ok())
            .unwrap_or(0)
            + rest
                .get(12)
                .and_then(|s| s.parse::<u64>().ok())
                .unwrap_or(0);
        out.insert(tid, (comm, ticks));
    }
    out
}

/// Per-thread CPU use between two [`thread_ticks`] samples taken `secs` apart, as
/// (thread name, percent of one core), busiest first.
pub fn cpu_between(
    before: &HashMap<u32, (String, u64)>,
    after: &HashMap<u32, (String, u64)>,
    secs: f64,
) -> Vec<(String, f64)> {
    let mut v: Vec<(String, f64)> = after
        .iter()
        .map(|(tid, (comm, t1))| {
            let t0 = before.get(tid).map_or(0, |(_, t)| *t);
            (comm.clone(), t1.saturating_sub(t0) as f64 / secs)
        })
        .filter(|(_, pct)| *pct > 0.0)
        .collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1));
    v
}

/// Median of a list of durations, in milliseconds.
pub fn median_ms(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v.get(v.len() / 2).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// The first line of /proc/cpuinfo's `model name`.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// `met` or `MISSED` for the summary lines.
pub fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "MISSED"
    }
}

/// KiB as MB with one decimal (1 MB = 1024 KiB, as /proc and `ps` count).
pub fn mb(kib: u64) -> String {
    format!("{:.1} MB", kib as f64 / 1024.0)
}
