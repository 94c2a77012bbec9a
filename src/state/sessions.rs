//! Sessions for contacts, beacons for everyone else (issue 21): which peers this node
//! keeps an authenticated session with, which it only shows as **nearby**, and when an
//! on-demand session opens and closes.
//!
//! A session costs two threads and their buffers on both ends, so an office where every
//! node dialled every beacon paid for n² sessions nobody used. The rule:
//!
//! - **Kept** (dialled from beacons, `LIST`s, stored addresses, and redialled): a
//!   *contact* (a message or a file went either way, verified, `--connect`/`--peers`),
//!   a member of a group we are in, a peer with an unfinished transfer; and any peer we
//!   do not hear by beacon (known only by address: a VPN, another subnet), as before.
//! - **On demand**, everyone else we hear by beacon: shown as `nearby` (an unverified
//!   presence: a beacon's id is a claim), never dialled for a beacon alone. A session
//!   opens when the user opens the conversation (`open`, `POST /api/v1/peers/<id>/connect`),
//!   sends to it (which makes it a contact: from then on it is kept), or when it dials
//!   us; it closes after [`DEFAULT_IDLE_SESSION`] without traffic (`--idle-session-secs`),
//!   never while records wait in its queues, its outbox is re-sent or a probe runs.
//!   A peer that dials us again within [`REDIAL_WANTS_SESSION`] of such a close keeps
//!   its session from then on: we are its contact (it verified us or gave our address)
//!   though it is not ours, and closing would only make it redial every period.
//!
//! ```text
//!   beacon ──▶ nearby ──open / send / it dials us──▶ online (on demand)
//!                ▲                                      │ idle for the period
//!                └──────────────────────────────────────┘ (no traffic, nothing pending)
//!   beacon of a contact ──▶ dial ──▶ online (kept; redialled when it drops)
//! ```
//!
//! A forged beacon thus costs a table entry ([`super::nearby::MAX_NEARBY`]), never a
//! dial or a session.

use std::time::{Duration, Instant};

use crate::api::Event;
use crate::identity::NodeId;
use crate::peer::inner::Inner;

use super::dialer::Source;
use super::groups::Phase;
use super::peers::{Contact, MAX_STRANGERS_SHOWN};
use super::State;

/// How long an on-demand session stays up without traffic (issue 21: "2–5 min"): long
/// enough for a conversation's pauses, short enough that a busy office holds sessions
/// only for what is being talked about.
pub const DEFAULT_IDLE_SESSION: Duration = Duration::from_secs(180);

/// A peer that dials us again within this of our closing its idle session wants the
/// session (we are its contact: it verified us or gave our address, and we never
/// talked): the new one is kept rather than closed and redialled every idle period.
pub const REDIAL_WANTS_SESSION: Duration = Duration::from_secs(30);

/// Whether a record is traffic that keeps an on-demand session open: what the user
/// does (messages, receipts, files, groups), not what the session does by itself
/// (keep-alives, peer lists, capabilities, names, address announcements, dial-back
/// questions: a Network page left open asks again every minute).
pub fn is_traffic(inner: &Inner) -> bool {
    !matches!(
        inner,
        Inner::Auth(_)
            | Inner::Ping
            | Inner::Pong
            | Inner::List(_)
            | Inner::Caps(_)
            | Inner::Name(_)
            | Inner::Addr(_)
            | Inner::ReachAsk(_)
            | Inner::ReachAnswer(_)
            | Inner::Unknown(_)
    )
}

impl State {
    /// Whether a session with `id` is kept (see the module docs), whether we hear it by
    /// beacon or not. A message or a file either way makes a contact, so pending
    /// messages and offers are covered by the first test.
    pub(super) fn wants_session(&self, id: &NodeId) -> bool {
        self.peers.get(id).is_some_and(|c| !c.is_stranger())
            || self.groups.map.values().any(|g| match &g.phase {
                Phase::Member(m) => m.members().contains(id),
                _ => false,
            })
            || self.transfers.unfinished_with(id)
    }

    /// Whether a session with `id` is opened only on demand: we hear it by beacon and
    /// nothing makes us keep one.
    pub(super) fn on_demand(&self, id: &NodeId) -> bool {
        self.peers.is_nearby(id) && !self.wants_session(id)
    }

    /// A beacon from `id` at `addr`: noted (a new nearby peer is shown to the UIs);
    /// true if a session with it is wanted, so the caller dials it.
    pub(super) fn beacon_heard(
        &mut self,
        id: NodeId,
        addr: std::net::SocketAddr,
        now: Instant,
    ) -> bool {
        let online = self.peers.is_online(&id);
        if self.peers.heard(id, addr, now) && !online && self.tell_uis_of(&id) {
            self.push_peer(&id);
        }
        self.wants_session(&id)
    }

