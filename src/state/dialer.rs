//! Who may be dialled, and when: exponential backoff per address and per id, a cap on
//! dials in flight, and addresses known to be ourselves (SPEC §4, §7).
//!
//! Pure bookkeeping with an injected clock and a seeded jitter source, so the policy is
//! tested without sleeping. A forged beacon or LIST entry costs at most one dial per
//! backoff period per address, however many ids point at it.
//!
//! ```text
//!   try_start ──allowed──▶ in flight ──finish(Ok)──▶ failures = 0, next in 1 s
//!        │                     └──────finish(Err)─▶ failures += 1, next in 2^f s (≤ 60 s) ± 20 %
//!        └─ refused: in flight already / backoff not over / self / too many in flight
//! ```
//!
//! Peers learned from a `LIST` that cannot be dialled yet because every automatic slot
//! is taken wait in a bounded queue of hints ([`Dialer::queue_hint`]), so an honest list
//! of 20 connects all 20, a few at a time, and a hostile list of 1,024 costs no more
//! dials per second than a beacon flood.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use super::dial_log::{DialLog, Failing};
use crate::bus::SubId;
use crate::identity::NodeId;

/// First retry delay (SPEC §4: 1 s … 60 s).
pub const BACKOFF_MIN: Duration = Duration::from_secs(1);
/// Longest retry delay.
pub const BACKOFF_MAX: Duration = Duration::from_secs(60);
/// Dials in flight for addresses learned from others (LIST, beacons) and for redials.
pub const MAX_AUTOMATIC_IN_FLIGHT: usize = 8;
/// Peers from `LIST`s waiting for a free automatic slot (one `LIST`'s worth).
pub const MAX_HINTS: usize = 1024;
/// Backoff state is forgotten this long after its delay ran out.
const PRUNE_AFTER: Duration = Duration::from_secs(600);

/// Why a dial is wanted; automatic ones share the in-flight cap, the user's do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `--connect`, `--peers`, the UI `connect` command.
    User,
    /// A LIST entry, a beacon, a redial of a known peer.
    Automatic,
}

#[derive(Debug, Clone, Copy)]
struct Backoff {
    failures: u32,
    next_at: Instant,
}

/// The dial policy. See the module docs.
#[derive(Debug)]
pub struct Dialer {
    by_target: HashMap<String, Backoff>,
    by_id: HashMap<NodeId, Backoff>,
    in_flight: HashMap<String, Source>,
    /// Ids being dialled (when the target's id is known): one dial per id at a time, so
    /// this side never opens two connections to one peer (SPEC §7 settles two
    /// connections from *different* sides; two from one side it could settle differently
    /// at each end).
    ids_in_flight: HashMap<NodeId, String>,
    ourselves: HashSet<String>,
    /// Peers to dial once a slot is free, oldest first, one entry per id.
    hints: VecDeque<(NodeId, Vec<String>)>,
    /// Dials for a listed id that another id answered (SPEC §7: the entry is dropped).
    mismatched: u64,
    /// `--connect`/`--peers` targets (kept connected), and which id answered at each.
    configured: Vec<String>,
    owners: HashMap<String, NodeId>,
    /// UIs waiting for the outcome of their `connect` to a target.
    waiters: HashMap<String, Vec<SubId>>,
    jitter: u64,
    /// Attempts and learned addresses, for `purr doctor`.
    pub log: DialLog,
    /// Configured targets failing now (their failure is logged once).
    pub failing: Failing,
}

impl Dialer {
    /// A dialer whose jitter comes from `seed` (any value but 0 works), keeping the
    /// `configured` targets connected.
    pub fn new(seed: u64, configured: Vec<String>) -> Dialer {
        Dialer {
            by_target: HashMap::new(),
            by_id: HashMap::new(),
            in_flight: HashMap::new(),
            ids_in_flight: HashMap::new(),
            ourselves: HashSet::new(),
            hints: VecDeque::new(),
            mismatched: 0,
            configured,
            owners: HashMap::new(),
            waiters: HashMap::new(),
            jitter: seed.max(1),
            log: DialLog::default(),
            failing: Failing::default(),
        }
    }

    fn automatic_in_flight(&self) -> usize {
        self.in_flight
            .values()
            .filter(|s| **s == Source::Automatic)
            .count()
    }

    /// Whether an automatic dial could start now as far as the in-flight cap goes.
    pub fn automatic_slot_free(&self) -> bool {
        self.automatic_in_flight() < MAX_AUTOMATIC_IN_FLIGHT
    }

