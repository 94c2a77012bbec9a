//! Messages through the state thread, following SPEC §7's durability rule exactly.
//!
//! ```text
//!  sender:   send ──▶ MESS on the wire ──────────────────────────▶ (peer's screen)
//!              └────▶ InsertMessage ──▶ writer ──COMMIT──▶ `message` pending to UIs
//!  receiver: MESS ──▶ `message` to UIs at once (no disk on this path)
//!              └────▶ InsertMessage ──▶ writer ──COMMIT──▶ ACKN to the sender
//!  sender:   ACKN ──▶ `status` delivered        READ ──▶ `status` read
//! ```
//!
//! Every store op is submitted with a token and kept (with what to do once it is
//! durable) until its `Committed` arrives; a failed commit is retried by the writer, in
//! order, so a full, locked or read-only disk delays durability but loses nothing. The state thread
//! never waits for the disk: `try_submit` only, and completions arrive on a channel.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use crossbeam_channel::Sender;

use crate::api::{Event, HistoryPage, Message, PAGE_BYTES};
use crate::bus::ConnId;
use crate::identity::NodeId;
use crate::peer::inner::{Inner, Mess, MsgId};
use crate::rules::short_id;
use crate::store::Status;
use crate::store::{self, Committed, Direction, Op, StoredMessage};

use super::durable::{After, Inflight};
use super::outbox::OUTBOX_WINDOW;
use super::peers::{Outbox, Queued, Reads};
use super::{ApiReply, State, SubId};

use crate::bus::Refusal;
use crate::rules::MAX_TEXT_LEN;

/// Why `send` (UI or API) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Empty text: nothing to send.
    #[error("text must be 1..={MAX_TEXT_LEN} bytes of UTF-8")]
    Empty,
    /// Text over [`MAX_TEXT_LEN`] bytes.
    #[error("text must be 1..={MAX_TEXT_LEN} bytes of UTF-8 (this one has {0})")]
    TooLong(usize),
    /// The disk is far behind (back-pressure); the caller may retry in a moment.
    #[error("not sent: {changes} changes ({kib} KiB of text) are waiting to be saved to disk; try again in a moment")]
    Busy {
        /// Store ops waiting.
        changes: usize,
        /// Text waiting, in KiB.
        kib: usize,
    },
    /// No message id could be drawn from the OS's random source.
    #[error("no random message id: {0}")]
    Random(String),
}

impl From<SendError> for Refusal {
    fn from(e: SendError) -> Refusal {
        let text = e.to_string();
        match e {
            SendError::Empty => Refusal::Invalid(text),
            SendError::TooLong(_) => Refusal::TooLong(text),
            SendError::Busy { .. } => Refusal::Busy(text),
            SendError::Random(_) => Refusal::Store(text),
        }
    }
}

/// History page size when the UI gives none (SPEC §5).
pub const DEFAULT_PAGE: u32 = 50;
/// Changes waiting for the disk above which `send` is refused (503 / an `error`): four
/// full batches, a few MiB of memory, and far more than a UI keeps in flight.
pub const MAX_UNSTORED: usize = 4 * store::MAX_BATCH;
/// Message text waiting for the disk above which `send` is refused too: the count
/// alone would let 16,384 texts of 64 KiB (1 GiB) wait on a disk that stalled.
pub const MAX_UNSTORED_BYTES: usize = 32 << 20;
/// Changes and text waiting for the disk above which a peer's `MESS` is not taken: the
/// peer is disconnected instead and re-sends when it is connected again (SPEC §7), so a
/// peer cannot fill our memory while our disk is stalled. Twice the `send` limits, so
/// that our own UI is refused first and a peer only when the disk is truly stuck.
pub const MAX_UNSTORED_INCOMING: usize = 2 * MAX_UNSTORED;
/// The text counterpart of [`MAX_UNSTORED_INCOMING`] (64 MiB).
pub const MAX_UNSTORED_INCOMING_BYTES: usize = 2 * MAX_UNSTORED_BYTES;
fn rank(status: Status) -> u8 {
    match status {
        Status::Pending | Status::Received => 0,
        Status::Delivered => 1,
        Status::Read => 2,
    }
}

