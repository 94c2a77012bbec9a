//! A stranger on the LAN throughout the load (issue 16): it mints a fresh Ed25519
//! identity for every connection to a long-lived node, completes the handshake and
//! leaves. The nodes run with a high `--strangers-per-minute`, so the flood reaches the
//! table of strangers (256, oldest evicted) rather than stopping at the rate gate. A
//! second thread times what a user sees meanwhile: the UI's `hello` to its `peers`
//! answer on L1 (L0 is the flooded node), every few seconds. Their RSS is the long-lived nodes' (already
//! sampled); no honest message may be lost (already checked).

use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::rng::Rng;
use crate::support::fake_peer::FakePeer;
use crate::support::Ws;

/// New identities per second, spread over the long-lived nodes.
const MINT_PER_SECOND: u64 = 5;
/// How often the UI's `hello` is timed.
const HELLO_EVERY: Duration = Duration::from_secs(3);
/// What a user may wait for their contact list (issue 16).
pub const HELLO_LIMIT_MS: f64 = 100.0;

/// What the stranger did and what the user saw.
#[derive(Default)]
pub struct StrangerStats {
    /// Identities that completed a handshake.
    pub minted: AtomicU64,
    /// Connections that failed or were refused.
    pub failed: AtomicU64,
    /// `hello` → `peers` times on L0, in ms.
    pub hello_ms: Mutex<Vec<f64>>,
}

impl StrangerStats {
    /// (median, 95th percentile, max) of the `hello` times, if any.
    pub fn hello(&self) -> Option<(f64, f64, f64)> {
        let mut v = self.hello_ms.lock().ok()?.clone();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
        Some((at(0.5), at(0.95), v[v.len() - 1]))
    }
}

/// Mints identities against `targets` until `stop`.
pub fn mint(
    targets: Vec<SocketAddr>,
    stop: Arc<AtomicBool>,
    stats: Arc<StrangerStats>,
    mut rng: Rng,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let pause = Duration::from_millis(1000 / MINT_PER_SECOND);
        let mut n = 0usize;
        while !stop.load(Ordering::Relaxed) {
            let mut seed = [0u8; 32];
            for chunk in seed.chunks_mut(8) {
                chunk.copy_from_slice(&rng.next().to_le_bytes());
            }
            let addr = targets[n % targets.len()];
            n += 1;
            let done = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
                .map_err(|e| e.to_string())
                .and_then(|s| FakePeer::over(s, seed, "stranger").map_err(|e| e.to_string()));
            let counter = if done.is_ok() {
                &stats.minted
            } else {
                &stats.failed
            };
            counter.fetch_add(1, Ordering::Relaxed);
            std::thread::sleep(pause);
        }
    })
}

/// Times `hello` → `peers` on the node at `addr` (token `token`) until `stop`.
pub fn time_hello(
    addr: SocketAddr,
    token: String,
    stop: Arc<AtomicBool>,
    stats: Arc<StrangerStats>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let host = format!("127.0.0.1:{}", addr.port());
        let cookie = format!("purr_token={token}");
        let origin = format!("http://{host}");
        while !stop.load(Ordering::Relaxed) {
            if let Ok(mut ws) = Ws::connect(
                addr,
                &host,
                &[("Cookie", cookie.as_str()), ("Origin", origin.as_str())],
            ) {
                let started = Instant::now();
                ws.send(json!({"cmd": "hello"}));
                // Bounded: the 10 s read timeout, and at most 64 events.
                for _ in 0..64 {
                    match ws.try_recv() {
                        Ok(v) if v["cmd"] == "peers" => {
                            let ms = started.elapsed().as_secs_f64() * 1000.0;
                            if let Ok(mut v) = stats.hello_ms.lock() {
                                v.push(ms);
                            }
                            break;
                        }
                        Ok(_) => {}
                        Err(_) => break,
                    }
                }
            }
            let end = Instant::now() + HELLO_EVERY;
            while Instant::now() < end && !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    })
}
