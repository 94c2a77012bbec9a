//! Issue 17, point 2 under fire: 21 rounds of `kill -9` — of the receiver, of the
//! sender, of both — at random points of a transfer (a seeded RNG, the seed printed;
//! `PURR_KILL_SEED=<n>` replays a run). After each kill the killed node(s) restart on
//! their data dir and the transfer carries on by itself. Every transfer must end
//! byte-identical (SHA-256) or ended with a reason, never "done" with other bytes; and
//! the chunks sent again because of each kill must stay within point 2's bound.
//!
//! How the re-sent chunks are counted: the sender's writer logs one debug line per
//! chunk it puts on the wire (`transfer <id>: chunk <n> sent`), and every run of the
//! sender appends its stderr to one log file, which a `kill -9` does not lose. Each
//! round is one transfer of N chunks with one kill, so `lines − N` is what that kill
//! cost. A line is written just before the chunk's write, so a chunk killed mid-write
//! counts as sent: the count errs on the side of more.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::files::{accept, chunks_sent, make_file, offer, sha256, transfer, wait_state};
use support::{eventually, Node};

const CHUNK: u64 = 128 * 1024;
const MIB: u64 = 1024 * 1024;
/// Point 2's bound per kill: "the last few MiB plus the window" — the receiver fdatasyncs
/// every 4 MiB, so with the sync in flight and its commit at most 8 MiB are written but
/// not yet held, plus the window of 16 chunks in flight (the bench target).
const MAX_RESENT_CHUNKS: u64 = 8 * MIB / CHUNK + 16;
const ROUNDS: usize = 21;
/// Whole test, kills and restarts included: a hard stop for a run gone wrong (it takes
/// about a minute in a debug build on a busy 2-core machine).
const BUDGET: Duration = Duration::from_secs(240);

/// splitmix64: a seeded sequence, enough to place kills.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Victim {
    Receiver,
    Sender,
    Both,
}

/// The two nodes and how to bring each back on its data dir.
struct Pair {
    recv_data: PathBuf,
    send_data: PathBuf,
    send_log: PathBuf,
    recv_log: PathBuf,
    r: Node,
    s: Node,
}

impl Pair {
    fn start_receiver(data: &Path, log: &Path, connect: Option<u16>) -> Node {
        let mut b = Node::builder().data_dir(data).stderr_log(log);
        if let Some(port) = connect {
            b = b.arg("--connect").arg(format!("127.0.0.1:{port}"));
        }
        b.start()
    }

    fn start_sender(data: &Path, log: &Path, receiver: u16) -> Node {
        Node::builder()
            .data_dir(data)
            .stderr_log(log)
            .arg("--connect")
            .arg(format!("127.0.0.1:{receiver}"))
            .start()
    }

    fn new(dir: &Path) -> Pair {
        let (recv_data, send_data) = (dir.join("recv"), dir.join("send"));
        let (recv_log, send_log) = (dir.join("recv.log"), dir.join("send.log"));
        let r = Pair::start_receiver(&recv_data, &recv_log, None);
        let s = Pair::start_sender(&send_data, &send_log, r.port);
        let pair = Pair {
            recv_data,
            send_data,
            send_log,
            recv_log,
            r,
            s,
        };
        pair.wait_linked();
        pair
    }

    fn wait_linked(&self) {
        assert!(
            eventually(Duration::from_secs(15), || self.r.sees_online(&self.s.id)
                && self.s.sees_online(&self.r.id)),
            "the nodes did not reconnect"
        );
    }

    /// `kill -9`, then a restart of the victim(s); the receiver first, so a restarted
    /// sender can be pointed at it.
    fn kill(&mut self, victim: Victim) {
        const KILL: rustix::process::Signal = rustix::process::Signal::KILL;
        let (kill_r, kill_s) = match victim {
            Victim::Receiver => (true, false),
            Victim::Sender => (false, true),
            Victim::Both => (true, true),
        };
        if kill_r {
            self.r.signal(KILL);
        }
        if kill_s {
            self.s.signal(KILL);
        }
        if kill_r {
            let _ = self.r.stop_within(Duration::from_secs(5));
            let connect = (!kill_s).then_some(self.s.port);
            self.r = Pair::start_receiver(&self.recv_data, &self.recv_log, connect);
        }
        if kill_s {
            let _ = self.s.stop_within(Duration::from_secs(5));
            self.s = Pair::start_sender(&self.send_data, &self.send_log, self.r.port);
        }
        self.wait_linked();
    }
}

/// The state of `id` on `node` (`None` while it does not know it, e.g. mid-restart).
fn state(node: &Node, id: &str) -> Option<(String, u64, Option<String>)> {
    let t = transfer(node, id)?;
    Some((
        t["state"].as_str()?.to_string(),
        t["bytes"].as_u64().unwrap_or(0),
        t["reason"].as_str().map(str::to_string),
    ))
}

fn finished(s: &Option<(String, u64, Option<String>)>) -> bool {
    s.as_ref()
        .is_some_and(|(st, ..)| st == "done" || st == "ended")
}

