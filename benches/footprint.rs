//! Footprint benchmark: memory and threads (from /proc), binary size, startup time.
//!
//! - idle node: RSS (anonymous and file-backed) and threads a second after start;
//! - 100 connected peers: light in-process test peers (`support::testpeer`), each on its
//!   own TCP connection, handshake + keepalive, connected in two halves; RSS and threads
//!   once each half is up and idle (past one of the node's 10 s trims), so the cost of
//!   one more peer (the second half) is told apart from code that the first peer pages
//!   in once;
//! - 1,000 idle TCP connections that never send a byte: RSS and threads while they are
//!   open, and again after the 5 s sniff deadline; how many the node closed at once
//!   (the `--max-connections` cap, 512 by default) and how many after the deadline;
//! - the release binary (stripped, UI and SQLite inside) and its size;
//! - exec → `listening` line, median of 20, on an empty data dir (creates the key, the
//!   token and the database) and on an existing one.
//!
//! `cargo bench --bench footprint -- [--quick]` prints a Markdown section and `@summary`
//! lines for `scripts/bench.sh`.

mod support;

use std::io::Read;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::{mb, median_ms, start, start_in, verdict};

/// Issue 21's targets: an idle node at most 5.5 MB; 100 authenticated peers add at most
/// 4.8 MB (48 KB each); a first start within 6 ms.
const IDLE_KIB: u64 = 5632;
const PEERS_ADD_KIB: u64 = 4915;
const PER_PEER_KB: f64 = 48.0;
const FIRST_START_MS: f64 = 6.0;

/// Waits `d` in small steps (bounded by construction).
fn settle(d: Duration) {
    std::thread::sleep(d);
}

/// RssAnon / RssFile of a process, KiB.
fn rss_split(pid: u32) -> (u64, u64) {
    (
        support::status_field(pid, "RssAnon:").unwrap_or(0),
        support::status_field(pid, "RssFile:").unwrap_or(0),
    )
}

struct Idle {
    rss: u64,
    threads: u64,
    anon: u64,
    file: u64,
}

fn idle(wait: Duration) -> Idle {
    let node = start(&[]);
    settle(wait);
    let (anon, file) = rss_split(node.pid);
    let out = Idle {
        rss: node.rss_kib(),
        threads: node.threads(),
        anon,
        file,
    };
    node.stop();
    out
}

struct Peers {
    want: usize,
    up: usize,
    online: usize,
    rss: u64,
    threads: u64,
    anon: u64,
    file: u64,
    /// The node's idle RSS just before the peers came, KiB.
    idle: u64,
    /// RSS with the first half of the peers, KiB.
    half_rss: u64,
    half: usize,
    /// Where the resident KiB were with the first half and with all the peers.
    half_split: Split,
    full_split: Split,
}

/// Waits until the node lists `want` peers online (at most 30 s); how many it lists.
fn wait_online(node: &support::Node, want: usize) -> usize {
    let end = Instant::now() + Duration::from_secs(30);
    let mut online = node.online_peers();
    while online < want && Instant::now() < end {
        settle(Duration::from_millis(200));
        online = node.online_peers();
    }
    online
}

/// Resident KiB of a process by kind: thread stacks (mappings the size of a connection
/// thread's stack), other anonymous memory (heap, malloc arenas), file-backed pages.
#[derive(Default, Clone, Copy)]
struct Split {
    stacks: u64,
    heap: u64,
    file: u64,
}

fn split(pid: u32) -> Split {
    let stack_kib = (purr::threads::THREAD_STACK / 1024) as u64;
    let stacks = smaps(pid)
        .iter()
        .filter(|(k, _)| k.1 == stack_kib)
        .map(|(_, rss)| rss)
        .sum();
    let (anon, file) = rss_split(pid);
    Split {
        stacks,
        heap: anon.saturating_sub(stacks),
        file,
    }
}

/// One look at the node: RSS, its anonymous and file-backed parts, and the split.
struct Look {
    rss: u64,
    anon: u64,
    file: u64,
    split: Split,
}

fn look(node: &support::Node) -> Look {
    let (anon, file) = rss_split(node.pid);
    Look {
        rss: node.rss_kib(),
        anon,
        file,
        split: split(node.pid),
    }
}

