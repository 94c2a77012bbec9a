//! Record-layer benchmark: `Session::seal` + `Session::open` against the bare primitives
//! the record layer is built from, measured by this program in the same run.
//!
//! For each inner-message size (64 B, 1 KiB, 16 KiB, 64 KiB) it times round trips:
//!
//! - **session**: `seal` into a reused `Vec` (fresh random IV, frame header, PKCS#7,
//!   AES-256-CBC, HMAC-SHA256 tag), then `open` of that payload on the receiving session
//!   (constant-time tag check, decryption into a new `Vec`, padding check);
//! - **bare**: the same crates on the same bytes with no framing, no IV drawing and no
//!   allocation: AES-256-CBC encrypt (PKCS#7) in place, HMAC-SHA256 over the ciphertext
//!   (the sender's tag), HMAC-SHA256 again plus a constant-time compare (the receiver's
//!   check), AES-256-CBC decrypt in place.
//!
//! Both variants run in alternating short rounds and the best round counts, so that other
//! work on a shared machine lowers both rather than skewing the ratio.
//!
//! `cargo bench --bench record -- [--quick]` prints a Markdown section (table + what limits
//! it) and `@summary` lines that `scripts/bench.sh` collects into docs/BENCHMARKS.md.

use std::hint::black_box;
use std::time::{Duration, Instant};

use aes::Aes256;
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use hmac::{Hmac, KeyInit, Mac};
use purr::peer::session::{Keys, Role, Session};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;
type CbcEnc = cbc::Encryptor<Aes256>;
type CbcDec = cbc::Decryptor<Aes256>;

const SIZES: [usize; 4] = [64, 1024, 16 * 1024, 64 * 1024];

/// Runs `f` repeatedly for about `round`, returns seconds per call.
fn time_round(round: Duration, f: &mut dyn FnMut()) -> f64 {
    // Calibrate a batch that takes roughly a tenth of the round.
    let mut batch = 1u64;
    loop {
        let t = Instant::now();
        for _ in 0..batch {
            f();
        }
        if t.elapsed() >= round / 10 || batch >= 1 << 24 {
            break;
        }
        batch *= 2;
    }
    let start = Instant::now();
    let mut calls = 0u64;
    while start.elapsed() < round {
        for _ in 0..batch {
            f();
        }
        calls += batch;
    }
    start.elapsed().as_secs_f64() / calls as f64
}

/// One session round trip: seal `inner`, open it on the other end.
struct SessionPair {
    tx: Session,
    rx: Session,
    wire: Vec<u8>,
}

impl SessionPair {
    fn new() -> SessionPair {
        let keys = Keys::from_okm(&[7u8; 128]);
        SessionPair {
            tx: Session::new(&keys, Role::Initiator),
            rx: Session::new(&keys, Role::Responder),
            wire: Vec::new(),
        }
    }

    fn round_trip(&mut self, inner: &[u8]) -> usize {
        self.wire.clear();
        self.tx.seal(inner, &mut self.wire).expect("seal");
        // The 8-byte frame header is the reader's job (frame::read_frame).
        let plain = self.rx.open(&self.wire[8..]).expect("open");
        plain.len()
    }
}

/// The bare primitives on one reused buffer.
struct Bare {
    enc: [u8; 32],
    mac: [u8; 32],
    iv: [u8; 16],
    buf: Vec<u8>,
}

impl Bare {
    fn new(size: usize) -> Bare {
        Bare {
            enc: [7; 32],
            mac: [9; 32],
            iv: [3; 16],
            buf: vec![0; (size / 16 + 1) * 16],
        }
    }

    fn round_trip(&mut self, inner: &[u8]) -> usize {
        self.buf[..inner.len()].copy_from_slice(inner);
        let ct_len = CbcEnc::new((&self.enc).into(), (&self.iv).into())
            .encrypt_padded::<Pkcs7>(&mut self.buf, inner.len())
            .expect("room for padding")
            .len();
        let ct = &self.buf[..ct_len];
        let mut m = HmacSha256::new_from_slice(&self.mac).expect("any key length");
        m.update(ct);
        let tag = m.finalize().into_bytes();
        let mut m = HmacSha256::new_from_slice(&self.mac).expect("any key length");
        m.update(ct);
        m.verify_slice(&tag).expect("same tag");
        CbcDec::new((&self.enc).into(), (&self.iv).into())
            .decrypt_padded::<Pkcs7>(&mut self.buf[..ct_len])
            .expect("valid padding")
            .len()
    }
}

