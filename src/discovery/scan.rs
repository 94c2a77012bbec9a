//! Unicast discovery where multicast does not reach (issue 20.4): `--scan CIDR` sends
//! this node's ordinary beacon by unicast UDP to every host address of the range, so a
//! node behind a router (another subnet, a VPN without multicast) hears it and acts as
//! for a multicast beacon (lists us nearby, dials us if we are its contact), and answers
//! with its own beacon so that we hear it too.
//!
//! No I/O here: the ranges, the rate limiter and the sweep schedule are pure values that
//! take `now` as an argument; the discovery thread asks [`Scanner::next`] for the next
//! address to probe and sends the beacon itself.
//!
//! ```text
//!   --scan 10.2.0.0/24 ──parse──▶ Range (≤ /22, or ≤ /16 with --scan-wide)
//!   sweep: at start, 30 s later, then every 5 min
//!     each host address, in order ── not ours ── a token (256/s, burst 32) ──▶ probe
//!     (network and broadcast addresses skipped; /31 and /32 have none)
//! ```
//!
//! Why sweeps on a timer and not only at start: nodes start in any order (after a power
//! cut, all at once), and a probe that arrives before the other node's socket is open is
//! lost; a second sweep 30 s later catches that, and one every 5 minutes finds a node
//! started later, at a cost of ~1 probe a second for a /24. A found node becomes a
//! contact, which the dialer redials by itself, so later sweeps matter only for nodes
//! not met yet.

use std::collections::HashSet;
use std::fmt;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

/// The largest range `--scan` takes by default: a /22, 1,022 hosts (~4 s of probes).
pub const DEFAULT_MIN_PREFIX: u8 = 22;
/// The largest range with `--scan-wide`: a /16, 65,534 hosts (~4 min of probes).
pub const WIDE_MIN_PREFIX: u8 = 16;
/// Probes per second, sustained. A few hundred: a /24 in about a second, and far below
/// what an IDS or a Wi-Fi link notices.
pub const RATE_PER_S: u32 = 256;
/// Probes that may go out at once after a pause.
pub const BURST: u32 = 32;
/// The second sweep, after the first (nodes that started together).
pub const SECOND_SWEEP: Duration = Duration::from_secs(30);
/// Then a sweep this often (nodes started later).
pub const SWEEP_EVERY: Duration = Duration::from_secs(300);
/// Ranges given with `--scan`, however small each is.
pub const MAX_RANGES: usize = 16;

/// One IPv4 range, `addr/prefix` with the host bits cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Range {
    pub network: Ipv4Addr,
    pub prefix: u8,
}

/// Why a `--scan` value is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    #[error("{0:?} is not ADDRESS/PREFIX (e.g. 192.168.2.0/24)")]
    Syntax(String),
    #[error("{0:?} is an IPv6 range: only IPv4 is scanned (an IPv6 subnet is a /64, 2^64 addresses; give IPv6 peers with --connect)")]
    Ipv6(String),
    #[error(
        "/{prefix} is {hosts} addresses: the largest scan is a /{min} ({max} addresses){hint}"
    )]
    TooLarge {
        prefix: u8,
        hosts: u64,
        min: u8,
        max: u64,
        hint: &'static str,
    },
    #[error("{0} is not a range of hosts one can scan (loopback, multicast or unspecified)")]
    NotUnicast(Ipv4Addr),
}

impl Range {
    /// Parses `a.b.c.d/n`. `wide` allows up to a /16 instead of a /22. Host bits set in
    /// the address (`10.0.0.7/24`) are cleared: the range is what the prefix says.
    pub fn parse(s: &str, wide: bool) -> Result<Range, RangeError> {
        let (addr, prefix) = s
            .trim()
            .split_once('/')
            .ok_or_else(|| RangeError::Syntax(s.into()))?;
        if addr.contains(':') {
            return Err(RangeError::Ipv6(s.into()));
        }
        let addr: Ipv4Addr = addr.parse().map_err(|_| RangeError::Syntax(s.into()))?;
        // Plain decimal 0..=32: no sign, no leading zeros beyond "0".
        if prefix.is_empty()
            || prefix.len() > 2
            || !prefix.bytes().all(|b| b.is_ascii_digit())
            || (prefix.len() == 2 && prefix.starts_with('0'))
        {
            return Err(RangeError::Syntax(s.into()));
        }
        let prefix: u8 = prefix.parse().map_err(|_| RangeError::Syntax(s.into()))?;
        if prefix > 32 {
            return Err(RangeError::Syntax(s.into()));
        }
        let min = if wide {
            WIDE_MIN_PREFIX
        } else {
            DEFAULT_MIN_PREFIX
        };
        if prefix < min {
            return Err(RangeError::TooLarge {
                prefix,
                hosts: 1u64 << (32 - prefix),
                min,
                max: 1u64 << (32 - min),
                hint: if wide {
                    ""
                } else {
                    "; --scan-wide allows up to a /16"
                },
            });
        }
        let network = Ipv4Addr::from(u32::from(addr) & mask(prefix));
        if network.is_loopback() || network.is_multicast() || network.is_unspecified() {
            return Err(RangeError::NotUnicast(network));
        }
        Ok(Range { network, prefix })
    }