/// Looks at the node once a second for `period` and returns the look with the median
/// RSS. An idle link's `PING` (15 s after its last frame) wakes its thread, whose stack
/// pages stay resident until it has slept 2 s again, so one instant may catch a share
/// of the threads awake; the median over a ping period is what the node holds most of
/// the time.
fn steady(node: &support::Node, period: Duration) -> Look {
    let looks = (period.as_secs().max(1) + 1) as usize;
    let mut all: Vec<Look> = Vec::with_capacity(looks);
    for i in 0..looks {
        if i > 0 {
            settle(Duration::from_secs(1));
        }
        all.push(look(node));
    }
    all.sort_by_key(|l| l.rss);
    all.swap_remove(all.len() / 2)
}

fn with_peers(n: usize, quiet: Duration, period: Duration) -> Peers {
    // The test peers all come from loopback and never message: strangers, admitted at
    // 30 a minute per network by default (docs/SECURITY.md §2.6), so the rate is raised.
    let node = start(&["--strangers-per-minute", "1000000"]);
    settle(Duration::from_secs(1));
    let idle = node.rss_kib();
    let half = n / 2;
    let first = support::testpeer::spawn(node.addr(), half);
    let up_first = first.wait_up(half, Duration::from_secs(60));
    wait_online(&node, up_first);
    // Idle peers: the LIST announcements and contact commits are done, the writers have
    // given back their batch buffers, and the node's periodic malloc_trim has run.
    settle(quiet);
    let half_look = steady(&node, period);
    let second = support::testpeer::spawn_range(node.addr(), half..n);
    let up = up_first + second.wait_up(n - half, Duration::from_secs(60));
    let online = wait_online(&node, up);
    settle(quiet);
    let full = steady(&node, period);
    let out = Peers {
        want: n,
        up,
        online,
        rss: full.rss,
        threads: node.threads(),
        anon: full.anon,
        file: full.file,
        idle,
        half_rss: half_look.rss,
        half,
        half_split: half_look.split,
        full_split: full.split,
    };
    first.stop();
    second.stop();
    node.stop();
    out
}

struct Flood {
    opened: usize,
    closed_at_once: usize,
    closed_by_deadline: usize,
    peak_rss: u64,
    peak_threads: u64,
    idle_rss: u64,
    after_rss: u64,
    after_threads: u64,
    ui_ok: bool,
    left: Left,
}

/// Mappings of a process: (address range, size KiB) → resident KiB, from /proc/pid/smaps.
fn smaps(pid: u32) -> std::collections::HashMap<(String, u64), u64> {
    let mut out = std::collections::HashMap::new();
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
    let mut current = None;
    for line in text.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if let Some((a, b)) = first.split_once('-') {
            if let (Ok(a), Ok(b)) = (u64::from_str_radix(a, 16), u64::from_str_radix(b, 16)) {
                current = Some((first.to_string(), (b - a) / 1024));
                continue;
            }
        }
        if let (Some(key), Some(kib)) = (&current, line.strip_prefix("Rss:")) {
            let kib = kib
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .unwrap_or(0);
            out.insert(key.clone(), kib);
        }
    }
    out
}

/// Resident memory in mappings that appeared during the flood, by kind (KiB).
#[derive(Default)]
struct Left {
    /// Cached thread stacks (mappings the size of a connection thread's stack).
    stacks: u64,
    stack_count: usize,
    /// glibc malloc arenas of other threads (64 MiB reservations and their heaps).
    arenas: u64,
    arena_count: usize,
    other: u64,
}

fn what_stayed(
    before: &std::collections::HashMap<(String, u64), u64>,
    after: &std::collections::HashMap<(String, u64), u64>,
) -> Left {
    let stack_kib = (purr::threads::THREAD_STACK / 1024) as u64;
    let mut left = Left::default();
    for (key, rss) in after.iter().filter(|(k, _)| !before.contains_key(*k)) {
        let size = key.1;
        if size == stack_kib {
            left.stacks += rss;
            left.stack_count += 1;
        } else if size >= 60 * 1024 || size == 132 {
            // A new arena is a 64 MiB reservation split into its used heap and the rest.
            left.arenas += rss;
            left.arena_count += usize::from(size >= 60 * 1024);
        } else {
            left.other += rss;
        }
    }
    left
}

/// Is this socket closed by the node (EOF, or reset)?
fn closed(s: &TcpStream) -> bool {
    let mut b = [0u8; 1];
    match (&*s).read(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
    }
}