#[test]
fn kill_9_of_either_side_or_both_at_random_points_never_corrupts_and_resends_little() {
    let seed = std::env::var("PURR_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    eprintln!("kill rounds: seed {seed} (PURR_KILL_SEED={seed} replays it)");
    let mut rng = Rng(seed);
    let started = Instant::now();
    let dir = support::test_dir();
    let src_dir = tempfile::tempdir().unwrap();
    let mut pair = Pair::new(dir.path());

    // Seven rounds of each kind, in a seeded order.
    let mut victims: Vec<Victim> = (0..ROUNDS)
        .map(|i| [Victim::Receiver, Victim::Sender, Victim::Both][i % 3])
        .collect();
    for i in (1..victims.len()).rev() {
        victims.swap(i, rng.below(i as u64 + 1) as usize);
    }

    let (mut identical, mut failed, mut mid_transfer) = (0, Vec::new(), 0);
    // Receivers killed before their accept was stored, accepted again after the restart.
    let mut accepted_again = 0;
    let mut worst = 0;
    for (round, &victim) in victims.iter().enumerate() {
        assert!(
            started.elapsed() < BUDGET,
            "out of time after {round} rounds"
        );
        // 10..20 MiB: a resume that fetched everything again goes past the bound after
        // a kill late in the bigger ones.
        let len = (10 * MIB + rng.below(10 * MIB)) as usize;
        let chunks = (len as u64).div_ceil(CHUNK);
        let name = format!("round{round}.bin");
        let src = make_file(src_dir.path(), &name, len);
        let t_offer = Instant::now();
        let id = offer(&pair.s, &pair.r, &src);
        wait_state(&pair.r, &id, "offered", Duration::from_secs(10));
        accept(&pair.r, &id);

        // Kill once the receiver holds a random share of the file (0 %: at once).
        let share = rng.below(100);
        let target = len as u64 * share / 100;
        let end = Instant::now() + Duration::from_secs(30);
        let mut at_kill = None;
        while Instant::now() < end {
            at_kill = state(&pair.r, &id);
            if finished(&at_kill) || at_kill.as_ref().is_some_and(|(_, b, _)| *b >= target) {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        if !finished(&at_kill) {
            mid_transfer += 1;
        }
        let t_kill = Instant::now();
        pair.kill(victim);
        let t_back = Instant::now();

        // Both sides end: done or ended (a reason), within a bound. A receiver killed
        // before its accept was stored (within milliseconds of it) offers the file to
        // its user again, who accepts again: nothing was written, nothing is lost.
        let end = Instant::now() + Duration::from_secs(60);
        let (mut rs, mut ss) = (None, None);
        let mut asked_again = false;
        while Instant::now() < end {
            rs = state(&pair.r, &id);
            ss = state(&pair.s, &id);
            if !asked_again && rs.as_ref().is_some_and(|(s, _, _)| s == "offered") {
                asked_again = true;
                accepted_again += 1;
                accept(&pair.r, &id);
            }
            if finished(&rs) && finished(&ss) {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let (rs, ss) = (rs.expect("receiver knows it"), ss.expect("sender knows it"));
        let t_end = Instant::now();
        let sent = chunks_sent(&pair.send_log, &id);
        let resent = sent.saturating_sub(chunks);
        worst = worst.max(resent);
        eprintln!(
            "round {round:2}: kill -9 {victim:?} at {share:2} % (receiver held {} of {len} B, {}), \
             receiver {}, sender {}: {chunks} chunks, {sent} sent, {resent} again ({} KiB); \
             {:.1} s to the kill, {:.1} s to restart, {:.1} s to the end",
            at_kill.as_ref().map_or(0, |s| s.1),
            at_kill.as_ref().map_or("unknown", |s| s.0.as_str()),
            rs.0,
            ss.0,
            resent * CHUNK / 1024,
            (t_kill - t_offer).as_secs_f64(),
            (t_back - t_kill).as_secs_f64(),
            (t_end - t_back).as_secs_f64(),
        );
        match (rs.0.as_str(), ss.0.as_str()) {
            ("done", _) => {
                let got = pair.r.data_dir.join("files").join(&name);
                assert_eq!(sha256(&got), sha256(&src), "round {round}: corrupt");
                identical += 1;
            }
            ("ended", _) => {
                let why = rs.2.unwrap_or_default();
                assert!(!why.is_empty(), "round {round}: ended without a reason");
                // An ended transfer leaves no file under its name, whole or not.
                assert!(!pair.r.data_dir.join("files").join(&name).exists());
                failed.push((round, why));
            }
            other => panic!("round {round}: not finished within 60 s: {other:?}"),
        }
        // Both sides agree: "delivered" on the sender means received and checked on
        // the receiver, and the receiver's "done" reaches the sender.
        assert_eq!(ss.0, rs.0, "round {round}: sender and receiver disagree");
        assert!(
            resent <= MAX_RESENT_CHUNKS,
            "round {round}: {resent} chunks sent again after one kill (bound {MAX_RESENT_CHUNKS})"
        );
        if rs.0 == "done" {
            assert!(
                sent >= chunks,
                "round {round}: {sent} < {chunks} chunks logged"
            );
        }
    }
    eprintln!(
        "{ROUNDS} rounds in {:.1} s: {identical} identical, {} ended with a reason \
         {failed:?}; {mid_transfer} kills before the end; at most {worst} chunks ({} KiB) \
         sent again after a kill; {accepted_again} accepts lost to a kill and given again",
        started.elapsed().as_secs_f64(),
        failed.len(),
        worst * CHUNK / 1024
    );
    // Nothing here makes a transfer fail: ending them all "with a reason" is no pass.
    assert!(failed.is_empty(), "transfers ended: {failed:?}");
    assert!(
        mid_transfer >= ROUNDS / 2,
        "only {mid_transfer} kills landed before the end"
    );
}