    /// The host addresses: all but the network and broadcast addresses, except in a /31
    /// (a point-to-point link, RFC 3021: both are hosts) and a /32 (one host).
    pub fn hosts(&self) -> impl Iterator<Item = Ipv4Addr> {
        let first = u32::from(self.network);
        let size = 1u64 << (32 - self.prefix);
        let (lo, hi) = if self.prefix >= 31 {
            (0, size)
        } else {
            (1, size - 1)
        };
        (lo..hi).map(move |i| Ipv4Addr::from(first.wrapping_add(i as u32)))
    }

    /// How many addresses [`Range::hosts`] yields.
    pub fn host_count(&self) -> u64 {
        let size = 1u64 << (32 - self.prefix);
        if self.prefix >= 31 {
            size
        } else {
            size - 2
        }
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    }
}

/// A token bucket: `rate` tokens a second, at most `burst` saved up. Time is passed in.
#[derive(Debug, Clone)]
pub struct Bucket {
    rate: u32,
    burst: u32,
    /// Tokens, in millionths (integers: no float drift over days).
    micro: u64,
    last: Instant,
}

impl Bucket {
    /// A full bucket at `now`.
    pub fn new(rate: u32, burst: u32, now: Instant) -> Bucket {
        Bucket {
            rate: rate.max(1),
            burst: burst.max(1),
            micro: u64::from(burst.max(1)) * 1_000_000,
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last);
        self.last = now.max(self.last);
        let cap = u64::from(self.burst) * 1_000_000;
        let add = (elapsed.as_micros()).saturating_mul(u128::from(self.rate));
        self.micro = u64::try_from(u128::from(self.micro).saturating_add(add))
            .unwrap_or(u64::MAX)
            .min(cap);
    }

    /// Takes a token if there is one at `now`.
    pub fn take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.micro >= 1_000_000 {
            self.micro -= 1_000_000;
            true
        } else {
            false
        }
    }

    /// When the next token will be there (`now` if there is one).
    pub fn ready_at(&mut self, now: Instant) -> Instant {
        self.refill(now);
        if self.micro >= 1_000_000 {
            return now;
        }
        let missing = 1_000_000 - self.micro;
        let us = missing.div_ceil(u64::from(self.rate));
        now + Duration::from_micros(us)
    }
}

/// Counters of the sweeps, for `purr doctor`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanCounts {
    /// Sweeps started.
    pub sweeps: u64,
    /// Probes sent, and sends that failed (no route, say).
    pub sent: u64,
    pub errors: u64,
}

/// The sweeps over the `--scan` ranges. See the module docs.
#[derive(Debug)]
pub struct Scanner {
    ranges: Vec<Range>,
    /// This node's own addresses: never probed.
    own: HashSet<Ipv4Addr>,
    bucket: Bucket,
    /// Where the sweep in progress is: (range index, host index); `None` between sweeps.
    cursor: Option<(usize, u64)>,
    next_sweep: Instant,
    sweeps: u64,
    pub counts: ScanCounts,
}

impl Scanner {
    /// A scanner whose first sweep starts at `now`.
    pub fn new(ranges: Vec<Range>, now: Instant) -> Scanner {
        Scanner {
            ranges,
            own: HashSet::new(),
            bucket: Bucket::new(RATE_PER_S, BURST, now),
            cursor: None,
            next_sweep: now,
            sweeps: 0,
            counts: ScanCounts::default(),
        }
    }

