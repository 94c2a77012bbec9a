//! The soak's verdict: the figures as Markdown (`target/soak/report.md`, also printed)
//! and the list of what failed.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::check::Figures;
use crate::clients::{FloodStats, Tracker};
use crate::cluster::{Churn, Cluster};
use crate::driver::{Load, Settled};
use crate::rss::Trend;

/// RSS growth that fails the run, fitted over the samples after the warm-up. A healthy
/// node's caches (SQLite's page cache, glibc's arenas, thread stacks) reach their size
/// within the warm-up; 64 KiB/min is 90 MiB a day, which would use up a 512 MB board
/// within days, and is far above the noise of a flat line (a few KiB/min).
pub const MAX_SLOPE_KIB_PER_MIN: f64 = 64.0;
/// Shorter windows are reported but not judged: allocator steps dominate them.
pub const MIN_WINDOW_MIN: f64 = 10.0;

/// What one node's stderr log holds.
pub struct LogScan {
    pub label: String,
    pub bytes: u64,
    pub panics: u64,
    pub first_panic: Option<String>,
    pub errors: u64,
    pub warnings: u64,
    pub slow_peer: u64,
    pub slow_ui: u64,
    /// "heap in use" of each `malloc_trim` debug line (src/memory/mod.rs), in KiB, in order:
    /// malloc's own count of what the node holds, beside RSS.
    pub heap_in_use_kib: Vec<u64>,
    /// The "(SQLite N KiB)" of the same lines: the part of it that is SQLite's.
    pub sqlite_kib: Vec<u64>,
}

/// The number right after `marker` on each line that has one, in order.
fn numbers_after(text: &str, marker: &str) -> Vec<u64> {
    text.lines()
        .filter_map(|l| l.split(marker).nth(1))
        .filter_map(|r| r.split(' ').next()?.parse().ok())
        .collect()
}

/// Medians of the first and last tenth of `v` after its first `skip` values (at least
/// 10 are kept), and its maximum: where a series logged every 10 s started, ended and
/// peaked. `None` below 20 values.
fn tenths(v: &[u64], skip: usize) -> Option<(usize, u64, u64, u64)> {
    if v.len() < 20 {
        return None;
    }
    let median = |v: &[u64]| {
        let mut v = v.to_vec();
        v.sort_unstable();
        v[v.len() / 2]
    };
    let v = &v[skip.min(v.len() - 10)..];
    let tenth = (v.len() / 10).max(1);
    Some((
        v.len(),
        median(&v[..tenth]),
        median(&v[v.len() - tenth..]),
        v.iter().max().copied().unwrap_or(0),
    ))
}

pub fn scan_logs(cluster: &Cluster) -> Vec<LogScan> {
    cluster
        .slots
        .iter()
        .map(|s| {
            let raw = std::fs::read(&s.log).unwrap_or_default();
            let text = String::from_utf8_lossy(&raw);
            let count = |pat: &str| text.lines().filter(|l| l.contains(pat)).count() as u64;
            LogScan {
                label: s.label.clone(),
                bytes: raw.len() as u64,
                panics: count("panicked"),
                first_panic: text
                    .lines()
                    .find(|l| l.contains("panicked"))
                    .map(str::to_string),
                errors: count(" ERROR "),
                warnings: count(" WARN "),
                slow_peer: count("is not keeping up"),
                slow_ui: count("is not reading its events"),
                heap_in_use_kib: numbers_after(&text, "heap in use "),
                sqlite_kib: numbers_after(&text, "(SQLite "),
            }
        })
        .collect()
}

pub struct Report<'a> {
    pub secs: u64,
    pub seed: u64,
    pub wall: Duration,
    pub load: Load,
    pub settled: Settled,
    pub names: Vec<String>,
    pub churn: &'a Churn,
    pub flood: &'a FloodStats,
    pub strangers: &'a crate::strangers::StrangerStats,
    pub figures: Figures,
    pub trends: Vec<Trend>,
    pub warmup_s: f64,
    pub logs: Vec<LogScan>,
    pub labels: Vec<String>,
    pub tracker: &'a Tracker,
}