fn cpu_flag(flag: &str) -> bool {
    std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("flags"))
        .is_some_and(|l| l.split_whitespace().any(|f| f == flag))
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (rounds, round) = if quick {
        (1, Duration::from_millis(20))
    } else {
        (7, Duration::from_millis(250))
    };
    let aes_ni = aes::hardware_accelerated();
    println!("### 1. Record layer (seal + open, one core)\n");
    println!(
        "Command: `cargo bench --bench record`. AES: `aes` 0.9 runtime detection \
         (`aes::hardware_accelerated()`, cpufeatures CPUID check) says **{}**; \
         /proc/cpuinfo flags: aes {}, vaes {}, avx512f {}, sha_ni {}. \
         Best of {rounds} alternating rounds of {} ms per variant.\n",
        if aes_ni {
            "AES-NI in use"
        } else {
            "software AES (no AES-NI)"
        },
        yes(cpu_flag("aes")),
        yes(cpu_flag("vaes")),
        yes(cpu_flag("avx512f")),
        yes(cpu_flag("sha_ni")),
        round.as_millis()
    );
    println!("| size | session seal+open | bare AES-CBC enc+dec + 2×HMAC | ratio | target |");
    println!("|---|---|---|---|---|");
    let mut ratios = Vec::new();
    let mut small_ns = (0.0, 0.0);
    for size in SIZES {
        let inner: Vec<u8> = (0..size).map(|i| i as u8).collect();
        let mut pair = SessionPair::new();
        let mut bare = Bare::new(size);
        assert_eq!(pair.round_trip(&inner), size);
        assert_eq!(bare.round_trip(&inner), size);
        let (mut best_s, mut best_b) = (f64::MAX, f64::MAX);
        for _ in 0..rounds {
            best_s = best_s.min(time_round(round, &mut || {
                black_box(pair.round_trip(black_box(&inner)));
            }));
            best_b = best_b.min(time_round(round, &mut || {
                black_box(bare.round_trip(black_box(&inner)));
            }));
        }
        let mbs = |t: f64| size as f64 / t / 1e6;
        let ratio = best_b / best_s;
        let target = match size {
            65536 => Some(0.9),
            64 => Some(0.7),
            _ => None,
        };
        if size == 64 {
            small_ns = (best_s * 1e9, best_b * 1e9);
        }
        let target_text = target.map_or("—".to_string(), |t| format!("**≥{t}**"));
        println!(
            "| {} | {:.1} MB/s ({:.2} µs) | {:.1} MB/s ({:.2} µs) | **{ratio:.2}** | {target_text} |",
            human(size),
            mbs(best_s),
            best_s * 1e6,
            mbs(best_b),
            best_b * 1e6,
        );
        if let Some(t) = target {
            ratios.push((size, ratio, t, mbs(best_s)));
        }
    }
    println!();
    for (size, ratio, target, mbs) in &ratios {
        let ok = ratio >= target;
        println!(
            "@summary | record layer seal+open vs bare primitives, {} | {ratio:.2} ({mbs:.0} MB/s) | ≥{target} | {} |",
            human(*size),
            if ok { "met" } else { "MISSED" }
        );
    }
    let overhead = small_ns.0 - small_ns.1;
    let mut iv_best = f64::MAX;
    for _ in 0..rounds {
        iv_best = iv_best.min(time_round(round, &mut || {
            black_box(purr::rng::bytes::<16>().expect("OS random source"));
        }));
    }
    let iv_ns = iv_best * 1e9;
    println!(
        "\n**What limits us.** At 64 KiB the time is the primitives themselves: AES-256-CBC \
         encryption is serial (each block needs the previous ciphertext), so even with AES-NI \
         it runs at one block per AES latency, and HMAC-SHA256 runs twice (seal and open); \
         CBC *decryption* parallelises. The record layer adds a copy into the frame buffer, \
         one allocation for the opened plaintext and the frame header, which are small next \
         to that. At 64 B the fixed costs dominate: per record {:.0} ns in the session \
         against {:.0} ns bare, i.e. {overhead:.0} ns of overhead: the frame header, the \
         `Vec` for the opened plaintext, the IV and bookkeeping. The fresh random IV per \
         record (SPEC §7) comes from the OS CSPRNG 64 IVs per `getrandom(2)` call; one \
         system call per record, as before that batching, cost {iv_ns:.0} ns (timed alone \
         in this run): {:.1}× the whole overhead above. What would move it further: \
         opening into a reused buffer instead of a new `Vec`, and HMAC key states \
         precomputed once per session (which would speed up the bare primitives as much). \
         None is needed to meet the targets above.\n",
        small_ns.0,
        small_ns.1,
        iv_ns / overhead.max(1.0)
    );
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

fn human(size: usize) -> String {
    if size >= 1024 {
        format!("{} KiB", size / 1024)
    } else {
        format!("{size} B")
    }
}