    /// The ranges, as given.
    pub fn ranges(&self) -> &[Range] {
        &self.ranges
    }

    /// This node's addresses now (re-listed with the interfaces).
    pub fn set_own(&mut self, own: impl IntoIterator<Item = Ipv4Addr>) {
        self.own = own.into_iter().collect();
    }

    /// Whether `addr` is in one of the ranges (its beacon answers a probe).
    pub fn covers(&self, addr: Ipv4Addr) -> bool {
        let a = u32::from(addr);
        self.ranges
            .iter()
            .any(|r| a & mask(r.prefix) == u32::from(r.network))
    }

    /// The next address to probe at `now`, if a sweep is on and a token is there.
    /// Counts the probe as sent: the caller reports a failed send with [`Scanner::failed`].
    pub fn next(&mut self, now: Instant) -> Option<Ipv4Addr> {
        if self.cursor.is_none() {
            if now < self.next_sweep || self.ranges.is_empty() {
                return None;
            }
            self.cursor = Some((0, 0));
            self.sweeps += 1;
            self.counts.sweeps = self.sweeps;
            self.next_sweep = now
                + if self.sweeps == 1 {
                    SECOND_SWEEP
                } else {
                    SWEEP_EVERY
                };
        }
        // Own addresses are skipped without spending a token; the loop is bounded by
        // the hosts left in this sweep.
        loop {
            let (r, i) = self.cursor?;
            let Some(range) = self.ranges.get(r) else {
                self.cursor = None;
                return None;
            };
            if i >= range.host_count() {
                self.cursor = Some((r + 1, 0));
                continue;
            }
            let addr = range_host(range, i);
            if self.own.contains(&addr) {
                self.cursor = Some((r, i + 1));
                continue;
            }
            if !self.bucket.take(now) {
                return None;
            }
            self.cursor = Some((r, i + 1));
            self.counts.sent += 1;
            return Some(addr);
        }
    }

    /// The last probe could not be sent.
    pub fn failed(&mut self) {
        self.counts.sent = self.counts.sent.saturating_sub(1);
        self.counts.errors += 1;
    }

    /// When [`Scanner::next`] may have an address again: the next token during a sweep,
    /// the next sweep between them.
    pub fn wake_at(&mut self, now: Instant) -> Instant {
        match self.cursor {
            Some(_) => self.bucket.ready_at(now),
            None => self.next_sweep,
        }
    }
}

/// Answers to unicast beacons: a node that hears one sends its own beacon back by
/// unicast, so the scanner learns who answered and either side can dial (one of the two
/// directions may be firewalled). Anyone can send us a unicast beacon with a forged
/// source, so answers are bounded: one per address per [`REPLY_WINDOW`], at most
/// [`REPLY_RATE_PER_S`] a second in all, and never to an address we scan ourselves (its
/// beacon is an answer to our probe, and answering answers would ping-pong).
///
/// An answer the rate holds back waits its turn (at most [`MAX_WAITING`] of them) rather
/// than being dropped: a node that starts among 31 strangers greets or answers all of
/// them within the second, not the first burst's worth then the rest a beacon later.
#[derive(Debug)]
pub struct Replies {
    last: std::collections::HashMap<Ipv4Addr, Instant>,
    bucket: Bucket,
    /// Answers due but held back by the rate, oldest first.
    waiting: std::collections::VecDeque<Ipv4Addr>,
    /// Answers sent, for `purr doctor`.
    pub sent: u64,
}

/// One answer per address per this long.
pub const REPLY_WINDOW: Duration = Duration::from_secs(60);
/// Answers per second, all addresses together (a burst of as many): 64 beacons of 75
/// bytes, under 5 KB/s, and an office of 256 greeted in 4 s.
pub const REPLY_RATE_PER_S: u32 = 64;
/// Answers that may wait for the rate; past it an answer is dropped (the peer hears our
/// next multicast beacon instead).
pub const MAX_WAITING: usize = 256;
/// Addresses remembered; past it the table is emptied of what is older than the window,
/// and if still full, no answer goes out until it drains.
pub const MAX_REPLY_ADDRS: usize = 1024;

impl Replies {
    pub fn new(now: Instant) -> Replies {
        Replies {
            last: std::collections::HashMap::new(),
            bucket: Bucket::new(REPLY_RATE_PER_S, REPLY_RATE_PER_S, now),
            waiting: std::collections::VecDeque::new(),
            sent: 0,
        }
    }

