//! Gaps in a group author's run (issue 18: "a gap in an author's sequence is fetched,
//! and after a while the UI says '1 message from Bob not yet received' instead of
//! hiding later ones").
//!
//! A member holds, per author, every seq up to `upto` and some above it (`Held`). When
//! something is above, the seqs between are missing, and sync asks for them at once
//! (`groups`). Most gaps close within a round trip, so a notice at once would only
//! flicker: a gap that outlasts [`GAP_GRACE`] goes into the group's `missing` (its
//! JSON), and every UI says so until it is filled. Later messages are shown all along.
//!
//! ```text
//!   a gap opens (a commit above the run; a purge; a start) ──▶ noted {since, at}
//!   tick or commit: now − at ≥ GAP_GRACE ──────────────────▶ in `missing`: `group` event
//!   the run reaches the top (filled) ──────────────────────▶ out of it:    `group` event
//! ```
//!
//! When a gap passes its grace, every member online is asked for it (a `GSYN`) once:
//! the one that forwarded the message above the gap may not hold those below it.
//!
//! The tick only looks at groups with an open gap (`Groups::gappy`), so it costs
//! nothing while every run is whole.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::identity::NodeId;
use crate::peer::group::GroupId;
use crate::peer::inner::Inner;

use super::groups::{Held, Phase};
use super::State;

/// How long a gap may last before the UIs are told: a sync round trip on a LAN takes
/// milliseconds; a gap still open after this needs a member holding the messages.
pub const GAP_GRACE: Duration = Duration::from_secs(10);

/// When we first saw an author's gap: wall clock for the JSON, `Instant` for the grace.
#[derive(Debug, Clone, Copy)]
struct Seen {
    since: i64,
    at: Instant,
}

/// One author's messages missing for longer than the grace (`missing` in the JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    pub author: NodeId,
    /// Seqs missing below the highest one held (not counting those on their way to the
    /// store: they are on the screens already).
    pub count: u64,
    /// Unix ms when this node noticed the gap.
    pub since: i64,
}

/// A member's gaps in one group. Bounded by the authors of `have` (the membership
/// spans).
#[derive(Debug, Default)]
pub struct Gaps {
    seen: BTreeMap<NodeId, Seen>,
    /// What the UIs were last told.
    shown: Vec<Missing>,
}

impl Held {
    /// Seqs missing below the highest one held (0: the run is whole).
    pub(super) fn missing(&self) -> u64 {
        self.above.last().map_or(0, |top| {
            top.saturating_sub(self.upto)
                .saturating_sub(self.above.len() as u64)
        })
    }
}

impl Gaps {
    /// Notes the gaps of `have` (new ones as of `now`), forgets the filled ones, and
    /// returns what to show if it changed.
    fn refresh(
        &mut self,
        have: &BTreeMap<NodeId, Held>,
        storing: &BTreeSet<(NodeId, u64)>,
        now: Instant,
        now_ms: i64,
    ) -> Option<&[Missing]> {
        self.seen
            .retain(|a, _| have.get(a).is_some_and(|h| h.missing() > 0));
        for (author, held) in have {
            if held.missing() > 0 {
                self.seen.entry(*author).or_insert(Seen {
                    since: now_ms,
                    at: now,
                });
            }
        }
        let missing: Vec<Missing> = self
            .seen
            .iter()
            .filter(|(_, seen)| now.saturating_duration_since(seen.at) >= GAP_GRACE)
            .filter_map(|(author, seen)| {
                let held = have.get(author)?;
                let top = *held.above.last()?;
                let low = held.upto.saturating_add(1);
                let on_the_way = storing.range((*author, low)..(*author, top)).count();
                let count = held.missing().saturating_sub(on_the_way as u64);
                (count > 0).then_some(Missing {
                    author: *author,
                    count,
                    since: seen.since,
                })
            })
            .collect();
        if missing == self.shown {
            return None;
        }
        self.shown = missing;
        Some(&self.shown)
    }

    /// What the UIs are told is missing.
    pub fn shown(&self) -> &[Missing] {
        &self.shown
    }

    /// Whether some author's run has a gap (the tick must look again).
    fn open(&self) -> bool {
        !self.seen.is_empty()
    }
}

impl State {
    /// Looks at the gaps of group `id` at `now`; a `group` event when what the UIs show
    /// changed.
    pub(super) fn refresh_gaps(&mut self, id: &GroupId, now: Instant) {
        let now_ms = self.clock.now_ms();
        let Some(Phase::Member(m)) = self.groups.map.get_mut(id).map(|g| &mut g.phase) else {
            self.groups.gappy.remove(id);
            return;
        };
        let m = &mut **m;
        let before: BTreeSet<NodeId> = m.gaps.shown.iter().map(|g| g.author).collect();
        let changed = m.gaps.refresh(&m.have, &m.storing, now, now_ms).is_some();
        if m.gaps.open() {
            self.groups.gappy.insert(*id);
        } else {
            self.groups.gappy.remove(id);
        }
        if !changed {
            return;
        }
        log::debug!("group {id}: missing {:?}", m.gaps.shown());
        let new_gap = m.gaps.shown.iter().any(|g| !before.contains(&g.author));
        let ask = new_gap.then(|| (m.summary(id), m.members().to_vec()));
        self.push_group(id);
        if let Some((summary, members)) = ask {
            let own = self.own_id;
            for peer in members.iter().filter(|p| **p != own) {
                if self.peers.takes_groups(peer) {
                    self.send_group_inner(peer, Inner::GroupSync(summary.clone()));
                }
            }
        }
    }

    /// Every tick: the groups with an open gap (its grace may have passed).
    pub(super) fn tick_gaps(&mut self, now: Instant) {
        let ids: Vec<GroupId> = self.groups.gappy.iter().copied().collect();
        for id in ids {
            self.refresh_gaps(&id, now);
        }
    }
}
