//! The soak's WebSocket clients and what they saw.
//!
//! Every UI of a node gets every event (SPEC §5), so each client must keep reading or the
//! node drops it (HTTP.md: 1024 events unread). Each client is therefore one thread that
//! owns its socket, alternating "write what is queued" and "read what is ready"
//! (10 ms read timeout), and records events in the shared [`Tracker`]:
//! - a driver client per node, fed `send`/`rename`/`read` frames by the driver loop;
//! - the flood client on one long-lived node, which writes bursts of `send`s as fast as
//!   the node takes them, in phases (on 5–20 s, off 3–10 s: the node's queues must fill
//!   and drain again, and the rest of the soak gets the CPU between phases), and
//!   reconnects when the node drops it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tungstenite::Message;

use crate::rng::Rng;
use crate::support::{Node, Ws};

/// Frames a flood burst writes before it reads again.
const FLOOD_BURST: usize = 128;

/// An outgoing message a sender's UI reported (`message`, from this node).
#[derive(Clone, Copy, Debug)]
pub struct Sent {
    pub from: u8,
    pub to: u8,
    pub flood: bool,
}

/// What the UIs reported, keyed by message id (16 bytes as a u128: a long flood
/// reports millions of them).
#[derive(Default)]
pub struct Tracker {
    ids: HashMap<String, u8>,
    pub sent: HashMap<u128, Sent>,
    /// Ids some UI reported `delivered` (or `read`, which implies it).
    pub delivered: HashSet<u128>,
    /// The last name each node confirmed with `me`.
    pub names: Vec<Option<String>>,
    /// `error` events by request, and the first few texts.
    pub errors: BTreeMap<String, u64>,
    pub error_samples: Vec<String>,
}

impl Tracker {
    pub fn new(node_ids: &[String]) -> Tracker {
        Tracker {
            ids: node_ids
                .iter()
                .enumerate()
                .map(|(i, id)| (id.clone(), i as u8))
                .collect(),
            names: vec![None; node_ids.len()],
            ..Tracker::default()
        }
    }

    fn apply(&mut self, node: u8, v: &Value) {
        match v["cmd"].as_str() {
            Some("message") => {
                let m = &v["message"];
                let (Some(id), Some(&from), Some(&to)) = (
                    hex128(&m["id"]),
                    m["from"].as_str().and_then(|f| self.ids.get(f)),
                    m["to"].as_str().and_then(|t| self.ids.get(t)),
                ) else {
                    return;
                };
                if from != node {
                    return; // incoming: the databases are the truth for those
                }
                let flood = m["text"].as_str().is_some_and(|t| t.starts_with('f'));
                self.sent.entry(id).or_insert(Sent { from, to, flood });
                if m["status"] == "delivered" || m["status"] == "read" {
                    self.delivered.insert(id);
                }
            }
            Some("status") if v["status"] == "delivered" || v["status"] == "read" => {
                if let Some(id) = hex128(&v["id"]) {
                    self.delivered.insert(id);
                }
            }
            Some("me") => {
                if let Some(n) = v["name"].as_str() {
                    self.names[node as usize] = Some(n.to_string());
                }
            }
            Some("error") => {
                let req = v["request"].as_str().unwrap_or("-").to_string();
                *self.errors.entry(req).or_default() += 1;
                if self.error_samples.len() < 10 {
                    self.error_samples.push(v.to_string());
                }
            }
            _ => {}
        }
    }
}

/// A message id (32 hex chars) as a number.
pub fn hex128(v: &Value) -> Option<u128> {
    let s = v.as_str()?;
    (s.len() == 32).then(|| u128::from_str_radix(s, 16).ok())?
}

/// State shared by the driver and every client thread.
pub struct Shared {
    pub tracker: Mutex<Tracker>,
    pub stop: AtomicBool,
}