    /// Whether a change of `id`'s nearby presence is pushed to the UIs as it happens: a
    /// peer in the table always; one only heard by beacon while no more are heard than a
    /// `peers` answer shows strangers, so a flood of forged beacons (one new id each)
    /// does not become a flood of events (the next `peers` answer is bounded anyway).
    fn tell_uis_of(&self, id: &NodeId) -> bool {
        self.peers.get(id).is_some() || self.peers.nearby_count() <= MAX_STRANGERS_SHOWN
    }

    /// A peer only heard by beacon gets an entry in the peer table (a stranger, with
    /// the beacon's address and no name yet), so that a conversation, a message or a
    /// file can refer to it. No effect on a peer the table has.
    pub(super) fn adopt_nearby(&mut self, id: &NodeId, now: Instant) {
        if self.peers.get(id).is_some() {
            return;
        }
        let Some(heard) = self.peers.heard_of(id).copied() else {
            return;
        };
        let mut c = Contact::new(*id, String::new(), self.clock.now_ms());
        c.remember_addr(heard.addr);
        self.peers.insert_stranger(c, now);
    }

    /// A session with `id` came up at `now` (`dialled_us`: it dialled us). One the peer
    /// opened again right after we closed it for idleness is kept.
    pub(super) fn session_up(&mut self, id: &NodeId, dialled_us: bool, now: Instant) {
        let closed = self.peers.get(id).and_then(|c| c.idle_closed);
        if dialled_us
            && closed.is_some_and(|t| now.saturating_duration_since(t) < REDIAL_WANTS_SESSION)
        {
            self.peers.wanted_by_peer(id);
        }
    }

    /// Opens a session with `id` now, if it has none: the user opened its conversation
    /// or sends to it. A session already up counts as used. False when no dial could
    /// start (no address known, or one was tried moments ago).
    pub(super) fn open_session(&mut self, id: &NodeId, now: Instant) -> bool {
        if self.peers.is_online(id) {
            self.peers.touch(id, now);
            return true;
        }
        let mut targets: Vec<String> = Vec::new();
        if let Some(h) = self.peers.heard_of(id) {
            targets.push(h.addr.to_string());
        }
        if let Some(c) = self.peers.get(id) {
            targets.extend(c.addrs.iter().map(ToString::to_string));
        }
        targets.dedup();
        for target in targets {
            if self.dialer.in_flight(&target) {
                return true;
            }
            // The user's: not held back by the cap on automatic dials. A stranger it
            // stays (no `connect` waits on it): only a message makes a contact.
            if self.start_dial(&target, Some(id), Source::User, now) {
                log::debug!(
                    "opening a session with {} on demand",
                    crate::rules::short_id(id)
                );
                return true;
            }
        }
        false
    }

    /// Once a second: on-demand sessions idle for the period are closed (they stay
    /// nearby), and peers whose beacons stopped are no longer nearby.
    pub(super) fn tick_sessions(&mut self, now: Instant) {
        self.peers.settle_traffic(now);
        for id in self.peers.online() {
            if !self.on_demand(&id) || self.peers.busy(&id) {
                continue;
            }
            let idle = self
                .peers
                .active_since(&id)
                .map(|a| now.saturating_duration_since(a));
            if idle.is_some_and(|d| d >= self.idle_session) {
                let why = format!(
                    "an on-demand session idle for {} s",
                    self.idle_session.as_secs()
                );
                self.drop_peer(id, &why, now);
                if let Some(c) = self.peers.get_mut(&id) {
                    c.idle_closed = Some(now);
                }
            }
        }
        let quiet = self.peers.expire_nearby(now);
        // As many as were heard before these went: more than a `peers` answer shows, and
        // their arrival was not pushed either.
        let told = self.peers.nearby_count() + quiet.len() <= MAX_STRANGERS_SHOWN;
        for (id, heard) in quiet {
            if self.peers.get(&id).is_some() {
                self.push_peer(&id);
            } else if told {
                // Only ever heard, and no longer: the UIs see it offline (and a new
                // `peers` list leaves it out).
                let peer = super::view::heard_peer(&id, &heard, false);
                self.subs.broadcast(&Event::Peer { peer });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peer::{addrs, reach};

    /// What the session does by itself never keeps an idle stranger's session open: a
    /// Network page left open asks a dial-back every minute, addresses are announced when
    /// they change. A message does.
    #[test]
    fn housekeeping_records_are_not_traffic_and_messages_are() {
        let housekeeping = [
            Inner::Ping,
            Inner::Pong,
            Inner::Caps(vec!["reach".into()]),
            Inner::Addr(addrs::Addrs { addrs: Vec::new() }),
            Inner::ReachAsk(reach::Ask {
                nonce: [1; 16],
                ts: 0,
                addrs: Vec::new(),
            }),
            Inner::ReachAnswer(reach::Answer {
                nonce: [1; 16],
                ts: 0,
                results: Vec::new(),
            }),
        ];
        for r in &housekeeping {
            assert!(!is_traffic(r), "{r:?}");
        }
        let mess = Inner::Mess(crate::peer::inner::Mess {
            id: crate::peer::inner::MsgId([7; 16]),
            ts: 0,
            text: "hi".into(),
        });
        assert!(is_traffic(&mess));
    }
}