    /// Remembers that `id` may be reached at `targets`, to dial when a slot is free. A
    /// newer hint for the same id replaces the older one; past [`MAX_HINTS`] the oldest
    /// is dropped (a peer that matters is listed again at the next session or beacon).
    pub fn queue_hint(&mut self, id: NodeId, targets: Vec<String>) {
        self.hints.retain(|(i, _)| *i != id);
        if self.hints.len() >= MAX_HINTS {
            self.hints.pop_front();
        }
        self.hints.push_back((id, targets));
    }

    /// The oldest queued hint, if a slot is free for it.
    pub fn next_hint(&mut self) -> Option<(NodeId, Vec<String>)> {
        if !self.automatic_slot_free() {
            return None;
        }
        self.hints.pop_front()
    }

    /// Hints waiting (for tests and diagnostics).
    pub fn hints_waiting(&self) -> usize {
        self.hints.len()
    }

    /// Dials whose answer came from another id than the one listed.
    pub fn mismatched(&self) -> u64 {
        self.mismatched
    }

    /// Configured targets whose owner (the id that answered there) is not online, per
    /// `is_online`, and that are not being dialled: the ones to dial again.
    pub fn configured_to_dial(&self, is_online: impl Fn(&NodeId) -> bool) -> Vec<String> {
        self.configured
            .iter()
            .filter(|t| !self.owners.get(*t).is_some_and(&is_online))
            .filter(|t| !self.in_flight(t))
            .cloned()
            .collect()
    }

    /// The `--connect`/`--peers` targets.
    pub fn configured(&self) -> &[String] {
        &self.configured
    }

    /// Whether `target` is a `--connect`/`--peers` target.
    pub fn is_configured(&self, target: &str) -> bool {
        self.configured.iter().any(|t| t == target)
    }

    /// The id that answered last at the configured `target`.
    pub fn owner(&self, target: &str) -> Option<NodeId> {
        self.owners.get(target).copied()
    }

    /// How long until `target` (believed to be `id`) may be dialled again, if the
    /// dialer is holding it back.
    pub fn backoff_left(
        &self,
        target: &str,
        id: Option<&NodeId>,
        now: Instant,
    ) -> Option<Duration> {
        let by_target = self.by_target.get(target).map(|b| b.next_at);
        let by_id = id.and_then(|i| self.by_id.get(i)).map(|b| b.next_at);
        let next = by_target.max(by_id)?;
        (next > now).then(|| next - now)
    }

    /// Ids that answered at a configured target: contacts the user chose.
    pub fn configured_ids(&self) -> HashSet<NodeId> {
        self.owners.values().copied().collect()
    }

    /// `sub` waits for the outcome of a dial to `target`.
    pub fn wait(&mut self, target: &str, sub: SubId) {
        self.waiters
            .entry(target.to_string())
            .or_default()
            .push(sub);
    }

    /// Whether a UI waits for the outcome of a dial to `target` (the user chose it).
    pub fn has_waiters(&self, target: &str) -> bool {
        self.waiters.get(target).is_some_and(|w| !w.is_empty())
    }

    /// The UIs waiting for `target`, forgotten.
    pub fn take_waiters(&mut self, target: &str) -> Vec<SubId> {
        self.waiters.remove(target).unwrap_or_default()
    }

    /// Whether `target` is being dialled right now.
    pub fn in_flight(&self, target: &str) -> bool {
        self.in_flight.contains_key(target)
    }

    /// Asks to dial `target` (believed to be `id`, if known) at `now`. When allowed, the
    /// dial counts as in flight until [`Dialer::finish`].
    pub fn try_start(
        &mut self,
        target: &str,
        id: Option<&NodeId>,
        source: Source,
        now: Instant,
    ) -> bool {
        let waiting = |b: Option<&Backoff>| b.is_some_and(|b| b.next_at > now);
        if self.in_flight.contains_key(target)
            || id.is_some_and(|i| self.ids_in_flight.contains_key(i))
            || self.ourselves.contains(target)
            || waiting(self.by_target.get(target))
            || waiting(id.and_then(|i| self.by_id.get(i)))
            || (source == Source::Automatic
                && self.automatic_in_flight() >= MAX_AUTOMATIC_IN_FLIGHT)
        {
            return false;
        }
        self.in_flight.insert(target.to_string(), source);
        if let Some(id) = id {
            self.ids_in_flight.insert(*id, target.to_string());
        }
        // Hold the next attempt back until this one's backoff period is over, whatever
        // its outcome, so a flood of triggers cannot make us hammer an address.
        let next_at = now + self.delay(self.failures(target));
        self.by_target
            .entry(target.to_string())
            .and_modify(|b| b.next_at = b.next_at.max(next_at))
            .or_insert(Backoff {
                failures: 0,
                next_at,
            });
        true
    }