pub(super) fn mess_of(m: &StoredMessage) -> Option<Inner> {
    Some(Inner::Mess(Mess {
        id: m.id,
        ts: u64::try_from(m.ts).unwrap_or(0),
        text: m.text.clone(),
    }))
}

impl State {
    fn api_message(&self, m: &StoredMessage) -> Message {
        super::view::message(m, &self.own_id)
    }

    /// `send` (UI) or `POST /api/v1/messages`: stores and sends a message.
    pub(super) fn send_message(
        &mut self,
        to: NodeId,
        text: String,
        reply: Option<Sender<ApiReply>>,
        now: Instant,
    ) -> Result<(), SendError> {
        match text.len() {
            0 => return Err(SendError::Empty),
            len if len > MAX_TEXT_LEN => return Err(SendError::TooLong(len)),
            _ => {}
        }
        // Back-pressure: every accepted message is kept in memory until it is stored, so
        // while the disk is this far behind (stalled, locked, or slower than a flooding
        // client) new sends are refused rather than piled up without bound.
        let waiting = self.durable.unstored();
        let waiting_bytes = self.durable.unstored_bytes();
        if waiting >= MAX_UNSTORED || waiting_bytes >= MAX_UNSTORED_BYTES {
            return Err(SendError::Busy {
                changes: waiting,
                kib: waiting_bytes / 1024,
            });
        }
        let mid = crate::rng::bytes::<16>()
            .map(MsgId)
            .map_err(|e| SendError::Random(e.to_string()))?;
        // A message makes a stranger a contact, stored before the message that needs it.
        if self.peers.promote(&to, "a message went to it") {
            self.save_contact(&to);
        }
        let msg = StoredMessage {
            seq: self.next_seq,
            id: mid,
            peer: to,
            direction: Direction::Out,
            text,
            ts: self.clock.now_ms(),
            status: Status::Pending,
            read_sent: false,
        };
        self.next_seq += 1;
        if let Some(c) = self.peers.get_mut(&to) {
            c.messaged = true;
        }
        self.durable
            .outgoing
            .insert(mid, (to, Status::Pending, msg.seq));
        self.durable.unstored_out.insert(mid);
        // SPEC §7: on the wire while our own commit runs; behind the outbox if that is
        // still being re-sent (continue_outbox picks it up in order). A burst from the UI
        // that already fills a window of the peer's queue waits in the outbox the same
        // way, so a peer that reads fine is never dropped for our own burst.
        let queue_full = self.peers.queued(&to).is_some_and(|q| q >= OUTBOX_WINDOW);
        if queue_full {
            self.peers.start_resending(&to, msg.seq - 1, now);
        }
        let resending = matches!(
            self.peers.get(&to).and_then(|c| c.outbox()),
            Some(Outbox::Resending { .. })
        );
        let queued = mess_of(&msg)
            .filter(|_| !resending)
            .map(|inner| self.peers.send(&to, inner, self.clock.now_ms()));
        let sent_on = match queued {
            Some(Queued::Sent) => self.peers.live_conn(&to),
            _ => None,
        };
        self.durable
            .submit(Op::InsertMessage(msg), After::Outgoing { sent_on, reply });
        // No session (a peer only nearby, or a contact between redials): open one now
        // rather than at the next tick; the message waits in the outbox meanwhile.
        if !self.peers.is_online(&to) {
            self.open_session(&to, now);
        }
        // While the UI keeps sending, feed the outbox as the peer's queue drains rather
        // than only on its ACKNs: those come a commit later on the peer, so a sender
        // that always has a window in flight would otherwise be held to one window per
        // commit of the peer's disk.
        self.refill_outbox(to);
        Ok(())
    }