/// Opens `n` silent connections; with `deadline`, waits past the 5 s sniff deadline.
fn flood(n: usize, deadline: bool) -> Flood {
    let node = start(&[]);
    settle(Duration::from_secs(1));
    let maps_before = smaps(node.pid);
    let idle_rss = node.rss_kib();
    let mut socks = Vec::with_capacity(n);
    for _ in 0..n {
        if let Ok(s) = TcpStream::connect_timeout(&node.addr(), Duration::from_secs(2)) {
            let _ = s.set_nonblocking(true);
            socks.push(s);
        }
    }
    let opened = socks.len();
    // Peak: sample for a second while every admitted connection waits to be sniffed.
    let (mut peak_rss, mut peak_threads) = (0, 0);
    for _ in 0..10 {
        peak_rss = peak_rss.max(node.rss_kib());
        peak_threads = peak_threads.max(node.threads());
        settle(Duration::from_millis(100));
    }
    let closed_at_once = socks.iter().filter(|s| closed(s)).count();
    // The UI must stay reachable even now (loopback reserve).
    let ui_ok = node.api("me").is_some();
    // The sniff deadline is 5 s from each accept; wait past it (not in the smoke run).
    if deadline {
        settle(Duration::from_millis(5200));
    }
    let end = Instant::now() + Duration::from_secs(if deadline { 5 } else { 0 });
    let mut closed_total = socks.iter().filter(|s| closed(s)).count();
    while closed_total < opened && Instant::now() < end {
        settle(Duration::from_millis(100));
        closed_total = socks.iter().filter(|s| closed(s)).count();
    }
    settle(Duration::from_millis(500));
    let left = what_stayed(&maps_before, &smaps(node.pid));
    let out = Flood {
        opened,
        closed_at_once,
        closed_by_deadline: closed_total - closed_at_once,
        peak_rss,
        peak_threads,
        idle_rss,
        after_rss: node.rss_kib(),
        after_threads: node.threads(),
        ui_ok,
        left,
    };
    drop(socks);
    node.stop();
    out
}

struct Startup {
    first: Vec<Duration>,
    restart: Vec<Duration>,
}

fn startup(n: usize) -> Startup {
    let mut first = Vec::new();
    let mut restart = Vec::new();
    for _ in 0..n {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("data");
        let node = start_in(&dir, &[]);
        first.push(node.startup);
        node.stop();
        let node = start_in(&dir, &[]);
        restart.push(node.startup);
        node.stop();
    }
    Startup { first, restart }
}

/// What any process costs on this machine, measured in this run: the baselines of
/// sections 4 and 5.
struct Baseline {
    /// VmRSS (KiB) of `sleep`, a process that loads only libc.
    bare_rss: u64,
    /// exec → exit of `purr --version`: exec, dynamic linking and argument parsing, no
    /// data dir, no sockets.
    version: Vec<Duration>,
}

fn baseline(n: usize) -> Baseline {
    let bare_rss = std::process::Command::new("sleep")
        .arg("5")
        .spawn()
        .ok()
        .map_or(0, |mut child| {
            settle(Duration::from_millis(300));
            let rss = support::status_field(child.id(), "VmRSS:").unwrap_or(0);
            let _ = child.kill();
            let _ = child.wait();
            rss
        });
    let version = (0..n)
        .filter_map(|_| {
            let t0 = std::time::Instant::now();
            let ok = std::process::Command::new(support::BIN)
                .arg("--version")
                .stdout(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            ok.then(|| t0.elapsed())
        })
        .collect();
    Baseline { bare_rss, version }
}

/// Size in bytes of the smallest Rust program that can say something (`println!` and
/// `std::env::args`), built in this run by the same compiler with purr's release profile
/// (opt-level 3, fat LTO, one codegen unit, `panic = "unwind"`, stripped): the floor
/// any Rust binary starts from, the baseline of the binary size. `None` if rustc fails.
fn std_floor_size() -> Option<u64> {
    let dir = tempfile::tempdir().ok()?;
    let src = dir.path().join("floor.rs");
    std::fs::write(
        &src,
        "fn main() { println!(\"{}\", std::env::args().count()); }\n",
    )
    .ok()?;
    let out = dir.path().join("floor");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let ok = std::process::Command::new(rustc)
        .args(["--edition", "2021", "-C", "opt-level=3", "-C", "lto=fat"])
        .args([
            "-C",
            "codegen-units=1",
            "-C",
            "panic=unwind",
            "-C",
            "strip=symbols",
        ])
        .arg("-o")
        .arg(&out)
        .arg(&src)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        return None;
    }
    std::fs::metadata(&out).ok().map(|m| m.len())
}

