//! A light test peer: speaks `purr/1` with the library's own `purr::peer` modules, so
//! one benchmark process can hold many authenticated peer connections to the node under
//! test without running a node per peer.
//!
//! Each peer is one thread with a small stack and its own TCP connection and identity. It
//! runs the initiator handshake (`driver::run_initiator`), then reads records until the
//! connection ends, answering `PING` with `PONG` (the keepalive of SPEC §7) and ignoring
//! everything else (`LIST`, `NAME`, …). It never sends `LIST`, so the node learns of no
//! address to dial. [`TestPeers::stop`] shuts every socket down, which ends the threads.

use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use purr::conn::handshake as driver;
use purr::peer::frame;
use purr::peer::inner::Inner;
use sha2::{Digest, Sha256};

/// Stack of each peer thread: the handshake's curve arithmetic needs a few KiB.
const STACK: usize = 128 * 1024;
/// A peer that hears nothing for this long gives up (the node pings every 15 s).
const SILENCE: Duration = Duration::from_secs(60);

/// A crowd of test peers connected to one node.
pub struct TestPeers {
    sockets: Arc<Mutex<Vec<TcpStream>>>,
    threads: Vec<JoinHandle<()>>,
    /// Peers whose handshake has completed and that are still connected.
    pub up: Arc<AtomicUsize>,
    /// `PING`s answered with `PONG`, over all peers.
    pub pongs: Arc<AtomicUsize>,
}

/// The identity of test peer `i` (distinct per peer, stable across runs).
fn key(i: usize) -> SigningKey {
    let seed: [u8; 32] = Sha256::digest(format!("purr test peer {i}")).into();
    SigningKey::from_bytes(&seed)
}

/// Starts `n` peers that dial `node`; returns at once (see [`TestPeers::wait_up`]).
pub fn spawn(node: SocketAddr, n: usize) -> TestPeers {
    spawn_range(node, 0..n)
}

/// Starts the peers numbered `range` (each number its own identity, so two crowds with
/// different numbers are different peers); returns at once.
pub fn spawn_range(node: SocketAddr, range: std::ops::Range<usize>) -> TestPeers {
    let peers = TestPeers {
        sockets: Arc::new(Mutex::new(Vec::new())),
        threads: Vec::new(),
        up: Arc::new(AtomicUsize::new(0)),
        pongs: Arc::new(AtomicUsize::new(0)),
    };
    let mut threads = Vec::new();
    for i in range {
        let sockets = peers.sockets.clone();
        let up = peers.up.clone();
        let pongs = peers.pongs.clone();
        let t = std::thread::Builder::new()
            .name(format!("testpeer{i}"))
            .stack_size(STACK)
            .spawn(move || run(node, i, &sockets, &up, &pongs))
            .expect("spawn a test peer");
        threads.push(t);
    }
    TestPeers { threads, ..peers }
}

fn run(
    node: SocketAddr,
    i: usize,
    sockets: &Mutex<Vec<TcpStream>>,
    up: &AtomicUsize,
    pongs: &AtomicUsize,
) {
    let Ok(mut stream) = TcpStream::connect_timeout(&node, Duration::from_secs(5)) else {
        return;
    };
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(driver::HANDSHAKE_TIMEOUT));
    let _ = stream.set_write_timeout(Some(driver::HANDSHAKE_TIMEOUT));
    if let Ok(clone) = stream.try_clone() {
        sockets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(clone);
    }
    // Port 1: a port nobody listens on, should the node ever dial it back.
    let Ok(est) = driver::run_initiator(&mut stream, &key(i), 1, &format!("testpeer{i}")) else {
        return;
    };
    up.fetch_add(1, Ordering::Relaxed);
    let _ = stream.set_read_timeout(Some(SILENCE));
    let (mut send, mut recv) = est.session.split();
    let (mut plain, mut wire) = (Vec::new(), Vec::new());
    let end = Instant::now() + Duration::from_secs(600);
    while Instant::now() < end {
        let Ok(f) = frame::read_frame(&mut stream) else {
            break;
        };
        let Ok(bytes) = recv.open(&f.payload) else {
            break;
        };
        if let Ok(Inner::Ping) = Inner::parse(&bytes) {
            plain.clear();
            wire.clear();
            Inner::Pong.encode(&mut plain);
            if send.seal(&plain, &mut wire).is_err()
                || frame::write_bytes(&mut stream, &wire).is_err()
            {
                break;
            }
            pongs.fetch_add(1, Ordering::Relaxed);
        }
    }
    up.fetch_sub(1, Ordering::Relaxed);
}

impl TestPeers {
    /// Waits (at most `timeout`) until `n` peers are up; returns how many are.
    pub fn wait_up(&self, n: usize, timeout: Duration) -> usize {
        let end = Instant::now() + timeout;
        while self.up.load(Ordering::Relaxed) < n && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.up.load(Ordering::Relaxed)
    }

    /// Closes every connection and joins the threads.
    pub fn stop(self) {
        for s in self
            .sockets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = s.shutdown(Shutdown::Both);
        }
        for t in self.threads {
            let _ = t.join();
        }
    }
}