    /// The next held-back answer whose turn has come at `now` (counted as sent).
    pub fn next_due(&mut self, now: Instant) -> Option<Ipv4Addr> {
        if self.waiting.is_empty() || !self.bucket.take(now) {
            return None;
        }
        self.sent += 1;
        self.waiting.pop_front()
    }

    /// When [`Replies::next_due`] will have one (`None`: nothing waits).
    pub fn wake_at(&mut self, now: Instant) -> Option<Instant> {
        (!self.waiting.is_empty()).then(|| self.bucket.ready_at(now))
    }

    /// Whether to answer a unicast beacon from `from` at `now` (and count it if so). An
    /// answer the rate holds back is queued for [`Replies::next_due`] instead (false).
    pub fn should_answer(&mut self, from: Ipv4Addr, now: Instant) -> bool {
        if let Some(at) = self.last.get(&from) {
            if now.saturating_duration_since(*at) < REPLY_WINDOW {
                return false;
            }
        }
        if self.last.len() >= MAX_REPLY_ADDRS && !self.last.contains_key(&from) {
            self.last
                .retain(|_, at| now.saturating_duration_since(*at) < REPLY_WINDOW);
            if self.last.len() >= MAX_REPLY_ADDRS {
                return false;
            }
        }
        // The window starts now either way, so a held-back address is queued once.
        self.last.insert(from, now);
        if !self.waiting.is_empty() || !self.bucket.take(now) {
            if self.waiting.len() < MAX_WAITING {
                self.waiting.push_back(from);
            }
            return false;
        }
        self.sent += 1;
        true
    }
}