    /// A `MESS` from `peer`.
    pub(super) fn on_mess(&mut self, peer: NodeId, mess: Mess, now: Instant) {
        let mid = mess.id;
        if self.durable.incoming.contains(&mid) {
            return; // its commit will acknowledge it
        }
        let waiting = self.durable.unstored();
        let waiting_bytes = self.durable.unstored_bytes();
        if waiting >= MAX_UNSTORED_INCOMING || waiting_bytes >= MAX_UNSTORED_INCOMING_BYTES {
            log::warn!(
                "our disk is far behind ({waiting} changes, {} KiB of text waiting); disconnecting peer {} (its messages stay pending on its side until it is back)",
                waiting_bytes / 1024,
                short_id(&peer)
            );
            self.drop_peer(peer, "our disk is far behind", now);
            return;
        }
        // No lookup of the id in the store first: that cost a B-tree descent (and, after
        // every commit, a fresh read of its pages) per message, ~40 % of a receiver's
        // state thread under load. A message stored before is the rare case (the sender
        // missed our ACKN): the insert's own ON CONFLICT finds it, and
        // `after_duplicate` undoes the unread count and acknowledges it again. Until
        // then the UIs see it once more, which SPEC §7 allows (UIs deduplicate by id).
        // A message makes a stranger a contact, stored before the message that needs it.
        if self.peers.promote(&peer, "a message came from it") {
            self.save_contact(&peer);
        }
        let msg = StoredMessage {
            seq: self.next_seq,
            id: mid,
            peer,
            direction: Direction::In,
            text: mess.text,
            // The sender's time, kept near ours (docs/PROTOCOL.md §6): ordering is by
            // `seq`, and a `ts` of 0 or 2^63 − 1 must not pin the conversation.
            ts: crate::rules::clamp_peer_ts(mess.ts, self.clock.now_ms()),
            status: Status::Received,
            read_sent: false,
        };
        self.next_seq += 1;
        // SPEC §7: on the screen as soon as it is authenticated; no commit before this.
        let event = Event::Message {
            message: self.api_message(&msg),
        };
        self.subs.broadcast(&event);
        if let Some(c) = self.peers.get_mut(&peer) {
            c.unread += 1;
            c.messaged = true;
        }
        self.peers.mark_changed(peer);
        self.durable.incoming.insert(mid);
        self.durable
            .submit(Op::InsertMessage(msg), After::Incoming { peer, id: mid });
    }

    /// `ACKN` (delivered) or `READ` (read) from `peer` for our messages: one store op
    /// for the whole receipt.
    pub(super) fn on_receipt(&mut self, peer: NodeId, ids: Vec<MsgId>, status: Status) {
        let mut seqs = Vec::with_capacity(ids.len());
        let all = ids.clone();
        for mid in ids {
            let current = match self.durable.outgoing.get(&mid) {
                Some(&known) => Some(known),
                None => match self.durable.reader.message(&mid) {
                    Ok(Some(m)) if m.direction == Direction::Out => Some((m.peer, m.status, m.seq)),
                    _ => None,
                },
            };
            // A peer can only acknowledge what was sent to it.
            let Some((owner, old, seq)) = current.filter(|(p, _, _)| *p == peer) else {
                continue;
            };
            if rank(status) <= rank(old) {
                continue;
            }
            if self.durable.unstored_out.contains(&mid) {
                // Its insert is still on the way: remember the news for after_outgoing
                // (the update below is queued behind that insert, so it finds the row).
                self.durable.outgoing.insert(mid, (owner, status, seq));
            } else {
                self.durable.outgoing.remove(&mid);
            }
            seqs.push(seq);
            self.subs.broadcast(&Event::Status {
                id: mid.to_string(),
                status: super::view::status(status),
            });
        }
        // A peer that confirms READs gets a RACK once they are stored. It names every
        // id of the READ, known or not, already read or not: an id we can never store
        // must not be re-sent forever. Even with nothing to change the (empty) op goes
        // through the store, so the RACK also waits for an earlier READ's op in flight.
        let confirms = status == Status::Read
            && matches!(self.peers.reads(&peer), Some(Reads::Confirmed { .. }));
        if confirms {
            let after = After::ReadStored { peer, ids: all };
            self.durable.submit(Op::SetStatus { seqs, status }, after);
        } else if !seqs.is_empty() {
            self.durable
                .submit(Op::SetStatus { seqs, status }, After::Nothing);
        }
    }

