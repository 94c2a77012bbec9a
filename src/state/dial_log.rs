//! What the dialer remembers for `purr doctor` (issue 20): the last dial attempts per
//! target with their outcome, and the addresses learned per id with where they came
//! from. Owned by the [`Dialer`](super::dialer::Dialer); bounded like everything a peer
//! or a forged beacon can make grow: [`ATTEMPTS_PER_TARGET`] attempts per target,
//! [`MAX_TARGETS`] targets, [`ADDRS_PER_ID`] addresses per id, [`MAX_IDS`] ids (the entry
//! touched longest ago makes room).

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Instant;

use crate::bus::{ConnectFailure, DialError};
use crate::identity::NodeId;

/// Attempts kept per target.
pub const ATTEMPTS_PER_TARGET: usize = 8;
/// Targets with attempts kept.
pub const MAX_TARGETS: usize = 256;
/// Addresses kept per id: the 16 a peer may announce, and room for its beacon, lists
/// and connections.
pub const ADDRS_PER_ID: usize = 24;
/// Ids with learned addresses kept.
pub const MAX_IDS: usize = 256;
/// Targets the UI asked to connect to, remembered as `manual`.
const MAX_MANUAL: usize = 64;

/// Where an address of a peer was learned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrSource {
    /// Its LAN beacon.
    Beacon,
    /// Another peer's `LIST`.
    List,
    /// `--connect` or `--peers`.
    Connect,
    /// The UI's `connect`.
    Manual,
    /// It connected to us (the address is its IP with the port from its `HAND`).
    Incoming,
    /// It announced the address itself (`ADDR`).
    Announced,
}

impl AddrSource {
    pub fn as_str(self) -> &'static str {
        match self {
            AddrSource::Beacon => "beacon",
            AddrSource::List => "list",
            AddrSource::Connect => "connect",
            AddrSource::Manual => "manual",
            AddrSource::Incoming => "incoming",
            AddrSource::Announced => "announced",
        }
    }
}

/// How one dial ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Connected,
    /// Both sides dialled; SPEC §7 kept the other connection (not a failure).
    Duplicate,
    /// Another id answered than the one listed for the address.
    OtherKey,
    /// No connection (`SelfConnection`: the address is ourselves).
    Failed(DialError),
}

impl Outcome {
    /// A word for scripts and the reason in words, for `GET /api/v1/diag`.
    pub fn words(&self) -> (&'static str, String) {
        match self {
            Outcome::Connected => ("connected", "connected".into()),
            Outcome::Duplicate => (
                "duplicate",
                "connected, and closed as a duplicate: the peer's own connection was kept".into(),
            ),
            Outcome::OtherKey => (
                "other_key",
                "their key is not the one listed for that address".into(),
            ),
            Outcome::Failed(e) => match e {
                DialError::Resolve(e) => ("unresolved", format!("cannot resolve ({e})")),
                DialError::Connect(ConnectFailure::Refused, _) => {
                    ("refused", "connection refused".into())
                }
                DialError::Connect(ConnectFailure::TimedOut, _) => {
                    ("timed_out", "timed out: no answer to the connection".into())
                }
                DialError::Connect(ConnectFailure::Unreachable, e) => {
                    ("unreachable", format!("unreachable ({e})"))
                }
                DialError::Connect(ConnectFailure::Other, e) => {
                    ("failed", format!("cannot connect ({e})"))
                }
                DialError::Handshake(e) => ("handshake", format!("handshake failed ({e})")),
                DialError::SelfConnection => ("ourselves", "connected to ourselves".into()),
                DialError::NoThread(e) => ("failed", format!("no thread for the dial ({e})")),
            },
        }
    }
}

/// One dial attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub at: Instant,
    pub outcome: Outcome,
}

/// An address learned for an id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Known {
    pub addr: String,
    pub source: AddrSource,
    pub at: Instant,
}

/// The log. See the module docs.
#[derive(Debug, Default)]
pub struct DialLog {
    attempts: HashMap<String, VecDeque<Attempt>>,
    known: HashMap<NodeId, Vec<Known>>,
    manual: VecDeque<String>,
}

impl DialLog {
    /// A dial to `target` ended with `outcome` at `at`.
    pub fn attempt(&mut self, target: &str, outcome: Outcome, at: Instant) {
        if !self.attempts.contains_key(target) && self.attempts.len() >= MAX_TARGETS {
            let oldest = self
                .attempts
                .iter()
                .min_by_key(|(_, a)| a.front().map(|a| a.at))
                .map(|(t, _)| t.clone());
            if let Some(t) = oldest {
                self.attempts.remove(&t);
            }
        }
        let log = self.attempts.entry(target.to_string()).or_default();
        log.push_front(Attempt { at, outcome });
        log.truncate(ATTEMPTS_PER_TARGET);
    }

    /// The attempts to `target`, newest first.
    pub fn attempts(&self, target: &str) -> impl Iterator<Item = &Attempt> {
        self.attempts.get(target).into_iter().flatten()
    }

    /// `id` can be reached at `addr`, learned from `source` at `at`.
    pub fn learned(&mut self, id: NodeId, addr: &str, source: AddrSource, at: Instant) {
        if !self.known.contains_key(&id) && self.known.len() >= MAX_IDS {
            let oldest = self
                .known
                .iter()
                .min_by_key(|(_, k)| k.iter().map(|k| k.at).max())
                .map(|(id, _)| *id);
            if let Some(id) = oldest {
                self.known.remove(&id);
            }
        }
        let known = self.known.entry(id).or_default();
        known.retain(|k| !(k.addr == addr && k.source == source));
        known.insert(
            0,
            Known {
                addr: addr.to_string(),
                source,
                at,
            },
        );
        known.truncate(ADDRS_PER_ID);
    }