/// Host number `i` (0-based) of `range`, as [`Range::hosts`] counts them.
fn range_host(range: &Range, i: u64) -> Ipv4Addr {
    let skip = if range.prefix >= 31 { 0 } else { 1 };
    Ipv4Addr::from(u32::from(range.network).wrapping_add((i + skip) as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> Range {
        Range::parse(s, false).unwrap()
    }

    #[test]
    fn ranges_parse_and_clear_host_bits() {
        assert_eq!(r("10.2.0.0/24").to_string(), "10.2.0.0/24");
        assert_eq!(r("10.2.0.77/24").to_string(), "10.2.0.0/24");
        assert_eq!(r(" 192.168.4.1/22 ").to_string(), "192.168.4.0/22");
        assert_eq!(r("10.0.0.5/32").to_string(), "10.0.0.5/32");
        for bad in [
            "10.2.0.0",
            "10.2.0.0/",
            "10.2.0.0/33",
            "10.2.0.0/-1",
            "10.2.0.0/+24",
            "10.2.0.0/024",
            "10.2.0/24",
            "host/24",
            "/24",
            "10.2.0.0/24/1",
            "",
        ] {
            assert!(
                matches!(Range::parse(bad, false), Err(RangeError::Syntax(_))),
                "{bad:?}: {:?}",
                Range::parse(bad, false)
            );
        }
        assert!(matches!(
            Range::parse("fd00::/120", false),
            Err(RangeError::Ipv6(_))
        ));
        for odd in ["127.0.0.0/24", "224.0.0.0/24", "0.0.0.0/32"] {
            assert!(
                matches!(Range::parse(odd, false), Err(RangeError::NotUnicast(_))),
                "{odd}"
            );
        }
    }

    #[test]
    fn ranges_are_bounded_and_the_error_says_how_to_go_wider() {
        assert!(Range::parse("10.0.0.0/22", false).is_ok());
        let e = Range::parse("10.0.0.0/21", false).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/21 is 2048 addresses: the largest scan is a /22 (1024 addresses); \
             --scan-wide allows up to a /16"
        );
        assert!(Range::parse("10.0.0.0/21", true).is_ok());
        assert!(Range::parse("10.0.0.0/16", true).is_ok());
        let e = Range::parse("10.0.0.0/15", true).unwrap_err();
        assert!(matches!(e, RangeError::TooLarge { min: 16, .. }), "{e}");
        assert!(Range::parse("0.0.0.0/0", true).is_err());
    }

    #[test]
    fn hosts_skip_the_network_and_broadcast_addresses() {
        let hosts: Vec<Ipv4Addr> = r("10.2.0.0/24").hosts().collect();
        assert_eq!(hosts.len(), 254);
        assert_eq!(r("10.2.0.0/24").host_count(), 254);
        assert_eq!(hosts[0], Ipv4Addr::new(10, 2, 0, 1));
        assert_eq!(hosts[253], Ipv4Addr::new(10, 2, 0, 254));
        let p2p: Vec<Ipv4Addr> = r("10.9.0.6/31").hosts().collect();
        assert_eq!(
            p2p,
            [Ipv4Addr::new(10, 9, 0, 6), Ipv4Addr::new(10, 9, 0, 7)]
        );
        let one: Vec<Ipv4Addr> = r("10.9.0.6/32").hosts().collect();
        assert_eq!(one, [Ipv4Addr::new(10, 9, 0, 6)]);
        let h30: Vec<Ipv4Addr> = r("10.9.0.4/30").hosts().collect();
        assert_eq!(
            h30,
            [Ipv4Addr::new(10, 9, 0, 5), Ipv4Addr::new(10, 9, 0, 6)]
        );
        assert_eq!(r("10.0.0.0/22").host_count(), 1022);
    }

    #[test]
    fn the_bucket_gives_a_burst_then_the_rate() {
        let t = Instant::now();
        let mut b = Bucket::new(256, 32, t);
        let burst = (0..100).filter(|_| b.take(t)).count();
        assert_eq!(burst, 32);
        // The next token is 1/256 s away (3,907 µs, rounded up).
        assert_eq!(b.ready_at(t), t + Duration::from_micros(3907));
        assert!(!b.take(t + Duration::from_micros(3900)));
        assert!(b.take(t + Duration::from_micros(3907)));
        // Over one second at most rate + burst, however often it is asked.
        let mut b = Bucket::new(256, 32, t);
        let mut got = 0;
        for us in (0..=1_000_000u64).step_by(100) {
            while b.take(t + Duration::from_micros(us)) {
                got += 1;
            }
        }
        assert!((256 + 31..=256 + 32).contains(&got), "{got}");
        // A long pause saves up no more than the burst.
        assert_eq!(
            (0..100)
                .filter(|_| b.take(t + Duration::from_secs(3600)))
                .count(),
            32
        );
        // A clock read that goes backwards (two threads' Instants) costs nothing.
        assert!(!b.take(t));
    }

    #[test]
    fn a_sweep_probes_each_host_once_at_the_rate_skipping_our_own() {
        let t = Instant::now();
        let mut s = Scanner::new(vec![r("10.2.0.0/24")], t);
        s.set_own([Ipv4Addr::new(10, 2, 0, 9)]);
        let mut probed = Vec::new();
        let mut now = t;
        // Follow the scanner's own wake-ups, as the discovery thread does (bounded).
        for _ in 0..10_000 {
            while let Some(a) = s.next(now) {
                probed.push(a);
            }
            if probed.len() == 253 {
                break;
            }
            now = s.wake_at(now);
        }
        assert_eq!(probed.len(), 253);
        assert!(!probed.contains(&Ipv4Addr::new(10, 2, 0, 9)));
        assert!(!probed.contains(&Ipv4Addr::new(10, 2, 0, 0)));
        assert!(!probed.contains(&Ipv4Addr::new(10, 2, 0, 255)));
        let unique: HashSet<_> = probed.iter().collect();
        assert_eq!(unique.len(), 253);
        // 253 probes: 32 at once, then 221 at 256/s: ~0.86 s.
        let took = now - t;
        assert!(
            took >= Duration::from_millis(850) && took <= Duration::from_millis(870),
            "{took:?}"
        );
        assert_eq!((s.counts.sweeps, s.counts.sent), (1, 253));
        // The sweep is over: nothing until the second one, 30 s after the first began.
        assert_eq!(s.next(now), None);
        assert_eq!(s.next(now), None);
        assert_eq!(s.wake_at(now), t + SECOND_SWEEP);
        assert_eq!(s.next(t + SECOND_SWEEP), Some(Ipv4Addr::new(10, 2, 0, 1)));
        assert_eq!(s.counts.sweeps, 2);
        // And from then on every five minutes.
        assert_eq!(s.next_sweep, t + SECOND_SWEEP + SWEEP_EVERY);
        s.failed();
        assert_eq!((s.counts.sent, s.counts.errors), (253, 1));
    }

    #[test]
    fn several_ranges_are_swept_in_turn_and_covered() {
        let t = Instant::now();
        let mut s = Scanner::new(vec![r("10.2.0.4/30"), r("10.3.0.1/32")], t);
        let got: Vec<_> = std::iter::from_fn(|| s.next(t)).collect();
        assert_eq!(
            got,
            [
                Ipv4Addr::new(10, 2, 0, 5),
                Ipv4Addr::new(10, 2, 0, 6),
                Ipv4Addr::new(10, 3, 0, 1)
            ]
        );
        assert!(s.covers(Ipv4Addr::new(10, 2, 0, 7)));
        assert!(s.covers(Ipv4Addr::new(10, 3, 0, 1)));
        assert!(!s.covers(Ipv4Addr::new(10, 3, 0, 2)));
        assert!(Scanner::new(Vec::new(), t).next(t).is_none());
    }
    #[test]
    fn answers_are_one_per_address_per_minute_and_rate_limited() {
        let t = Instant::now();
        let mut rp = Replies::new(t);
        let a = Ipv4Addr::new(10, 1, 0, 2);
        assert!(rp.should_answer(a, t));
        assert!(!rp.should_answer(a, t + Duration::from_secs(59)));
        assert!(rp.should_answer(a, t + REPLY_WINDOW));
        // A flood of forged sources: a burst at once, the rest held back (at most
        // MAX_WAITING) and let out at the rate, never more.
        let rate = REPLY_RATE_PER_S as usize;
        let t2 = t + Duration::from_secs(3600);
        let mut rp = Replies::new(t2);
        let flood = (0..10_000u32)
            .filter(|i| rp.should_answer(Ipv4Addr::from(0x0a00_0000 + i), t2))
            .count();
        assert_eq!(flood, rate);
        assert_eq!(rp.waiting.len(), MAX_WAITING);
        let mut drained = 0;
        for ms in 0..=10_000u64 {
            while rp.next_due(t2 + Duration::from_millis(ms)).is_some() {
                drained += 1;
            }
        }
        assert_eq!(
            drained, MAX_WAITING,
            "every held-back answer goes out, once"
        );
        assert_eq!(rp.sent as usize, rate + MAX_WAITING);
        assert!(rp.last.len() <= MAX_REPLY_ADDRS);
        // Over any second, no more than the rate (plus the burst) went out.
        let t3 = t2 + Duration::from_secs(7200);
        let mut rp = Replies::new(t3);
        let mut out = 0;
        for ms in 0..1000u64 {
            let now = t3 + Duration::from_millis(ms);
            out += usize::from(rp.should_answer(Ipv4Addr::from(0x0c00_0000 + ms as u32), now));
            while rp.next_due(now).is_some() {
                out += 1;
            }
        }
        assert!(out <= 2 * rate, "{out} answers in one second");
    }

    #[test]
    fn an_answer_held_back_by_the_rate_waits_its_turn_instead_of_being_dropped() {
        let t = Instant::now();
        let mut rp = Replies::new(t);
        let rate = REPLY_RATE_PER_S;
        let answered_now = (0..rate + 15)
            .filter(|i| rp.should_answer(Ipv4Addr::from(0x0a01_0000 + i), t))
            .count();
        assert_eq!(answered_now, rate as usize);
        assert_eq!(rp.wake_at(t).map(|w| w > t), Some(true));
        // Within the next second, each of the 15 held back goes out, oldest first.
        let mut due = Vec::new();
        for ms in 0..=1000u64 {
            while let Some(ip) = rp.next_due(t + Duration::from_millis(ms)) {
                due.push(ip);
            }
        }
        let want: Vec<Ipv4Addr> = (rate..rate + 15)
            .map(|i| Ipv4Addr::from(0x0a01_0000 + i))
            .collect();
        assert_eq!(due, want);
        assert_eq!(rp.wake_at(t + Duration::from_secs(1)), None);
        // Queued once: beacons again from a held-back address add nothing.
        let mut rp = Replies::new(t);
        for i in 0..rate {
            rp.should_answer(Ipv4Addr::from(0x0a02_0000 + i), t);
        }
        let late = Ipv4Addr::new(10, 3, 0, 1);
        assert!(!rp.should_answer(late, t));
        assert!(!rp.should_answer(late, t));
        assert_eq!(rp.waiting.len(), 1);
    }
}
