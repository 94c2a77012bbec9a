//! Peer-assisted reachability and clock skew (issue 20), the state's part: when to ask
//! a peer to dial us back (`RBCK`), which of a peer's questions to answer and with
//! which addresses, and what the answers (`RBRS`) said, kept per contact for
//! `purr doctor`.
//!
//! ```text
//!   CAPS with `reach`, or a diag request ─▶ RBCK{nonce, ts, the addresses we advertise}
//!                                           (once a minute at most)
//!   RBCK from a peer ─▶ its clock skew; answered once a minute at most, ≤ 4 jobs at once:
//!        each address ─ one we would dial for it anyway? ─yes─▶ ReachJob (conn::reach)
//!                                                        └no──▶ `not_known`, not dialled
//!        ReachDone ─▶ RBRS{nonce, ts, results}
//!   RBRS with our nonce ─▶ its clock skew; results for the addresses we asked, kept
//! ```
//!
//! What makes the dial-back safe to offer (docs/SECURITY.md §2.9): it dials only an
//! address the dialer would dial for that peer anyway (its `HAND` port at the IP its
//! session comes from, or an address learned for its id from a beacon, a list or a
//! configured target), at most 16 per peer a minute and 4 jobs at once, and sends only
//! a `HAND` there.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::bus::ReachJob;
use crate::identity::NodeId;
use crate::peer::inner::Inner;
use crate::peer::reach::{Answer, Ask, Outcome, Tried};

use super::State;

/// A peer's questions answered at most this often, and ours asked at most this often.
pub const REACH_EVERY: Duration = Duration::from_secs(60);
/// Dial-back jobs running at once, all peers together.
pub const MAX_JOBS: usize = 4;

/// What we know of one peer's reachability questions and answers.
#[derive(Debug, Default, Clone)]
pub struct PeerReach {
    /// Our last `RBCK` to it, not answered yet: its nonce, and what we asked.
    asked: Option<([u8; 16], Vec<SocketAddr>)>,
    /// When we last asked it (answered or not).
    last_asked: Option<Instant>,
    /// Its last `RBRS`: when, and one result per address we asked.
    pub answer: Option<(Instant, Vec<Tried>)>,
    /// When we last took one of its `RBCK`s.
    answered_at: Option<Instant>,
    /// The results of its current question that need no dial (`not_known`), waiting
    /// for the job's to be sent with them in one `RBRS`.
    answering: Option<([u8; 16], Vec<Tried>)>,
    /// Its clock minus ours in milliseconds (from its last `RBCK` or `RBRS`), and when.
    pub skew: Option<(i64, Instant)>,
}

impl State {
    /// The peer announced `reach`: ask it to dial us back, unless we asked it lately.
    pub(super) fn reach_cap_known(&mut self, id: NodeId, now: Instant) {
        self.peers.set_reach_cap(&id);
        self.ask_reach(id, now);
    }

    /// Asks every online peer that takes `RBCK` again whose last question is over a
    /// minute old (`GET /api/v1/diag`: `purr doctor` and the Network page).
    pub(super) fn refresh_reach(&mut self, now: Instant) {
        let due: Vec<NodeId> = self
            .peers
            .contacts()
            .filter(|c| c.link().is_some_and(|l| l.reach))
            .map(|c| c.id)
            .collect();
        for id in due {
            self.ask_reach(id, now);
        }
    }

    fn ask_reach(&mut self, id: NodeId, now: Instant) {
        let Some(c) = self.peers.get(&id) else {
            return;
        };
        let Some(link) = c.link() else {
            return;
        };
        let recent = c
            .reach
            .last_asked
            .is_some_and(|at| now.saturating_duration_since(at) < REACH_EVERY);
        if recent {
            return;
        }
        // A peer on this machine (a loopback session) tells nothing of how others reach
        // us: it is asked for its clock only, with no address.
        let addrs = if link.remote.ip().to_canonical().is_loopback() {
            Vec::new()
        } else {
            // What we announce in `ADDR` (state/announce.rs): our interfaces' addresses
            // with our port, and `--advertise`.
            let mut ours: Vec<SocketAddr> = self.announcer.ours().iter().map(|a| a.addr).collect();
            ours.truncate(crate::peer::reach::MAX_REACH_ADDRS);
            ours
        };
        let Ok(nonce) = crate::rng::bytes::<16>() else {
            return;
        };
        let ask = Ask {
            nonce,
            ts: self.wall_ms(),
            addrs: addrs.clone(),
        };
        let now_ms = self.clock.now_ms();
        self.peers.send(&id, Inner::ReachAsk(ask), now_ms);
        if let Some(c) = self.peers.get_mut(&id) {
            c.reach.asked = Some((nonce, addrs));
            c.reach.last_asked = Some(now);
        }
    }