    fn failures(&self, target: &str) -> u32 {
        self.by_target.get(target).map_or(0, |b| b.failures)
    }

    /// Records the outcome of a dial started with [`Dialer::try_start`]. `Ok(id)` is the
    /// id that answered; `Err(true)` means the target turned out to be ourselves.
    /// Returns true when the target was listed as another id than the one that answered.
    pub fn finish(&mut self, target: &str, result: Result<NodeId, bool>, now: Instant) -> bool {
        let mut other_key = false;
        self.in_flight.remove(target);
        let mut expected = None;
        self.ids_in_flight.retain(|i, t| {
            let dialled = t == target;
            if dialled {
                expected = Some(*i);
            }
            !dialled
        });
        match result {
            Ok(id) => {
                // A configured target that answered with another key before: the peer
                // there changed its identity, or another took its address.
                let mut previous = None;
                if self.configured.iter().any(|t| t == target) {
                    previous = self.owners.insert(target.to_string(), id);
                }
                if expected.is_some_and(|e| e != id) || previous.is_some_and(|p| p != id) {
                    self.mismatched += 1;
                    other_key = true;
                    log::debug!("{target} was listed as another peer than the one that answered");
                }
                let fresh = Backoff {
                    failures: 0,
                    next_at: now + BACKOFF_MIN,
                };
                self.by_target.insert(target.to_string(), fresh);
                self.by_id.insert(id, fresh);
            }
            Err(true) => {
                self.ourselves.insert(target.to_string());
            }
            Err(false) => {
                let failures = self.failures(target).saturating_add(1);
                let next_at = now + self.delay(failures);
                self.by_target
                    .insert(target.to_string(), Backoff { failures, next_at });
            }
        }
        other_key
    }

    /// A peer went offline: a redial may come after the minimum delay, and failures
    /// from before it was connected no longer count.
    pub fn disconnected(&mut self, id: &NodeId, now: Instant) {
        self.by_id.insert(
            *id,
            Backoff {
                failures: 0,
                next_at: now + BACKOFF_MIN,
            },
        );
    }

    /// Forgets backoff state that ended long ago, so addresses learned from hostile LISTs
    /// or beacons cannot grow these maps for as long as the node runs. An address seen
    /// again starts from the first delay, which the in-flight cap still bounds.
    ///
    /// An entry without failures whose delay is over says nothing an absent one does
    /// not, so it goes at once: every peer that disconnects leaves one in `by_id`, and a
    /// stranger minting an identity a second kept thousands for ten minutes (the soak's
    /// RSS slope). A table a burst grew is given back once it is mostly empty.
    pub fn prune(&mut self, now: Instant) {
        let stale = |b: &Backoff| {
            (b.failures == 0 && b.next_at <= now)
                || now.saturating_duration_since(b.next_at) > PRUNE_AFTER
        };
        self.by_target
            .retain(|t, b| self.in_flight.contains_key(t) || !stale(b));
        self.by_id.retain(|_, b| !stale(b));
        shrink_if_sparse(&mut self.by_target);
        shrink_if_sparse(&mut self.by_id);
    }

    /// Backoff entries kept (for tests).
    pub fn remembered(&self) -> usize {
        self.by_target.len() + self.by_id.len()
    }

    /// `2^failures` seconds, capped at 60 s, ± 20 % so that many nodes restarting
    /// together do not dial in lockstep.
    fn delay(&mut self, failures: u32) -> Duration {
        let base = BACKOFF_MIN
            .saturating_mul(1u32.checked_shl(failures.min(16)).unwrap_or(u32::MAX))
            .min(BACKOFF_MAX);
        // xorshift64: plenty for jitter, deterministic under a seed in tests.
        self.jitter ^= self.jitter << 13;
        self.jitter ^= self.jitter >> 7;
        self.jitter ^= self.jitter << 17;
        let permille = 800 + (self.jitter % 401); // 0.8 ..= 1.2
        base.saturating_mul(permille as u32) / 1000
    }
}

