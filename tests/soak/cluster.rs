//! The soak's nodes: each has a data dir and a port fixed for the whole run (so the
//! `--connect` addresses the others were given stay right across its restarts), one
//! stderr log appended to by every start, and `--connect` to every other node.
//!
//! ```text
//!   Down ──start()──▶ Up ──stop(graceful)──▶ Down   (SIGTERM; must exit 0 within STOP)
//!                      │ ──stop(kill -9)───▶ Down
//!                      └─ exits on its own ─▶ Down, counted as a crash (reap())
//! ```

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::support::{free_port, read_response, Node};

/// How long a SIGTERM'd node may take to exit.
const STOP: Duration = Duration::from_secs(15);

/// One node of the run, up or down.
pub struct Slot {
    pub label: String,
    pub long_lived: bool,
    pub dir: PathBuf,
    pub port: u16,
    pub log: PathBuf,
    /// Known after the first start; never changes (the identity is in the data dir).
    pub id: String,
    pub node: Option<Node>,
}

/// What happened to the nodes, for the report.
#[derive(Default, Debug)]
pub struct Churn {
    pub starts: u64,
    pub graceful: u64,
    pub kills: u64,
    /// Exits nobody asked for.
    pub crashes: Vec<String>,
    /// SIGTERMs not followed by exit code 0 within [`STOP`].
    pub bad_stops: Vec<String>,
    /// Starts that failed (each retried).
    pub failed_starts: Vec<String>,
}

pub struct Cluster {
    pub slots: Vec<Slot>,
    pub churn: Churn,
}

impl Cluster {
    /// `n` nodes under `root`, the first `long_lived` of them never restarted.
    pub fn new(root: &Path, n: usize, long_lived: usize) -> Cluster {
        let slots = (0..n)
            .map(|i| {
                let label = if i < long_lived {
                    format!("L{i}")
                } else {
                    format!("C{i}")
                };
                Slot {
                    dir: root.join(&label),
                    log: root.join(format!("{label}.stderr.log")),
                    label,
                    long_lived: i < long_lived,
                    port: free_port(),
                    id: String::new(),
                    node: None,
                }
            })
            .collect();
        Cluster {
            slots,
            churn: Churn::default(),
        }
    }

    pub fn is_up(&self, i: usize) -> bool {
        self.slots[i].node.is_some()
    }

    pub fn node(&self, i: usize) -> Option<&Node> {
        self.slots[i].node.as_ref()
    }

    /// Starts node `i` (a few attempts: the port was only free "a moment ago").
    pub fn start(&mut self, i: usize) -> Result<(), String> {
        let others: Vec<String> = (0..self.slots.len())
            .filter(|&j| j != i)
            .map(|j| format!("127.0.0.1:{}", self.slots[j].port))
            .collect();
        let slot = &mut self.slots[i];
        let mut last = String::new();
        for _ in 0..5 {
            let mut b = Node::builder()
                .port(slot.port)
                .data_dir(&slot.dir)
                .stderr_log(&slot.log);
            for o in &others {
                b = b.arg("--connect").arg(o.clone());
            }
            // The stranger's identities reach the table of strangers, not only the
            // per-network gate (all of them come from 127.0.0.1).
            b = b.arg("--strangers-per-minute").arg("100000");
            match b.try_start() {
                Ok(node) => {
                    if !slot.id.is_empty() && slot.id != node.id {
                        return Err(format!("{}: identity changed across a restart", slot.label));
                    }
                    slot.id = node.id.clone();
                    slot.node = Some(node);
                    self.churn.starts += 1;
                    return Ok(());
                }
                Err(e) => {
                    last = e.clone();
                    self.churn
                        .failed_starts
                        .push(format!("{}: {e}", slot.label));
                    std::thread::sleep(Duration::from_millis(500));
                }
            }
        }
        Err(format!("{} does not start: {last}", slot.label))
    }

    /// Stops node `i`: SIGTERM (expecting exit 0) or SIGKILL.
    pub fn stop(&mut self, i: usize, graceful: bool) {
        let Some(mut node) = self.slots[i].node.take() else {
            return;
        };
        let label = &self.slots[i].label;
        if graceful {
            self.churn.graceful += 1;
            match node.stop_within(STOP) {
                Some(status) if status.success() => {}
                Some(status) => self
                    .churn
                    .bad_stops
                    .push(format!("{label}: SIGTERM → {status}")),
                None => self
                    .churn
                    .bad_stops
                    .push(format!("{label}: still running {STOP:?} after SIGTERM")),
            }
        } else {
            self.churn.kills += 1;
            node.signal(rustix::process::Signal::KILL);
        }
        drop(node); // SIGKILL (if still alive) and wait
    }

    /// Notices nodes that exited on their own; returns their indexes.
    pub fn reap(&mut self) -> Vec<usize> {
        let mut gone = Vec::new();
        for (i, slot) in self.slots.iter_mut().enumerate() {
            if let Some(status) = slot.node.as_mut().and_then(Node::exited) {
                self.churn
                    .crashes
                    .push(format!("{}: exited on its own: {status}", slot.label));
                slot.node = None;
                gone.push(i);
            }
        }
        gone
    }

    /// Whether every up node sees every other node online (through its API).
    pub fn meshed(&self) -> bool {
        self.slots.iter().all(|s| {
            let Some(node) = &s.node else { return false };
            let Some(peers) = peers_of(node) else {
                return false;
            };
            self.slots.iter().filter(|o| o.id != s.id).all(|o| {
                peers
                    .iter()
                    .any(|p| p["id"] == o.id.as_str() && p["online"] == true)
            })
        })
    }
}

/// `GET /api/v1/<path>` with the token, `None` on any failure (a busy or dying node
/// must not panic the soak before it writes its report; `support::get` would).
pub fn api(node: &Node, path: &str) -> Option<Value> {
    let mut s = TcpStream::connect_timeout(&node.addr(), Duration::from_secs(5)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    s.set_write_timeout(Some(Duration::from_secs(10))).ok()?;
    let req = format!(
        "GET /api/v1/{path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAuthorization: Bearer {}\r\n\
         Connection: close\r\n\r\n",
        node.port,
        node.token()
    );
    s.write_all(req.as_bytes()).ok()?;
    let r = read_response(&mut s).ok()?;
    (r.status == 200)
        .then(|| serde_json::from_slice(&r.body).ok())
        .flatten()
}

/// This node's contacts, as its API lists them.
pub fn peers_of(node: &Node) -> Option<Vec<Value>> {
    api(node, "peers")?.as_array().cloned()
}