    /// `RACK` from a peer: our READs for these messages are stored there, so they are
    /// not sent again.
    pub(super) fn on_read_stored(&mut self, ids: Vec<MsgId>) {
        self.durable.submit(Op::SetReadSent { ids }, After::Nothing);
    }

    /// `read` from a UI: the user has seen the conversation.
    pub(super) fn mark_read(&mut self, peer: NodeId) {
        if let Some(c) = self.peers.get_mut(&peer) {
            c.unread = 0;
        }
        self.push_peer(&peer);
        self.durable.submit(
            Op::MarkRead {
                peer,
                up_to_seq: self.next_seq - 1,
            },
            After::ReadMarked { peer },
        );
    }

    /// A history page: committed rows plus any still on their way to disk, at most
    /// about [`PAGE_BYTES`] of JSON (issue 16: 500 long texts were ~190 MB).
    pub(super) fn history(
        &self,
        peer: &NodeId,
        before: Option<i64>,
        limit: Option<u32>,
    ) -> Result<HistoryPage, String> {
        let limit = limit.unwrap_or(DEFAULT_PAGE).clamp(1, store::MAX_PAGE) as usize;
        // JSON is never shorter than the text in it, so this reads all that can fit.
        let (mut rows, cut) = self
            .durable
            .reader
            .history_within(peer, before, limit as u32, PAGE_BYTES)
            .map_err(|e| e.to_string())?;
        let bound = before.unwrap_or(i64::MAX);
        // A cut read ends at its oldest row: nothing older may join, or the page would
        // have a hole that paging on from its oldest message would skip.
        let floor = match rows.first() {
            Some(m) if cut => m.seq.min(bound),
            _ => i64::MIN,
        };
        let pending = self.durable.uncommitted(peer, floor..bound);
        let newest = pending.len().saturating_sub(limit);
        rows.extend(pending[newest..].iter().map(|&m| m.clone()));
        rows.sort_by_key(|m| m.seq);
        rows.dedup_by(|a, b| a.id == b.id);
        let skip = rows.len().saturating_sub(limit);
        let messages = rows[skip..].iter().map(|m| self.api_message(m)).collect();
        let mut page = HistoryPage::fit(messages, PAGE_BYTES, cut);
        // The page's files: from its oldest message on, or from the start when it
        // holds the conversation's first message (a short page that nothing cut).
        let first = page.messages.len() < limit && !page.truncated;
        let from = match page.messages.iter().map(|m| m.ts).min() {
            Some(ts) if !first => ts,
            _ => i64::MIN,
        };
        page.files = self.page_files(peer, from, before)?;
        Ok(page)
    }

