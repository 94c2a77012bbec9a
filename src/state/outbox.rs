//! Outboxes: a peer's pending messages go out in order, a window at a time, and a peer
//! that takes nothing is dropped.
//!
//! When a contact comes online (or a burst from the UI fills a window of its queue) its
//! outbox switches to `Resending` (`peers::Outbox`): messages are read from the store
//! (and from the ops not yet committed) in `seq` order and queued up to
//! [`OUTBOX_WINDOW`] at a time, topped up as the peer's writer drains the queue, on
//! each `ACKN`, and every [`RESEND_POLL`] while any outbox is being re-sent. Queuing a
//! long outbox at once would overflow a queue of `PEER_QUEUE_LEN` and disconnect the
//! peer on every reconnect. Once the last part is queued the outbox is `Idle` again and
//! the `READ`s owed go out. A resending peer that acknowledges nothing for
//! [`STALL_LIMIT`] is disconnected; its messages stay pending.

use std::time::{Duration, Instant};

use crate::bus::PEER_QUEUE_LEN;
use crate::identity::NodeId;
use crate::rules::short_id;
use crate::store::Direction;

use super::messages::mess_of;
use super::peers::{Outbox, Queued};
use super::State;

/// Outbox records queued for a peer at once: half its queue, so LIST, ACKN and new
/// messages still find room.
pub const OUTBOX_WINDOW: usize = PEER_QUEUE_LEN / 2;
/// How much room in the peer's queue makes a new send top up its outbox: a quarter of
/// a window, so the outbox is read in batches and not once per message.
const OUTBOX_REFILL: usize = OUTBOX_WINDOW / 4;
/// How often the state loop looks for room in the queues of peers whose outbox is
/// being re-sent: a window of 128 records leaves the queue in ~6 ms at 20,000 msg/s.
pub const RESEND_POLL: Duration = Duration::from_millis(2);
/// A peer with records waiting that acknowledges nothing for this long is stalled.
pub const STALL_LIMIT: Duration = Duration::from_secs(10);

impl State {
    /// A peer came online: re-send its pending messages (oldest first), then READs.
    pub(super) fn flush_outbox(&mut self, peer: NodeId, now: Instant) {
        self.peers.start_resending(&peer, 0, now);
        self.continue_outbox(peer);
    }

    /// Puts the next part of `peer`'s outbox in its queue, up to [`OUTBOX_WINDOW`]
    /// records queued at once; called until the outbox is through, then sends the
    /// READs owed.
    pub(super) fn continue_outbox(&mut self, peer: NodeId) {
        let Some(Some(Outbox::Resending { after, .. })) = self.peers.get(&peer).map(|c| c.outbox())
        else {
            return;
        };
        let Some(queued) = self.peers.queued(&peer) else {
            return;
        };
        let room = OUTBOX_WINDOW.saturating_sub(queued);
        if room == 0 {
            return;
        }
        let limit = u32::try_from(room).unwrap_or(u32::MAX);
        let mut next = match self.durable.reader.outbox_after(&peer, after, limit) {
            Ok(rows) => rows,
            Err(e) => {
                log::warn!("cannot read the outbox: {e}");
                Vec::new()
            }
        };
        // Commits are in submission order, so every uncommitted message is newer than
        // every committed one: only when the store has less than `room` is it needed.
        if next.len() < room {
            let pending = self.durable.uncommitted(&peer, after + 1..i64::MAX);
            next.extend(
                pending
                    .into_iter()
                    .filter(|m| m.direction == Direction::Out)
                    .take(room)
                    .cloned(),
            );
        }
        next.sort_by_key(|m| m.seq);
        next.dedup_by(|a, b| a.id == b.id);
        // Fewer than a window left, counting the uncommitted ones: this is the last part.
        let last = next.len() < room;
        next.truncate(room);
        let now = self.clock.now_ms();
        let live = self.peers.live_conn(&peer);
        for m in &next {
            if let Some(inner) = mess_of(m) {
                if self.peers.send(&peer, inner, now) != Queued::Sent {
                    return; // dropped (queue full) or gone: it is offline now
                }
                // If its insert is still on the way, its commit must not send it again.
                self.durable.mark_sent(&peer, m.seq, live);
            }
            self.peers.resent_up_to(&peer, m.seq);
        }
        if last {
            self.peers.outbox_done(&peer);
            self.send_unsent_reads(peer);
        }
    }

    /// Tops up `peer`'s queue from its outbox if it is being re-sent and a quarter of a
    /// window has drained.
    pub(super) fn refill_outbox(&mut self, peer: NodeId) {
        let room = self
            .peers
            .queued(&peer)
            .map(|q| OUTBOX_WINDOW.saturating_sub(q));
        let resending = matches!(
            self.peers.get(&peer).and_then(|c| c.outbox()),
            Some(Outbox::Resending { .. })
        );
        if resending && room.is_some_and(|r| r >= OUTBOX_REFILL) {
            self.continue_outbox(peer);
        }
    }

    /// [`State::refill_outbox`] for every outbox being re-sent. The state loop calls it
    /// every [`RESEND_POLL`] while there are any: the peer's writer drains its queue
    /// without telling us, and waiting for the next `ACKN` (a commit later on the peer)
    /// or UI send held a sender whose UI waits for the outbox to one window (128
    /// messages) per commit of the peer's disk: 1,600–9,000 msg/s at a window of 1,000
    /// in flight, depending on how long the peer's fsyncs took.
    pub(super) fn refill_outboxes(&mut self) {
        for peer in self.peers.resending() {
            self.refill_outbox(peer);
        }
    }

    /// Disconnects resending peers that acknowledged nothing for [`STALL_LIMIT`] before
    /// `now` (a peer that cannot drain its queue is dropped; its messages stay pending).
    pub(super) fn drop_stalled(&mut self, now: Instant) {
        for id in self.peers.stalled(now, STALL_LIMIT) {
            log::warn!(
                "peer {} acknowledged nothing for {STALL_LIMIT:?}; disconnecting",
                short_id(&id)
            );
            self.drop_peer(id, "stalled", now);
        }
    }
}