fn commit() -> String {
    std::process::Command::new("git")
        .args(["describe", "--always", "--dirty"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

impl Report<'_> {
    /// The Markdown text and the failures (empty: the soak passed).
    pub fn render(&self) -> (String, Vec<String>) {
        let mut out = String::new();
        let fails = self.failures();
        let verdict = if fails.is_empty() { "PASSED" } else { "FAILED" };
        let _ = writeln!(out, "# purr soak report: {verdict}\n");
        let _ = writeln!(
            out,
            "{} s of load ({:.0} s in all with start, settle and checks), seed {}, commit {}, \
             {} nodes ({} long-lived, the rest restarted), `{}` build.\n",
            self.secs,
            self.wall.as_secs_f64(),
            self.seed,
            commit(),
            self.labels.len(),
            self.trends.len(),
            if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            },
        );
        self.messages(&mut out);
        self.activity(&mut out);
        self.memory(&mut out);
        self.strangers(&mut out);
        self.health(&mut out);
        let _ = writeln!(out, "\n## Failures\n");
        if fails.is_empty() {
            let _ = writeln!(out, "none");
        }
        for f in &fails {
            let _ = writeln!(out, "- {f}");
        }
        (out, fails)
    }

    fn messages(&self, out: &mut String) {
        let f = &self.figures;
        let rows = [
            ("send commands (driver)", self.load.sends.to_string(), "—"),
            (
                "send commands (flood)",
                self.flood.commands.load(Ordering::Relaxed).to_string(),
                "—",
            ),
            (
                "sent: reported `pending` by the sender's UI (of them flood)",
                format!("{} ({})", f.ui_sent, f.ui_sent_flood),
                "—",
            ),
            (
                "reported `delivered` by the sender's UI",
                f.ui_delivered.to_string(),
                "—",
            ),
            (
                "outgoing rows in the databases (of them flood)",
                format!("{} ({})", f.out_rows, f.out_flood),
                "—",
            ),
            (
                "delivered (sender's database)",
                f.delivered.to_string(),
                "—",
            ),
            ("still pending at the end", f.pending.to_string(), "0"),
            ("incoming rows in the databases", f.in_rows.to_string(), "—"),
            ("duplicates on receivers", f.duplicates.to_string(), "0"),
            (
                "lost: delivered, missing on the receiver",
                f.lost.to_string(),
                "0",
            ),
            (
                "lost: UI said delivered, missing on the receiver",
                f.ui_lost_delivered.to_string(),
                "0",
            ),
            (
                "lost: UI said pending, missing on the sender",
                f.ui_lost_sent.to_string(),
                "0",
            ),
            (
                "stored with another text or peer",
                f.corrupt.to_string(),
                "0",
            ),
            (
                "received, unknown to the sender (SPEC §7 allows)",
                f.unknown_to_sender.to_string(),
                "—",
            ),
        ];
        let _ = writeln!(
            out,
            "## Messages\n\n| what | count | must be |\n|---|---|---|"
        );
        for (what, n, must) in rows {
            let _ = writeln!(out, "| {what} | {n} | {must} |");
        }
    }

    fn activity(&self, out: &mut String) {
        let c = self.churn;
        let _ = writeln!(
            out,
            "\n## Activity\n\n\
             - restarts during the load: {} graceful (SIGTERM), {} `kill -9`; starts in all {}\n\
             - renames asked {}, `read` commands {}\n\
             - flood: {} send commands on {} connections; dropped by the node: {:?}\n\
             - driver clients closed by a live node: {:?}\n\
             - `error` events by request: {:?}{}\n\
             - settle: {:.1} s, meshed {}, pending {}",
            self.load.graceful,
            self.load.kills,
            c.starts,
            self.load.renames,
            self.load.reads,
            self.flood.commands.load(Ordering::Relaxed),
            self.flood.connects.load(Ordering::Relaxed),
            self.flood.drops.lock().unwrap_or_else(|e| e.into_inner()),
            self.load.ui_drops,
            self.tracker.errors,
            if self.tracker.error_samples.is_empty() {
                String::new()
            } else {
                format!(" (first: {})", self.tracker.error_samples[0])
            },
            self.settled.after.as_secs_f64(),
            self.settled.meshed,
            self.settled.pending,
        );
    }

    fn strangers(&self, out: &mut String) {
        let minted = self.strangers.minted.load(Ordering::Relaxed);
        let failed = self.strangers.failed.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "\n## A stranger minting identities\n\n{minted} identities authenticated against \
             the long-lived nodes ({failed} connections failed or were refused), one fresh key \
             each. The UI's `hello` → `peers` on L1 meanwhile (judged on runs of 10 min or \
             more):"
        );
        match self.strangers.hello() {
            Some((p50, p95, max)) => {
                let n = self.strangers.hello_ms.lock().map_or(0, |v| v.len());
                let _ = writeln!(
                    out,
                    "{n} samples, median {p50:.1} ms, p95 {p95:.1} ms, max {max:.1} ms (limit: \
                     p95 under {} ms).",
                    crate::strangers::HELLO_LIMIT_MS
                );
            }
            None => {
                let _ = writeln!(out, "no sample.");
            }
        }
    }

    fn memory(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "\n## Memory of the long-lived nodes\n\n\
             RSS sampled every 2 s; the line is fitted (least squares) over the samples after \
             a {:.0} s warm-up; start and end are medians of 15 samples. Fails above {MAX_SLOPE_KIB_PER_MIN} KiB/min when the window is \
             at least {MIN_WINDOW_MIN} min.\n\n\
             | node | samples | window | RSS start | RSS end | RSS max | slope | anon | file | threads | fds |\n\
             |---|---|---|---|---|---|---|---|---|---|---|",
            self.warmup_s
        );
        for (i, t) in self.trends.iter().enumerate() {
            let _ = writeln!(
                out,
                "| {} | {} | {:.1} min | {} KiB | {} KiB | {} KiB | {:+.1} KiB/min | {} → {} KiB | {} → {} KiB | {} → {} | {} → {} |",
                self.labels[i],
                t.samples,
                t.window_min,
                t.start_kib,
                t.end_kib,
                t.max_kib,
                t.slope_kib_per_min,
                t.anon_kib.0,
                t.anon_kib.1,
                t.file_kib.0,
                t.file_kib.1,
                t.threads.0,
                t.threads.1,
                t.fds.0,
                t.fds.1
            );
        }
        // Beside RSS, what malloc says the node holds: if this is flat while RSS rises,
        // the rise is the allocator's (fragmentation), not memory the node keeps.
        for label in &self.labels {
            let Some(l) = self.logs.iter().find(|l| &l.label == label) else {
                continue;
            };
            // The samples after the same share of the run as the RSS warm-up.
            let share = self.warmup_s / self.secs.max(1) as f64;
            let skip = |v: &[u64]| (v.len() as f64 * share) as usize;
            let h = &l.heap_in_use_kib;
            let Some((n, start, end, max)) = tenths(h, skip(h)) else {
                continue;
            };
            let _ = write!(
                out,
                "\n{label}: heap in use by malloc's count (logged every 10 s, {n} samples after the warm-up): {start} KiB → {end} KiB (medians of the first and last tenth), max {max} KiB"
            );
            // SQLite's share, from the same lines.
            let q = &l.sqlite_kib;
            if let Some((_, start, end, max)) = tenths(q, skip(q)) {
                let _ = write!(out, "; of it SQLite {start} KiB → {end} KiB, max {max} KiB");
            }
            let _ = writeln!(out, ".");
        }
    }

    fn health(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "\n## Logs and stops\n\n| node | log | panics | ERROR | WARN | \"not keeping up\" | \
             \"not reading its events\" |\n|---|---|---|---|---|---|---|"
        );
        for l in &self.logs {
            let _ = writeln!(
                out,
                "| {} | {} KiB | {} | {} | {} | {} | {} |",
                l.label,
                l.bytes / 1024,
                l.panics,
                l.errors,
                l.warnings,
                l.slow_peer,
                l.slow_ui
            );
        }
        for l in self.logs.iter().filter(|l| l.first_panic.is_some()) {
            let _ = writeln!(
                out,
                "\n{}: {}",
                l.label,
                l.first_panic.as_deref().unwrap_or("")
            );
        }
        let c = self.churn;
        let _ = writeln!(
            out,
            "\ncrashes: {:?}; bad stops: {:?}; failed starts (retried): {:?}; database \
             integrity: {}; names: {}",
            c.crashes,
            c.bad_stops,
            c.failed_starts,
            if self.figures.bad_integrity.is_empty() {
                "ok".to_string()
            } else {
                format!("{:?}", self.figures.bad_integrity)
            },
            if self.names.is_empty() {
                "consistent".to_string()
            } else {
                format!("{:?}", self.names)
            },
        );
    }

    fn failures(&self) -> Vec<String> {
        let f = &self.figures;
        let mut v = Vec::new();
        let mut zero = |what: &str, n: u64| {
            if n > 0 {
                v.push(format!("{what}: {n}"));
            }
        };
        zero("duplicates", f.duplicates);
        zero("lost (sender's database says delivered)", f.lost);
        zero("lost (UI said delivered)", f.ui_lost_delivered);
        zero("lost at the sender (UI said pending)", f.ui_lost_sent);
        zero("stored with another text or peer", f.corrupt);
        zero("pending after the settle", f.pending);
        zero("panics in logs", self.logs.iter().map(|l| l.panics).sum());
        zero("crashes", self.churn.crashes.len() as u64);
        zero("bad stops", self.churn.bad_stops.len() as u64);
        // Judged on runs of 10 minutes or more: a short run has a handful of samples,
        // and its p95 is one scheduling hiccup of a busy machine.
        if let Some((_, p95, _)) = self.strangers.hello().filter(|_| self.secs >= 600) {
            if p95 > crate::strangers::HELLO_LIMIT_MS {
                v.push(format!(
                    "the UI's hello took {p95:.1} ms (p95) while a stranger minted identities"
                ));
            }
        }
        if let Some(a) = &self.load.aborted {
            v.push(format!("aborted: {a}"));
        }
        if !self.settled.meshed {
            v.push("not meshed after the settle".into());
        }
        v.extend(f.bad_integrity.iter().map(|b| format!("integrity: {b}")));
        v.extend(self.names.iter().map(|n| format!("names: {n}")));
        for (i, t) in self.trends.iter().enumerate() {
            if t.window_min >= MIN_WINDOW_MIN && t.slope_kib_per_min > MAX_SLOPE_KIB_PER_MIN {
                v.push(format!(
                    "{}: RSS grows {:.1} KiB/min ({} → {} KiB)",
                    self.labels[i], t.slope_kib_per_min, t.start_kib, t.end_kib
                ));
            }
        }
        v
    }
}