    /// Sends `peer` the READs it does not have yet, as its session confirms them
    /// ([`Reads`]): not before its `CAPS` (or [`super::peering::CAPS_WAIT`]); to a peer
    /// that confirms, each READ once per session and unsent in the store until its
    /// `RACK`; to one that does not (older nodes), marked sent once queued.
    pub(super) fn send_unsent_reads(&mut self, peer: NodeId) {
        let sent_up_to = match self.peers.reads(&peer) {
            None | Some(Reads::AwaitingCaps { .. }) => return,
            Some(Reads::Unconfirmed) => None,
            Some(Reads::Confirmed { sent_up_to }) => Some(sent_up_to),
        };
        let unsent = match self.durable.reader.unsent_reads(&peer) {
            Ok(rows) => rows,
            Err(e) => {
                log::warn!("cannot read unsent read receipts: {e}");
                return;
            }
        };
        let unsent: Vec<(i64, MsgId)> = unsent
            .into_iter()
            .filter(|(seq, _)| sent_up_to.is_none_or(|up_to| *seq > up_to))
            .collect();
        let Some(&(newest, _)) = unsent.last() else {
            return;
        };
        let parsed: Vec<MsgId> = unsent.iter().map(|(_, id)| *id).collect();
        for chunk in parsed.chunks(crate::peer::inner::MAX_IDS) {
            if self
                .peers
                .send(&peer, Inner::Read(chunk.to_vec()), self.clock.now_ms())
                != Queued::Sent
            {
                return;
            }
        }
        match sent_up_to {
            Some(_) => self
                .peers
                .set_reads(&peer, Reads::Confirmed { sent_up_to: newest }),
            None => {
                let ids = unsent.into_iter().map(|(_, id)| id).collect();
                self.durable.submit(Op::SetReadSent { ids }, After::Nothing);
            }
        }
    }

    /// A batch reached the disk (or failed to).
    pub(super) fn on_committed(&mut self, done: Committed, now: Instant) {
        if let Err(e) = &done.result {
            // The writer keeps the batch and tries it again, ahead of everything queued
            // after it (store::writer); the ops stay in `inflight` until it commits.
            // Here the user is told, once a minute while it lasts.
            let quiet = self
                .durable
                .last_error_event
                .is_none_or(|t| now.duration_since(t).as_secs() >= 60);
            if quiet {
                self.durable.last_error_event = Some(now);
                log::error!("cannot save to disk: {e}; will retry");
                self.subs.broadcast(&Event::error(
                    format!("cannot save to disk: {e}. Keep purr running: messages are kept in memory and saved as soon as the disk works again"),
                    None,
                ));
            }
            return;
        }
        let rejected: HashSet<u64> = done.rejected.iter().map(|r| r.token).collect();
        let duplicates: HashSet<u64> = done.duplicates.iter().copied().collect();
        for r in &done.rejected {
            log::warn!("the database refused a change: {}", r.why);
        }
        let mut acks: HashMap<NodeId, Vec<MsgId>> = HashMap::new();
        let mut racks: HashMap<NodeId, Vec<MsgId>> = HashMap::new();
        for token in done.tokens {
            let Some(Inflight { op, after }) = self.durable.forget(token) else {
                continue;
            };
            if rejected.contains(&token) {
                continue;
            }
            match (after, op) {
                (After::Outgoing { sent_on, reply }, Op::InsertMessage(mut m)) => {
                    self.after_outgoing(&mut m, sent_on, reply)
                }
                (After::Incoming { peer, id }, _) => {
                    self.durable.incoming.remove(&id);
                    if duplicates.contains(&token) && !self.after_duplicate(peer, id) {
                        continue;
                    }
                    acks.entry(peer).or_default().push(id);
                }
                (After::ReadMarked { peer }, _) => self.send_unsent_reads(peer),
                (After::ReadStored { peer, ids }, _) => {
                    racks.entry(peer).or_default().extend(ids);
                }
                (After::OfferStored { id, reply }, _) => self.after_offer_stored(id, reply),
                (After::HeldStored { id, ranges }, _) => self.after_held_stored(id, ranges),
                (After::ReceivedStored { leftovers }, _) => {
                    for path in leftovers {
                        crate::files::remove_in_background(path, "a finished transfer's");
                    }
                }
                (After::GroupMsgStored(commit), op) => {
                    let msg = match op {
                        Op::InsertGroupMsg(m) if !duplicates.contains(&token) => Some(m),
                        _ => None,
                    };
                    self.group_msg_stored(commit, msg, now)
                }
                _ => {}
            }
        }
        let now = self.clock.now_ms();
        for (peer, ids) in acks {
            self.peers.send(&peer, Inner::Ackn(ids), now);
        }
        for (peer, ids) in racks {
            for chunk in ids.chunks(crate::peer::inner::MAX_IDS) {
                self.peers.send(&peer, Inner::Rack(chunk.to_vec()), now);
            }
        }
        self.durable.resubmit();
        self.durable.trim();
    }

