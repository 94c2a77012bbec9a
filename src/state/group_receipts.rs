//! Delivery and read receipts in groups (issue 18, docs/PROTOCOL.md §12.6).
//!
//! A receipt is a pair of marks over one author's per-group seqs, sent by a member to
//! that author over the member's own session (`GRCP`): "of your messages here I hold
//! every one up to `delivered` and have read every one up to `read`". Marks only rise,
//! so a repeated or late receipt changes nothing, and a member that was offline sends
//! its marks again when the session with the author starts.
//!
//! ```text
//!   member                                             author
//!   message committed ─┐
//!   read mark moved  ──┼─▶ due (group, author) ─▶ end of turn: GRCP ──▶ marks rise?
//!   author's CAPS    ──┘                                                 │ yes
//!                                                  store GroupReceipt ◀──┤
//!                             group_receipt events (per message) to UIs ◀┘
//! ```
//!
//! The sender of a receipt is the authenticated peer of the session it came on: a
//! member can speak only for itself, never for another (receipts are not forwarded).

use crate::api::Event;
use crate::identity::NodeId;
use crate::peer::group::{GroupId, Receipt};
use crate::peer::inner::{Inner, MsgId};
use crate::rules::short_id as short;
use crate::store::Op;

use super::durable::After;
use super::groups::Phase;
use super::State;

/// Most `group_receipt` events one receipt raises per kind (the newest messages): a
/// member back after a long absence covers many messages at once, and a UI shows the
/// rest from `delivered`/`read` in the next history page.
pub const MAX_RECEIPT_EVENTS: u32 = 500;

impl State {
    /// A member's receipt for our messages in a group.
    pub(super) fn on_group_receipt(&mut self, from: NodeId, r: Receipt) {
        let own = self.own_id;
        let Some(g) = self.groups.map.get_mut(&r.group) else {
            self.groups.dropped.unknown_group += 1;
            return;
        };
        let Phase::Member(m) = &g.phase else {
            self.groups.dropped.unknown_group += 1;
            return;
        };
        if from == own || !m.chain.is_member(&from) {
            log::debug!(
                "group {}: receipt from non-member {}",
                r.group,
                short(&from)
            );
            self.groups.dropped.not_member += 1;
            return;
        }
        // Seqs we have given out (committed or on their way to the disk).
        let written = m.next_seq.saturating_sub(1);
        if r.delivered > written {
            log::debug!(
                "group {}: receipt from {} for our #{} (we wrote {written})",
                r.group,
                short(&from),
                r.delivered
            );
            self.groups.dropped.bad_receipt += 1;
            return;
        }
        let old = g.receipts.get(&from).copied().unwrap_or((0, 0));
        let new = (old.0.max(r.delivered).max(r.read), old.1.max(r.read));
        if new == old {
            return;
        }
        g.receipts.insert(from, new);
        self.durable.submit(
            Op::GroupReceipt {
                group: r.group,
                member: from,
                delivered: new.0,
                read: new.1,
            },
            After::Nothing,
        );
        for (kind, after, upto) in [("delivered", old.0, new.0), ("read", old.1, new.1)] {
            for id in self.own_ids(&r.group, after, upto) {
                self.subs.broadcast(&Event::GroupReceipt {
                    group: r.group.to_string(),
                    message: id.to_string(),
                    member: crate::hex::encode(&from),
                    kind: kind.into(),
                });
            }
        }
    }

    /// Ids of our messages in `group` with `after < seq ≤ upto`, the newest
    /// [`MAX_RECEIPT_EVENTS`], oldest first (committed or not).
    fn own_ids(&self, group: &GroupId, after: u64, upto: u64) -> Vec<MsgId> {
        if upto <= after {
            return Vec::new();
        }
        let own = self.own_id;
        let mut found = self
            .durable
            .reader
            .group_ids_by_seq(group, &own, after, upto, MAX_RECEIPT_EVENTS)
            .unwrap_or_else(|e| {
                log::warn!("group {group}: reading our message ids failed: {e}");
                Vec::new()
            });
        found.extend(self.durable.uncommitted_group_ids(group, &own, after, upto));
        found.sort();
        found.dedup_by_key(|(seq, _)| *seq);
        let skip = found.len().saturating_sub(MAX_RECEIPT_EVENTS as usize);
        found.into_iter().skip(skip).map(|(_, id)| id).collect()
    }

    /// Sends the receipts that came due this turn (to authors online that take groups)
    /// and recounts the groups whose unread count changed.
    pub(super) fn flush_group_receipts(&mut self) {
        let due = std::mem::take(&mut self.groups.due_receipts);
        let own = self.own_id;
        for (id, author) in due {
            let Ok(m) = self.member(&id) else {
                continue;
            };
            if author == own || !m.chain.is_member(&author) || !self.peers.takes_groups(&author) {
                continue;
            }
            let delivered = m.held_upto(&author);
            if delivered == 0 {
                continue;
            }
            let read = match self.groups.map.get(&id).and_then(|g| g.read) {
                Some(mark) => self
                    .durable
                    .reader
                    .group_seq_upto(&id, &author, mark)
                    .unwrap_or(0),
                None => 0,
            };
            // Read implies delivered: a message read but with an earlier one missing
            // counts as read once the gap is filled.
            let receipt = Receipt {
                group: id,
                delivered,
                read: read.min(delivered),
            };
            self.send_group_inner(&author, Inner::GroupReceipt(receipt));
        }
        self.flush_dirty_groups();
    }
}
