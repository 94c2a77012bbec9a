//! Memory of the long-lived nodes: VmRSS, threads and open fds sampled from /proc every
//! few seconds, and a least-squares line through the RSS samples after a warm-up.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// Seconds since the load started.
    pub t: f64,
    pub rss_kib: u64,
    /// The parts of RSS: anonymous (heap, stacks) and file-backed (the binary, libraries,
    /// SQLite's mapped `-shm`).
    pub anon_kib: u64,
    pub file_kib: u64,
    pub threads: u64,
    pub fds: u64,
}

fn sample(pid: u32, t: f64) -> Option<Sample> {
    Some(Sample {
        t,
        rss_kib: crate::support::proc_status_field(pid, "VmRSS:")?,
        anon_kib: crate::support::proc_status_field(pid, "RssAnon:")?,
        file_kib: crate::support::proc_status_field(pid, "RssFile:")?
            + crate::support::proc_status_field(pid, "RssShmem:")?,
        threads: crate::support::proc_status_field(pid, "Threads:")?,
        fds: std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64,
    })
}

/// Samples each pid every `every` until `stop`; one series per pid.
pub fn sampler(
    pids: Vec<u32>,
    every: Duration,
    stop: Arc<AtomicBool>,
) -> JoinHandle<Vec<Vec<Sample>>> {
    std::thread::spawn(move || {
        let start = Instant::now();
        let mut series = vec![Vec::new(); pids.len()];
        while !stop.load(Ordering::Relaxed) {
            let t = start.elapsed().as_secs_f64();
            for (s, &pid) in series.iter_mut().zip(&pids) {
                s.extend(sample(pid, t));
            }
            // Short sleeps, so `stop` is noticed quickly.
            let next = start + Duration::from_secs_f64(t) + every;
            while Instant::now() < next && !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        series
    })
}

/// The RSS line of one node over its samples after the warm-up.
#[derive(Debug, Default, Clone)]
pub struct Trend {
    pub samples: usize,
    /// Minutes between the first and the last sample used.
    pub window_min: f64,
    pub start_kib: u64,
    pub end_kib: u64,
    pub max_kib: u64,
    pub slope_kib_per_min: f64,
    /// Anonymous and file-backed RSS at the start and end (medians, like RSS's).
    pub anon_kib: (u64, u64),
    pub file_kib: (u64, u64),
    pub threads: (u64, u64),
    pub fds: (u64, u64),
}

pub fn trend(all: &[Sample], warmup_s: f64) -> Trend {
    let s: Vec<&Sample> = all.iter().filter(|x| x.t >= warmup_s).collect();
    let (Some(first), Some(last)) = (s.first(), s.last()) else {
        return Trend::default();
    };
    let n = s.len() as f64;
    let mx = s.iter().map(|x| x.t / 60.0).sum::<f64>() / n;
    let my = s.iter().map(|x| x.rss_kib as f64).sum::<f64>() / n;
    let sxy: f64 = s
        .iter()
        .map(|x| (x.t / 60.0 - mx) * (x.rss_kib as f64 - my))
        .sum();
    let sxx: f64 = s.iter().map(|x| (x.t / 60.0 - mx).powi(2)).sum();
    // Start and end are medians of 15 samples (30 s): one sample may catch a burst.
    let median = |xs: &[&Sample], field: fn(&Sample) -> u64| {
        let mut v: Vec<u64> = xs.iter().map(|x| field(x)).collect();
        v.sort_unstable();
        v[v.len() / 2]
    };
    let k = s.len().min(15);
    let (head, tail) = (&s[..k], &s[s.len() - k..]);
    Trend {
        samples: s.len(),
        window_min: (last.t - first.t) / 60.0,
        start_kib: median(head, |x| x.rss_kib),
        end_kib: median(tail, |x| x.rss_kib),
        max_kib: s.iter().map(|x| x.rss_kib).max().unwrap_or(0),
        slope_kib_per_min: if sxx > 0.0 { sxy / sxx } else { 0.0 },
        anon_kib: (median(head, |x| x.anon_kib), median(tail, |x| x.anon_kib)),
        file_kib: (median(head, |x| x.file_kib), median(tail, |x| x.file_kib)),
        threads: (first.threads, last.threads),
        fds: (first.fds, last.fds),
    }
}