    /// The addresses learned for `id`, the most recent first.
    pub fn known(&self, id: &NodeId) -> &[Known] {
        self.known.get(id).map_or(&[], Vec::as_slice)
    }

    /// The UI asked to connect to `target`.
    pub fn manual(&mut self, target: &str) {
        self.manual.retain(|t| t != target);
        if self.manual.len() >= MAX_MANUAL {
            self.manual.pop_back();
        }
        self.manual.push_front(target.to_string());
    }

    /// Whether the UI asked to connect to `target`.
    pub fn is_manual(&self, target: &str) -> bool {
        self.manual.iter().any(|t| t == target)
    }

    /// Sizes (targets, ids), for tests.
    pub fn sizes(&self) -> (usize, usize) {
        (self.attempts.len(), self.known.len())
    }
}

/// Configured targets that are failing, so that a failure is logged once and a
/// recovery once, not every retry (issue 20: say it at the default log level).
#[derive(Debug, Default)]
pub struct Failing(HashSet<String>);

/// What changed for a configured target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// It failed, and had not failed since it last worked (or since the start).
    NowFailing,
    /// It worked after failing.
    Recovered,
}

impl Failing {
    /// A dial to the configured `target` ended (`ok`); the change worth a log line.
    pub fn outcome(&mut self, target: &str, ok: bool) -> Option<Change> {
        match ok {
            true if self.0.remove(target) => Some(Change::Recovered),
            false if self.0.insert(target.to_string()) => Some(Change::NowFailing),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn refused() -> Outcome {
        Outcome::Failed(DialError::Connect(
            ConnectFailure::Refused,
            "Connection refused (os error 111)".into(),
        ))
    }

    #[test]
    fn attempts_are_kept_newest_first_and_bounded() {
        let mut log = DialLog::default();
        let t = Instant::now();
        for s in 0..20 {
            log.attempt("h:1", refused(), t + Duration::from_secs(s));
        }
        log.attempt("h:1", Outcome::Connected, t + Duration::from_secs(30));
        let a: Vec<&Attempt> = log.attempts("h:1").collect();
        assert_eq!(a.len(), ATTEMPTS_PER_TARGET);
        assert_eq!(a[0].outcome, Outcome::Connected);
        assert_eq!(a[1].at, t + Duration::from_secs(19));
        for i in 0..1000u64 {
            log.attempt(
                &format!("10.0.{}.{}:1", i / 256, i % 256),
                refused(),
                t + Duration::from_secs(100 + i),
            );
        }
        assert_eq!(log.sizes().0, MAX_TARGETS);
        assert!(log.attempts("h:1").next().is_none(), "the oldest made room");
    }

    #[test]
    fn addresses_keep_their_source_and_are_bounded() {
        let mut log = DialLog::default();
        let t = Instant::now();
        let id = [1; 32];
        log.learned(id, "10.0.0.2:35035", AddrSource::Beacon, t);
        log.learned(id, "10.0.0.2:35035", AddrSource::List, t);
        log.learned(
            id,
            "10.0.0.2:35035",
            AddrSource::Beacon,
            t + Duration::from_secs(1),
        );
        let k = log.known(&id);
        assert_eq!(k.len(), 2);
        assert_eq!(
            (k[0].source, k[0].at),
            (AddrSource::Beacon, t + Duration::from_secs(1))
        );
        for p in 0..100 {
            log.learned(id, &format!("10.0.0.2:{p}"), AddrSource::List, t);
        }
        assert_eq!(log.known(&id).len(), ADDRS_PER_ID);
        for i in 0..1000u32 {
            let mut other = [0u8; 32];
            other[..4].copy_from_slice(&i.to_be_bytes());
            log.learned(
                other,
                "10.0.0.9:1",
                AddrSource::Beacon,
                t + Duration::from_secs(10),
            );
        }
        assert_eq!(log.sizes().1, MAX_IDS);
    }

    #[test]
    fn reasons_are_words() {
        assert_eq!(refused().words().0, "refused");
        let timed_out = Outcome::Failed(DialError::Connect(ConnectFailure::TimedOut, "x".into()));
        assert_eq!(timed_out.words().0, "timed_out");
        assert_eq!(
            Outcome::Failed(DialError::SelfConnection).words().1,
            "connected to ourselves"
        );
        assert!(Outcome::OtherKey.words().1.contains("not the one listed"));
        assert!(Outcome::Duplicate.words().1.contains("duplicate"));
    }

    #[test]
    fn a_failing_target_is_reported_once_and_its_recovery_once() {
        let mut f = Failing::default();
        assert_eq!(f.outcome("h:1", true), None, "working from the start");
        assert_eq!(f.outcome("h:1", false), Some(Change::NowFailing));
        assert_eq!(f.outcome("h:1", false), None);
        assert_eq!(f.outcome("h:1", false), None);
        assert_eq!(f.outcome("h:1", true), Some(Change::Recovered));
        assert_eq!(f.outcome("h:1", true), None);
        assert_eq!(f.outcome("h:1", false), Some(Change::NowFailing));
    }
}