    /// A received message turned out to be stored already (its insert changed
    /// nothing): take back the unread it was counted as, and say whether to acknowledge
    /// it again. A message id is unique on a node (docs/PROTOCOL.md §6, "Message
    /// identity"): the first message stored with it keeps it. So the repeat is
    /// acknowledged whoever holds the id — a sender re-sends a message until its `ACKN`,
    /// and one whose id collides with another conversation's (or with one of ours)
    /// would otherwise be re-sent on every reconnect for ever (issue 16, point 8) — but
    /// it is never stored under this peer; a collision is logged.
    fn after_duplicate(&mut self, peer: NodeId, id: MsgId) -> bool {
        if let Some(c) = self.peers.get_mut(&peer) {
            c.unread = c.unread.saturating_sub(1);
        }
        self.peers.mark_changed(peer);
        match self.durable.reader.message(&id) {
            Ok(Some(known)) if known.peer == peer && known.direction == Direction::In => true,
            Ok(Some(known)) => {
                let whose = match known.direction {
                    Direction::In => format!("a message from {}", short_id(&known.peer)),
                    Direction::Out => format!("our message to {}", short_id(&known.peer)),
                };
                log::warn!(
                    "peer {} sent message {id}, an id that is already {whose}: acknowledged so that it is not re-sent, not stored",
                    short_id(&peer)
                );
                true
            }
            // Not stored, yet the insert found the id: the store changed under us. The
            // next re-send will be inserted like a new message.
            Ok(None) => false,
            Err(e) => {
                log::warn!("cannot look up message {id}: {e}");
                false
            }
        }
    }

    fn after_outgoing(
        &mut self,
        m: &mut StoredMessage,
        sent_on: Option<ConnId>,
        reply: Option<Sender<ApiReply>>,
    ) {
        // An ACKN or READ may have come before our own commit finished.
        let mid = m.id;
        self.durable.unstored_out.remove(&mid);
        if let Some(&(_, status, _)) = self.durable.outgoing.get(&mid) {
            m.status = status;
        }
        if m.status != Status::Pending {
            self.durable.outgoing.remove(&mid);
        }
        let message = self.api_message(m);
        self.subs.broadcast(&Event::Message {
            message: message.clone(),
        });
        if let Some(reply) = reply {
            let _ = reply.try_send(ApiReply::Sent(message));
        }
        // Sent on a connection that has since been replaced (or not sent at all) and the
        // peer is online now: send it on the live one.
        let peer = m.peer;
        let live = self.peers.live_conn(&peer);
        let in_outbox = matches!(
            self.peers.get(&peer).and_then(|c| c.outbox()),
            Some(Outbox::Resending { .. })
        );
        if m.status == Status::Pending && live.is_some() && live != sent_on && !in_outbox {
            if let Some(inner) = mess_of(m) {
                self.peers.send(&peer, inner, self.clock.now_ms());
            }
        }
    }

    /// Answers a UI's `history` command.
    pub(super) fn ui_history(
        &mut self,
        sub: SubId,
        peer: NodeId,
        before: Option<i64>,
        limit: Option<u32>,
    ) {
        match self.history(&peer, before, limit) {
            Ok(page) => self.subs.send(
                sub,
                &Event::History {
                    peer: crate::hex::encode(&peer),
                    messages: page.messages,
                    truncated: page.truncated,
                    files: page.files,
                },
            ),
            Err(e) => self.subs.send(
                sub,
                &Event::error(format!("cannot read history: {e}"), Some("history".into())),
            ),
        }
    }
}