/// Median time of one 4 KiB write + fsync in a new temporary directory (the disk the
/// benchmark's data dirs live on), over `n` files.
fn fsync_ms(n: usize) -> f64 {
    use std::io::Write;
    let Ok(tmp) = tempfile::tempdir() else {
        return 0.0;
    };
    let mut times = Vec::new();
    for i in 0..n {
        let t = Instant::now();
        let ok = std::fs::File::create(tmp.path().join(format!("f{i}")))
            .and_then(|mut f| f.write_all(&[0u8; 4096]).and_then(|()| f.sync_all()));
        if ok.is_ok() {
            times.push(t.elapsed());
        }
    }
    median_ms(times)
}

/// fsync(2)/fdatasync(2) calls of one first start on an empty data dir, counted with
/// `strace -f` up to the `listening` line; `None` without strace. The node is stopped by
/// the PID it writes to `node.json`, then strace ends with it (both bounded).
fn count_fsyncs() -> Option<usize> {
    use std::io::BufRead;
    let tmp = tempfile::tempdir().ok()?;
    let dir = tmp.path().join("data");
    let trace = tmp.path().join("strace.txt");
    let mut child = std::process::Command::new("strace")
        .args(["-f", "-e", "trace=fsync,fdatasync", "-o"])
        .arg(&trace)
        .arg(support::bin())
        .args(["--port", "0", "--no-discovery", "--data-dir"])
        .arg(&dir)
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    let stdout = child.stdout.take()?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let first = std::io::BufReader::new(stdout).lines().next();
        let _ = tx.send(first.and_then(Result::ok).unwrap_or_default());
    });
    let listening = rx
        .recv_timeout(Duration::from_secs(20))
        .unwrap_or_default()
        .starts_with("listening");
    // Traced up to here; now stop the node by its own PID.
    let pid = std::fs::read_to_string(dir.join("node.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["pid"].as_i64())
        .and_then(|p| rustix::process::Pid::from_raw(p as i32));
    if let Some(pid) = pid {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    }
    let end = Instant::now() + Duration::from_secs(5);
    while Instant::now() < end {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        settle(Duration::from_millis(20));
    }
    if let Ok(None) = child.try_wait() {
        if let Some(pid) = pid {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    let text = std::fs::read_to_string(&trace).ok()?;
    let calls = text
        .lines()
        .filter(|l| l.contains("fsync(") || l.contains("fdatasync("))
        .count();
    listening.then_some(calls)
}

/// Total size of the files under `dir`, KiB.
fn dir_kib(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = e.path();
        total += if path.is_dir() {
            dir_kib(&path) * 1024
        } else {
            e.metadata().map_or(0, |m| m.len())
        };
    }
    total / 1024
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (n_peers, n_flood, n_start) = if quick { (5, 20, 2) } else { (100, 1000, 20) };
    let idle_wait = if quick {
        Duration::from_millis(200)
    } else {
        Duration::from_secs(1)
    };

    let bin = std::fs::metadata(support::BIN)
        .map(|m| m.len())
        .unwrap_or(0);
    let bytes = std::fs::read(support::BIN).unwrap_or_default();
    let has_ui = bytes.windows(14).any(|w| w == b"/assets/index-");
    let ui_kib = dir_kib(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("front/dist"));
    let has_sqlite = bytes.windows(15).any(|w| w == b"SQLite format 3");
    let floor = std_floor_size();
    drop(bytes);
    let stripped = std::process::Command::new("file")
        .arg(support::BIN)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains(", stripped"))
        .unwrap_or(false);

    let idle = idle(idle_wait);
    // Past one malloc_trim of the node (every 10 s, src/memory/mod.rs).
    let quiet = if quick {
        Duration::from_secs(1)
    } else {
        Duration::from_secs(12)
    };
    // One ping period of an idle link (`conn::PING_AFTER`) and a second.
    let period = if quick {
        Duration::from_secs(1)
    } else {
        Duration::from_secs(16)
    };
    let peers = with_peers(n_peers, quiet, period);
    let flood = flood(n_flood, !quick);
    let start = startup(n_start);
    let base = baseline(n_start);
    let version_ms = median_ms(base.version.clone());
    let fsyncs = count_fsyncs();
    let fsync = fsync_ms(if quick { 3 } else { 20 });
    let (first_ms, restart_ms) = (
        median_ms(start.first.clone()),
        median_ms(start.restart.clone()),
    );
    let max_ms = |v: &[Duration]| v.iter().max().map_or(0.0, |d| d.as_secs_f64() * 1000.0);

    println!("### 4. Memory and threads (from /proc)\n");
    println!(
        "Command: `cargo bench --bench footprint`. With peers, each figure is the look (RSS and \
         its split, from `/proc`) with the median RSS of {} looks 1 s apart once the peers were \
         idle {} s: an idle link's `PING`, 15 s after its last frame, wakes its thread, whose \
         stack pages stay until it has slept 2 s, so a single look may catch a share of them \
         awake.\n",
        period.as_secs().max(1) + 1,
        quiet.as_secs()
    );
    println!("| state | RSS | threads | target |");
    println!("|---|---|---|---|");
    let added = peers.rss.saturating_sub(peers.idle);
    let per_peer_kb = added as f64 * 1.024 / peers.want.max(1) as f64;
    let second_half = peers.want - peers.half;
    let marginal_kb =
        peers.rss.saturating_sub(peers.half_rss) as f64 * 1.024 / second_half.max(1) as f64;
    println!(
        "| idle node, 1 s after start | **{}** (anon {}, file-backed {}) | {} | **≤5.5 MB** |",
        mb(idle.rss),
        mb(idle.anon),
        mb(idle.file),
        idle.threads
    );
    println!(
        "| {} connected test peers, idle ({} up, {} online at the node) | **{}**: idle {} + {} (anon {}, file-backed {}) | {} | **≤ idle + 4.8 MB** |",
        peers.want,
        peers.up,
        peers.online,
        mb(peers.rss),
        mb(peers.idle),
        mb(added),
        mb(peers.anon),
        mb(peers.file),
        peers.threads,
    );
    println!(
        "| each of those peers: all {} together / the last {} | **{per_peer_kb:.0} KB** / {marginal_kb:.0} KB | {:.2} per peer | **≤48 KB** |",
        peers.want,
        second_half,
        (peers.threads as f64 - idle.threads as f64) / peers.want.max(1) as f64,
    );
    let per = |f: fn(&Split) -> u64| {
        f(&peers.full_split).saturating_sub(f(&peers.half_split)) as f64 * 1.024
            / second_half.max(1) as f64
    };
    println!(
        "| the last {second_half}, each: thread stack / heap and arenas / file-backed | {:.1} / {:.1} / {:.1} KB | — | — |",
        per(|s| s.stacks),
        per(|s| s.heap),
        per(|s| s.file),
    );
    println!(
        "| {} idle TCP connections open (peak over 1 s) | {} | {} | — |",
        flood.opened,
        mb(flood.peak_rss),
        flood.peak_threads
    );
    println!(
        "| after the 5 s sniff deadline (idle before: {}) | **{}** (+{}) | {} | **within 2 MB of idle** |",
        mb(flood.idle_rss),
        mb(flood.after_rss),
        mb(flood.after_rss.saturating_sub(flood.idle_rss)),
        flood.after_threads
    );
    let ratio = |x: u64| x as f64 / base.bare_rss.max(1) as f64;
    let peers_ok = added <= PEERS_ADD_KIB && peers.online == peers.want;
    println!(
        "\nBaseline, same run: a process that loads only libc (`sleep`) is {} resident, so \
         the idle node is {:.1}× that, with {} peers {:.1}×, and after the flood {:.1}×.\n",
        mb(base.bare_rss),
        ratio(idle.rss),
        peers.want,
        ratio(peers.rss),
        ratio(flood.after_rss)
    );
    println!(
        "\nOf the {} idle connections, {} were closed at once (the `--max-connections` cap, \
         512 by default, all of them loopback here) and {} when the 5 s sniff deadline \
         passed. While they were open the UI API still answered: {}.\n",
        flood.opened,
        flood.closed_at_once,
        flood.closed_by_deadline,
        if flood.ui_ok { "yes" } else { "no" }
    );
    println!(
        "What stayed resident after the flood, in memory mappings that did not exist before \
         it (/proc/<pid>/smaps): {} KiB in {} cached thread stacks (glibc keeps up to 40 MiB \
         of freed stacks for reuse; each keeps its top pages, the thread descriptor and \
         TLS, resident), {} KiB in {} new malloc arenas (glibc gives concurrent threads \
         their own arenas, up to 8 per core, and keeps their heads), {} KiB elsewhere.\n",
        flood.left.stacks,
        flood.left.stack_count,
        flood.left.arenas,
        flood.left.arena_count,
        flood.left.other
    );
    let flood_ok = flood.after_rss <= flood.idle_rss + 2048;
    println!(
        "@summary | idle node RSS ({} threads; anon {}, file-backed {}) | {} | ≤5.5 MB | {} |",
        idle.threads,
        mb(idle.anon),
        mb(idle.file),
        mb(idle.rss),
        verdict(idle.rss <= IDLE_KIB)
    );
    println!(
        "@summary | RSS with {} idle authenticated peers ({} threads) | {} (idle {} + {}) | ≤ idle + 4.8 MB | {} |",
        peers.want,
        peers.threads,
        mb(peers.rss),
        mb(peers.idle),
        mb(added),
        verdict(peers_ok)
    );
    println!(
        "@summary | cost of one idle authenticated peer (all {} / the last {}) | {per_peer_kb:.0} KB / {marginal_kb:.0} KB | ≤48 KB | {} |",
        peers.want,
        second_half,
        verdict(per_peer_kb <= PER_PEER_KB)
    );
    println!(
        "@summary | RSS after {} idle TCP connections, past the sniff deadline | {} (idle {}) | within 2 MB of idle | {} | {} |",
        flood.opened,
        mb(flood.after_rss),
        mb(flood.idle_rss),
        verdict(flood_ok),
        if flood_ok {
            String::new()
        } else {
            format!(
                "glibc keeps what the burst of {} connection threads left: {} KiB in {} cached thread stacks and {} KiB in {} malloc arenas (section 4)",
                flood.peak_threads,
                flood.left.stacks,
                flood.left.stack_count,
                flood.left.arenas,
                flood.left.arena_count
            )
        }
    );
    let peers_file = peers.file.saturating_sub(idle.file);
    println!(
        "**What limits us.** An idle node is {} of which {} is file-backed (pages of the \
         binary and libc it runs: those only the start ran are unmapped once it listens, \
         `memory::drop_startup_pages`; the embedded UI is only paged in when served) \
         and {} anonymous (heap, SQLite's page caches for its two connections, the touched \
         part of {} thread stacks, the command queue's ring of 4,096 pointers; the \
         store's and each peer's queues allocate only while something waits). With {} \
         idle authenticated peers the node holds {} more, of which {} file-backed: the \
         code that serving peers runs (handshake, records, the state's peer handling), \
         mapped by the kernel 64 KiB at a time (fault-around), not per peer; the trim \
         tick (every 10 s) unmaps the program's code pages again, so what stays is the \
         code run since. The last {} peers cost {marginal_kb:.0} KB each ({:.1} KB of \
         thread stack, {:.1} KB of heap): one thread per connection, which gives back its \
         read and batch buffers whenever it sleeps and the stack pages below its loop \
         after 2 s without traffic; the handshake ran on another thread, which ended and \
         handed glibc's per-thread cache of the blocks it freed back to the arena; on the \
         heap stay the session, the queues' ends and the state's entry. \
         During the flood the node peaked at {} with {} threads: connections that have not sent their \
         first 4 bytes wait in the acceptor's poll lobby, an fd each and no thread, so \
         no burst of thread stacks or per-thread malloc arenas is left for glibc to keep \
         once the deadline closes them. The loopback flood also \
         shows that the 16 slots reserved for loopback protect the UI from a LAN flood \
         only: {} loopback sockets fill all {} slots, and the UI API {} while they were \
         open.\n",
        mb(idle.rss),
        mb(idle.file),
        mb(idle.anon),
        idle.threads,
        peers.want,
        mb(added),
        mb(peers_file),
        second_half,
        per(|s| s.stacks),
        per(|s| s.heap),
        mb(flood.peak_rss),
        flood.peak_threads,
        flood.opened,
        512,
        if flood.ui_ok {
            "still answered"
        } else {
            "did not answer"
        }
    );

    println!("### 5. Size and startup\n");
    println!("| what | figure | target |");
    println!("|---|---|---|");
    println!(
        "| release binary, {}, UI {} and SQLite {} | **{:.2} MB** ({bin} bytes) | **≤5 MB** |",
        if stripped { "stripped" } else { "NOT stripped" },
        if has_ui { "embedded" } else { "NOT embedded" },
        if has_sqlite { "compiled in" } else { "?" },
        bin as f64 / 1e6
    );
    println!(
        "| exec → `listening`, first start on an empty data dir (median of {n_start}, max {:.1} ms) | **{first_ms:.1} ms** | **≤6 ms** |",
        max_ms(&start.first)
    );
    println!(
        "| exec → `listening`, restart on an existing data dir (median of {n_start}, max {:.1} ms) | **{restart_ms:.1} ms** | **≤50 ms** |",
        max_ms(&start.restart)
    );
    println!(
        "\nBaselines: startup against exec → exit of `purr --version` in this run (exec, \
         dynamic linking, argument parsing; median of {}): {version_ms:.1} ms, so a first \
         start is {:.1}× that and a restart {:.1}×. Size against {}.",
        base.version.len(),
        first_ms / version_ms.max(0.001),
        restart_ms / version_ms.max(0.001),
        match floor {
            Some(f) => format!(
                "the floor of any Rust binary, a `println!` program built in this run with \
                 the same release profile (fat LTO, one codegen unit, unwind, stripped): \
                 {:.2} MB, so purr is {:.1}× it, and {:.2} MB above it of which the \
                 embedded UI is {ui_kib} KiB",
                f as f64 / 1e6,
                bin as f64 / f.max(1) as f64,
                bin.saturating_sub(f) as f64 / 1e6
            ),
            None => "the floor of any Rust binary: not measured (rustc failed)".into(),
        },
    );
    println!(
        "\n@summary | binary size (stripped, UI + SQLite inside) | {:.2} MB{} | ≤5 MB | {} |",
        bin as f64 / 1e6,
        floor.map_or(String::new(), |f| format!(
            " ({:.1}× a std-only `println!` binary, {:.2} MB, same profile, same run)",
            bin as f64 / f.max(1) as f64,
            f as f64 / 1e6
        )),
        verdict(bin <= 5_000_000 && has_ui)
    );
    println!(
        "@summary | startup, empty data dir (median of {n_start}) | {first_ms:.1} ms | ≤6 ms | {} | {} |",
        verdict(first_ms <= FIRST_START_MS),
        if first_ms <= FIRST_START_MS {
            String::new()
        } else {
            format!(
                "bound by the disk: a first start makes {} fsync calls, and one 4 KiB write + fsync took {fsync:.1} ms in this run (section 5)",
                fsyncs.map_or("several".to_string(), |n| n.to_string())
            )
        }
    );
    println!(
        "@summary | startup, existing data dir (median of {n_start}) | {restart_ms:.1} ms | ≤50 ms | {} |",
        verdict(restart_ms <= 50.0)
    );
    println!(
        "\n**What limits us.** Size: the binary holds SQLite (compiled in), \
         the embedded UI ({} KiB of assets), the RustCrypto primitives, clap, serde_json \
         and tungstenite, built with LTO, one codegen unit and stripped; `panic = \"unwind\"` \
         (kept so a bug costs one connection, not the node) adds unwind tables. Startup: a \
         first start generates the identity key and UI token and writes each atomically \
         (temp file, fsync, rename; one fsync of the directory for both), writes the \
         database (an empty one of the current schema, embedded gzipped in the binary and \
         checked against the migrations by a test: written beside its name, flushed, \
         renamed, the directory flushed) and replaces `node.json` (not flushed: \
         it names a running node): {} from exec to a clean stop right after the \
         `listening` line, while a restart only opens what exists. A 4 KiB write + fsync on this disk took {fsync:.1} ms \
         (median of {}) in this run, so the difference between the two medians \
         ({:.1} ms) is mostly waiting for the disk, and a first start is as fast as the \
         disk's flushes. The rest of either start is exec, \
         dynamic linking, opening SQLite and starting four threads.\n",
        ui_kib,
        fsyncs.map_or(
            "several fsync calls (strace is not installed to count them)".to_string(),
            |n| format!("{n} fsync calls (counted with `strace -f`)")
        ),
        if quick { 3 } else { 20 },
        first_ms - restart_ms
    );
}