impl Shared {
    pub fn tracker(&self) -> std::sync::MutexGuard<'_, Tracker> {
        self.tracker.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn connect(port: u16, token: &str) -> Result<Ws, String> {
    let host = format!("127.0.0.1:{port}");
    let origin = format!("http://{host}");
    let cookie = format!("purr_token={token}");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut ws = Ws::connect(
        addr,
        &host,
        &[("Cookie", cookie.as_str()), ("Origin", origin.as_str())],
    )
    .map_err(|status| format!("WebSocket refused ({status})"))?;
    let stream = ws.inner().get_mut();
    stream
        .set_read_timeout(Some(Duration::from_millis(10)))
        .map_err(|e| e.to_string())?;
    stream
        .set_write_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    ws.send_raw(Message::text(json!({"cmd": "hello"}).to_string()))
        .map_err(|e| e.to_string())?;
    Ok(ws)
}

/// Writes `frames`, then reads what is ready (at most 4096 events) into the tracker.
/// `Err` when the socket is gone.
fn pump(ws: &mut Ws, node: u8, frames: Vec<String>, shared: &Shared) -> Result<(), String> {
    let n = frames.len();
    for f in frames {
        ws.inner()
            .write(Message::text(f))
            .map_err(|e| format!("write: {e}"))?;
    }
    if n > 0 {
        ws.inner().flush().map_err(|e| format!("flush: {e}"))?;
    }
    let mut events = Vec::new();
    while events.len() < 4096 {
        match ws.inner().read() {
            Ok(Message::Text(t)) => {
                if let Ok(v) = serde_json::from_str::<Value>(t.as_str()) {
                    events.push(v);
                }
            }
            Ok(Message::Close(c)) => return Err(format!("closed by the node: {c:?}")),
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
            {
                break
            }
            Err(e) => return Err(format!("read: {e}")),
        }
    }
    if !events.is_empty() {
        let mut t = shared.tracker();
        for v in &events {
            t.apply(node, v);
        }
    }
    Ok(())
}

/// The driver's client of one node (one per start of the node).
pub struct UiClient {
    tx: mpsc::Sender<String>,
    alive: Arc<AtomicBool>,
    quit: Arc<AtomicBool>,
    why: Arc<Mutex<String>>,
    handle: Option<JoinHandle<()>>,
}

impl UiClient {
    pub fn open(node: &Node, idx: u8, shared: Arc<Shared>) -> Result<UiClient, String> {
        let mut ws = connect(node.port, &node.token())?;
        let (tx, rx) = mpsc::channel::<String>();
        let alive = Arc::new(AtomicBool::new(true));
        let quit = Arc::new(AtomicBool::new(false));
        let why = Arc::new(Mutex::new(String::new()));
        let (a, q, w) = (alive.clone(), quit.clone(), why.clone());
        let handle = std::thread::spawn(move || {
            while !q.load(Ordering::Relaxed) {
                let frames: Vec<String> = rx.try_iter().take(512).collect();
                if let Err(e) = pump(&mut ws, idx, frames, &shared) {
                    *w.lock().unwrap_or_else(|e| e.into_inner()) = e;
                    break;
                }
            }
            a.store(false, Ordering::Relaxed);
        });
        Ok(UiClient {
            tx,
            alive,
            quit,
            why,
            handle: Some(handle),
        })
    }

    pub fn send(&self, v: Value) {
        let _ = self.tx.send(v.to_string());
    }

    pub fn alive(&self) -> bool {
        self.alive.load(Ordering::Relaxed)
    }

    /// Why the client ended (empty while it runs).
    pub fn why(&self) -> String {
        self.why.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for UiClient {
    fn drop(&mut self) {
        self.quit.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// What the flood client did.
#[derive(Default)]
pub struct FloodStats {
    pub commands: AtomicU64,
    pub connects: AtomicU64,
    /// Why the node dropped the flood (reason → count).
    pub drops: Mutex<BTreeMap<String, u64>>,
}

/// The flooding client of node `idx` (never restarted, so its port and token hold),
/// sending to the ids in `targets` until `shared.stop`.
pub fn flood(
    node: &Node,
    idx: u8,
    targets: Vec<String>,
    shared: Arc<Shared>,
    mut rng: Rng,
    stats: Arc<FloodStats>,
) -> JoinHandle<()> {
    let (port, token) = (node.port, node.token());
    std::thread::spawn(move || {
        let mut n: u64 = 0;
        let mut on = true;
        let mut phase_end = Instant::now() + Duration::from_secs_f64(rng.secs(5.0, 20.0));
        while !shared.stop.load(Ordering::Relaxed) {
            let mut ws = match connect(port, &token) {
                Ok(ws) => ws,
                Err(_) => {
                    std::thread::sleep(Duration::from_millis(100));
                    continue;
                }
            };
            stats.connects.fetch_add(1, Ordering::Relaxed);
            while !shared.stop.load(Ordering::Relaxed) {
                if Instant::now() >= phase_end {
                    on = !on;
                    let (lo, hi) = if on { (5.0, 20.0) } else { (3.0, 10.0) };
                    phase_end = Instant::now() + Duration::from_secs_f64(rng.secs(lo, hi));
                }
                let mut frames = Vec::new();
                if on {
                    let to = &targets[rng.below(targets.len() as u64) as usize];
                    for _ in 0..FLOOD_BURST {
                        n += 1;
                        frames.push(
                            json!({"cmd": "send", "to": to, "text": format!("f{n} flood")})
                                .to_string(),
                        );
                    }
                    stats
                        .commands
                        .fetch_add(FLOOD_BURST as u64, Ordering::Relaxed);
                }
                if let Err(e) = pump(&mut ws, idx, frames, &shared) {
                    // The reason without numbers, so like drops count together.
                    let kind: String = e
                        .chars()
                        .map(|c| if c.is_ascii_digit() { '#' } else { c })
                        .take(120)
                        .collect();
                    *stats
                        .drops
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .entry(kind)
                        .or_default() += 1;
                    break;
                }
            }
        }
    })
}