    /// A peer asks us to dial it back.
    pub(super) fn on_reach_ask(&mut self, id: NodeId, ask: Ask, now: Instant) {
        let wall = self.wall_ms();
        let Some(c) = self.peers.get_mut(&id) else {
            return;
        };
        c.reach.skew = Some((skew(ask.ts, wall), now));
        let too_soon = c
            .reach
            .answered_at
            .is_some_and(|at| now.saturating_duration_since(at) < REACH_EVERY);
        if too_soon || self.reach_jobs >= MAX_JOBS || c.reach.answering.is_some() {
            log::debug!(
                "RBCK from {}: busy, not dialled",
                crate::rules::short_id(&id)
            );
            let results = ask.addrs.iter().map(|a| tried(*a, Outcome::Busy)).collect();
            self.answer_reach(id, ask.nonce, results);
            return;
        }
        c.reach.answered_at = Some(now);
        // Addresses we would dial for it anyway: its own (IP of the session, HAND
        // port), those stored, and those learned for its id.
        let mut known: Vec<SocketAddr> = c.addrs.clone();
        known.extend(
            self.dialer
                .log
                .known(&id)
                .iter()
                .filter_map(|k| k.addr.parse::<SocketAddr>().ok()),
        );
        let known = |a: &SocketAddr| {
            let a = crate::net::canonical(*a);
            known.iter().any(|k| crate::net::canonical(*k) == a)
        };
        let (dial, skip): (Vec<SocketAddr>, Vec<SocketAddr>) =
            ask.addrs.iter().copied().partition(|a| known(a));
        let skipped: Vec<Tried> = skip.iter().map(|a| tried(*a, Outcome::NotKnown)).collect();
        if dial.is_empty() {
            self.answer_reach(id, ask.nonce, skipped);
            return;
        }
        let job = ReachJob {
            peer: id,
            nonce: ask.nonce,
            addrs: dial.clone(),
        };
        match (self.reach)(job, self.peer_ctx.clone()) {
            Ok(()) => {
                self.reach_jobs += 1;
                if let Some(c) = self.peers.get_mut(&id) {
                    c.reach.answering = Some((ask.nonce, skipped));
                }
            }
            Err(e) => {
                log::warn!("cannot start dial-backs: {e}");
                let mut results = skipped;
                results.extend(dial.iter().map(|a| tried(*a, Outcome::Busy)));
                self.answer_reach(id, ask.nonce, results);
            }
        }
    }

    /// The dial-backs of a peer's question are done: answer it, if it is still online.
    pub(super) fn on_reach_done(&mut self, peer: NodeId, nonce: [u8; 16], results: Vec<Tried>) {
        self.reach_jobs = self.reach_jobs.saturating_sub(1);
        let mut all = match self.peers.get_mut(&peer) {
            Some(c) => match c.reach.answering.take() {
                Some((n, skipped)) if n == nonce => skipped,
                other => {
                    c.reach.answering = other;
                    Vec::new()
                }
            },
            None => return,
        };
        all.extend(results);
        self.answer_reach(peer, nonce, all);
    }

    fn answer_reach(&mut self, peer: NodeId, nonce: [u8; 16], results: Vec<Tried>) {
        let answer = Answer {
            nonce,
            ts: self.wall_ms(),
            results,
        };
        let now_ms = self.clock.now_ms();
        self.peers.send(&peer, Inner::ReachAnswer(answer), now_ms);
    }

    /// A peer's answer to our question: kept for the addresses we asked.
    pub(super) fn on_reach_answer(&mut self, id: NodeId, answer: Answer, now: Instant) {
        let wall = self.wall_ms();
        let Some(c) = self.peers.get_mut(&id) else {
            return;
        };
        c.reach.skew = Some((skew(answer.ts, wall), now));
        match c.reach.asked.take() {
            Some((nonce, asked)) if nonce == answer.nonce => {
                let mut results = answer.results;
                results.retain(|t| asked.contains(&t.addr));
                results.dedup_by_key(|t| t.addr);
                for t in &results {
                    log::info!(
                        "{} dialled us back on {}: {} ({} ms)",
                        crate::rules::short_id(&id),
                        t.addr,
                        t.outcome.as_str(),
                        t.ms
                    );
                }
                c.reach.answer = Some((now, results));
            }
            other => c.reach.asked = other,
        }
    }

    /// The wall clock as the wire carries it (Unix ms, never negative).
    fn wall_ms(&self) -> u64 {
        u64::try_from(self.clock.now_ms()).unwrap_or(0)
    }
}

/// Their clock minus ours, in milliseconds (saturating: a peer's `ts` is untrusted).
fn skew(theirs: u64, ours: u64) -> i64 {
    let theirs = i64::try_from(theirs).unwrap_or(i64::MAX);
    let ours = i64::try_from(ours).unwrap_or(i64::MAX);
    theirs.saturating_sub(ours)
}

fn tried(addr: SocketAddr, outcome: Outcome) -> Tried {
    Tried {
        addr,
        outcome,
        ms: 0,
    }
}