/// Gives a map's table back when under a quarter of it is used (never below 64 slots):
/// `retain` keeps the capacity of the largest burst for as long as the node runs.
fn shrink_if_sparse<K: Eq + std::hash::Hash, V>(map: &mut HashMap<K, V>) {
    if map.capacity() > 64 && map.len() < map.capacity() / 4 {
        map.shrink_to(map.len().max(16) * 2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: NodeId = [7; 32];

    impl Dialer {
        fn new_for_tests(seed: u64) -> Dialer {
            Dialer::new(seed, Vec::new())
        }
    }

    #[test]
    fn configured_targets_are_redialled_until_their_owner_is_online() {
        let mut d = Dialer::new(23, vec!["10.0.0.7:35035".into()]);
        let t = Instant::now();
        assert_eq!(d.configured_to_dial(|_| false), ["10.0.0.7:35035"]);
        assert!(d.try_start("10.0.0.7:35035", None, Source::User, t));
        assert!(d.configured_to_dial(|_| false).is_empty(), "in flight");
        d.finish("10.0.0.7:35035", Ok(ID), t);
        assert_eq!(d.configured_ids(), HashSet::from([ID]));
        assert!(d.configured_to_dial(|id| *id == ID).is_empty());
        assert_eq!(d.configured_to_dial(|_| false), ["10.0.0.7:35035"]);
    }

    #[test]
    fn a_configured_target_that_answers_with_another_key_is_told() {
        let mut d = Dialer::new(23, vec!["10.0.0.7:35035".into()]);
        let t = Instant::now();
        assert!(d.try_start("10.0.0.7:35035", None, Source::User, t));
        assert!(!d.finish("10.0.0.7:35035", Ok(ID), t), "first owner");
        assert!(d.try_start("10.0.0.7:35035", None, Source::User, t + BACKOFF_MIN));
        assert!(!d.finish("10.0.0.7:35035", Ok(ID), t), "the same key again");
        assert!(d.try_start("10.0.0.7:35035", None, Source::User, t + BACKOFF_MIN * 2));
        assert!(d.finish("10.0.0.7:35035", Ok([8; 32]), t), "a new key");
    }

    #[test]
    fn one_dial_at_a_time_per_target() {
        let mut d = Dialer::new_for_tests(1);
        let t = Instant::now();
        assert!(d.try_start("a:1", None, Source::User, t));
        assert!(!d.try_start("a:1", None, Source::User, t));
        assert!(d.in_flight("a:1"));
    }

    #[test]
    fn failures_back_off_exponentially_up_to_a_minute() {
        let mut d = Dialer::new_for_tests(42);
        let mut now = Instant::now();
        let mut gaps = Vec::new();
        for _ in 0..10 {
            // Find the first second at which a new dial is allowed.
            let start = now;
            let mut waited = 0;
            while !d.try_start("x:1", None, Source::User, now) {
                now += Duration::from_millis(100);
                waited += 100;
                assert!(waited < 80_000, "never allowed again");
            }
            gaps.push(now - start);
            d.finish("x:1", Err(false), now);
        }
        // 0, then ~2, ~4, ~8, ~16, ~32, then capped near 60 (± 20 %).
        assert_eq!(gaps[0], Duration::ZERO);
        assert!(gaps[1] >= Duration::from_millis(1500) && gaps[1] <= Duration::from_millis(2500));
        assert!(gaps[3] >= Duration::from_secs(6) && gaps[3] <= Duration::from_secs(10));
        for g in &gaps[7..] {
            assert!(
                *g >= Duration::from_secs(48) && *g <= Duration::from_secs(73),
                "{g:?}"
            );
        }
    }

    #[test]
    fn a_flood_of_triggers_for_one_address_dials_rarely() {
        let mut d = Dialer::new_for_tests(9);
        let mut now = Instant::now();
        let mut dials = 0;
        // 1,000 triggers per second for 10 s, each claiming a different id.
        for i in 0..10_000u32 {
            let mut id = [0u8; 32];
            id[..4].copy_from_slice(&i.to_be_bytes());
            if d.try_start("10.0.0.9:1", Some(&id), Source::Automatic, now) {
                dials += 1;
                d.finish("10.0.0.9:1", Err(false), now + Duration::from_millis(1));
            }
            now += Duration::from_millis(1);
        }
        assert!(dials <= 5, "{dials} dials in 10 s");
    }

    #[test]
    fn automatic_dials_are_capped_in_flight() {
        let mut d = Dialer::new_for_tests(3);
        let t = Instant::now();
        for i in 0..MAX_AUTOMATIC_IN_FLIGHT {
            assert!(d.try_start(&format!("h:{i}"), None, Source::Automatic, t));
        }
        assert!(!d.try_start("h:99", None, Source::Automatic, t));
        assert!(
            d.try_start("h:100", None, Source::User, t),
            "the user is not capped"
        );
        d.finish("h:0", Err(false), t);
        assert!(d.try_start("h:98", None, Source::Automatic, t));
    }

    #[test]
    fn hints_wait_for_a_slot_oldest_first_one_per_id_and_bounded() {
        let mut d = Dialer::new_for_tests(17);
        let t = Instant::now();
        for i in 0..MAX_AUTOMATIC_IN_FLIGHT {
            assert!(d.try_start(&format!("h:{i}"), None, Source::Automatic, t));
        }
        d.queue_hint([1; 32], vec!["a:1".into()]);
        d.queue_hint([2; 32], vec!["b:1".into()]);
        d.queue_hint([1; 32], vec!["a:2".into()]);
        assert_eq!(d.hints_waiting(), 2, "one hint per id");
        assert_eq!(d.next_hint(), None, "no slot free");
        d.finish("h:0", Err(false), t);
        assert_eq!(d.next_hint(), Some(([2; 32], vec!["b:1".to_string()])));
        assert_eq!(d.next_hint(), Some(([1; 32], vec!["a:2".to_string()])));
        assert_eq!(d.next_hint(), None);

        for i in 0..MAX_HINTS + 10 {
            let mut id = [0u8; 32];
            id[..8].copy_from_slice(&(i as u64).to_be_bytes());
            d.queue_hint(id, vec![format!("10.0.0.1:{i}")]);
        }
        assert_eq!(d.hints_waiting(), MAX_HINTS);
    }

    #[test]
    fn an_answer_from_another_id_than_listed_is_counted() {
        let mut d = Dialer::new_for_tests(19);
        let t = Instant::now();
        assert!(d.try_start("10.0.0.1:1", Some(&ID), Source::Automatic, t));
        d.finish("10.0.0.1:1", Ok([8; 32]), t);
        assert_eq!(d.mismatched(), 1);
        assert!(d.try_start("10.0.0.2:1", Some(&ID), Source::Automatic, t));
        d.finish("10.0.0.2:1", Ok(ID), t);
        assert_eq!(d.mismatched(), 1);
    }

    #[test]
    fn one_dial_per_id_at_a_time() {
        let mut d = Dialer::new_for_tests(13);
        let t = Instant::now();
        assert!(d.try_start("10.0.0.1:1", Some(&ID), Source::Automatic, t));
        assert!(
            !d.try_start("[fd00::1]:1", Some(&ID), Source::Automatic, t),
            "a second address of the same peer waits"
        );
        d.finish("10.0.0.1:1", Err(false), t);
        assert!(d.try_start("[fd00::1]:1", Some(&ID), Source::Automatic, t));
    }

    #[test]
    fn old_backoff_state_is_forgotten() {
        let mut d = Dialer::new_for_tests(11);
        let t = Instant::now();
        for i in 0..100 {
            let target = format!("10.0.0.{i}:1");
            if d.try_start(&target, Some(&[i as u8; 32]), Source::User, t) {
                d.finish(&target, Err(false), t);
            }
        }
        assert_eq!(d.remembered(), 100);
        d.prune(t + Duration::from_secs(60));
        assert_eq!(d.remembered(), 100, "recent failures are kept");
        d.prune(t + Duration::from_secs(3600));
        assert_eq!(d.remembered(), 0);
    }

    #[test]
    fn a_disconnected_peer_is_forgotten_once_its_redial_delay_is_over() {
        let mut d = Dialer::new_for_tests(12);
        let t = Instant::now();
        for i in 0..5_000u32 {
            let mut id = [0u8; 32];
            id[..4].copy_from_slice(&i.to_be_bytes());
            d.disconnected(&id, t);
        }
        assert_eq!(d.remembered(), 5_000);
        d.prune(t);
        assert_eq!(d.remembered(), 5_000, "the redial delay still holds");
        d.prune(t + BACKOFF_MIN);
        assert_eq!(d.remembered(), 0);
        assert!(d.by_id.capacity() <= 64, "{}", d.by_id.capacity());
    }

    #[test]
    fn ourselves_is_never_dialled_again_and_success_resets() {
        let mut d = Dialer::new_for_tests(5);
        let t = Instant::now();
        assert!(d.try_start("me:1", None, Source::User, t));
        d.finish("me:1", Err(true), t);
        assert!(!d.try_start("me:1", None, Source::User, t + Duration::from_secs(3600)));

        assert!(d.try_start("p:1", Some(&ID), Source::User, t));
        d.finish("p:1", Ok(ID), t);
        assert!(!d.try_start("p:1", Some(&ID), Source::Automatic, t));
        assert!(d.try_start(
            "p:1",
            Some(&ID),
            Source::Automatic,
            t + Duration::from_secs(2)
        ));
    }
}
