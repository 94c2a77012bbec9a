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

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use crossbeam_channel::Sender;

use crate::api::{Event, HistoryPage, Message, Status, PAGE_BYTES};
use crate::identity::NodeId;
use crate::peer::conn::{ConnId, QUEUE_LEN};
use crate::peer::inner::{Inner, Mess, MsgId};
use crate::store::{self, Committed, Direction, Op, StoredMessage, SubmitError};

use super::peers::Queued;
use super::{ApiReply, State, SubId};

/// Longest message text in bytes (SPEC §5, §9).
pub const MAX_TEXT: usize = 65_536;
/// History page size when the UI gives none (SPEC §5).
pub const DEFAULT_PAGE: u32 = 50;
/// Outbox records queued for a peer at once: half its queue, so LIST, ACKN and new
/// messages still find room.
pub const OUTBOX_WINDOW: usize = QUEUE_LEN / 2;
/// How much room in the peer's queue makes a new send top up its outbox: a quarter of
/// a window, so the outbox is read in batches and not once per message.
const OUTBOX_REFILL: usize = OUTBOX_WINDOW / 4;
/// How often the state loop looks for room in the queues of peers whose outbox is
/// being re-sent: a window of 128 records leaves the queue in ~6 ms at 20,000 msg/s.
pub const RESEND_POLL: std::time::Duration = std::time::Duration::from_millis(2);
/// Capacity above which a mostly empty table of [`Durable`] is shrunk (below it the
/// memory is too small to matter).
const TRIM_ABOVE: usize = 4096;
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
/// A peer with records waiting that acknowledges nothing for this long is stalled.
pub const STALL_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

/// What to do once an op is durable.
#[derive(Debug)]
pub(super) enum After {
    Nothing,
    /// Our message is stored: tell the UIs (`pending`), answer the API, and put it on
    /// the wire if the connection it went out on (if any) is no longer the live one.
    Outgoing {
        sent_on: Option<ConnId>,
        reply: Option<Sender<ApiReply>>,
    },
    /// A received message is stored: acknowledge it.
    Incoming {
        peer: NodeId,
        id: MsgId,
    },
    /// Messages were marked read: send their READ.
    ReadMarked {
        peer: NodeId,
    },
}

struct Inflight {
    op: Op,
    after: After,
}

/// The store's handles and the ops on their way to disk.
pub(super) struct Durable {
    writer: store::Writer,
    pub reader: store::Reader,
    next_token: u64,
    inflight: HashMap<u64, Inflight>,
    /// The `InsertMessage` ops in `inflight`, by peer (hex) and `seq`: history pages and
    /// outbox top-ups take a range of them. Scanning all of `inflight` instead cost
    /// O(ops in flight) per sent message once a fast sender had its outbox in use
    /// (thousands of ops: 742 µs of CPU per message at a window of 1,000).
    unstored_msgs: HashMap<String, BTreeMap<i64, u64>>,
    /// Bytes of message text in the `InsertMessage` ops of `inflight`.
    unstored_bytes: usize,
    /// Ops waiting to be (re)submitted, in order: the writer's queue was full.
    retry: VecDeque<u64>,
    /// Ids of received messages not yet committed (a re-send is acknowledged later).
    /// Ids are kept as their 16 bytes in these tables, not as hex `String`s: no heap
    /// allocation per entry, so a table is one block of memory that shrinks as a whole
    /// (thousands of small strings freed by another thread fragmented the heap).
    incoming: HashSet<MsgId>,
    /// Outgoing messages still pending, or acknowledged before their own insert was
    /// committed, with their peer, status and `seq`. Everything else is looked up in the
    /// store, so this stays the size of the outbox.
    pub outgoing: HashMap<MsgId, (NodeId, Status, i64)>,
    /// Outgoing messages whose `InsertMessage` has not committed yet.
    unstored_out: HashSet<MsgId>,
    /// When the last disk error went to the UIs (one a minute is enough).
    last_error_event: Option<std::time::Instant>,
}

impl Durable {
    pub fn new(writer: store::Writer, reader: store::Reader) -> Durable {
        Durable {
            writer,
            reader,
            next_token: 1,
            inflight: HashMap::new(),
            unstored_msgs: HashMap::new(),
            unstored_bytes: 0,
            retry: VecDeque::new(),
            incoming: HashSet::new(),
            outgoing: HashMap::new(),
            unstored_out: HashSet::new(),
            last_error_event: None,
        }
    }

    /// Changes accepted and not yet committed.
    pub fn unstored(&self) -> usize {
        self.inflight.len()
    }

    /// Bytes of message text accepted and not yet committed.
    pub fn unstored_bytes(&self) -> usize {
        self.unstored_bytes
    }

    /// Queues `op`; `after` runs once it is committed.
    pub fn submit(&mut self, op: Op, after: After) {
        let token = self.next_token;
        self.next_token += 1;
        if let Op::InsertMessage(m) = &op {
            self.unstored_bytes += m.text.len();
            self.unstored_msgs
                .entry(m.peer.clone())
                .or_default()
                .insert(m.seq, token);
        }
        self.inflight.insert(
            token,
            Inflight {
                op: op.clone(),
                after,
            },
        );
        // Keep order: nothing overtakes ops already waiting for a retry.
        if !self.retry.is_empty() {
            self.retry.push_back(token);
            return;
        }
        self.try_submit(token, op);
    }

    fn try_submit(&mut self, token: u64, op: Op) -> bool {
        match self.writer.try_submit(token, op) {
            Ok(()) => true,
            Err(SubmitError::Full { .. }) => {
                self.retry.push_back(token);
                false
            }
            Err(SubmitError::Gone { op, .. }) => {
                log::error!("database writer stopped; {} not stored", op.kind());
                self.forget(token);
                false
            }
        }
    }

    /// Takes a committed (or abandoned) op out of the tables.
    fn forget(&mut self, token: u64) -> Option<Inflight> {
        let done = self.inflight.remove(&token)?;
        if let Op::InsertMessage(m) = &done.op {
            self.unstored_bytes = self.unstored_bytes.saturating_sub(m.text.len());
            if let Some(by_seq) = self.unstored_msgs.get_mut(&m.peer) {
                by_seq.remove(&m.seq);
                if by_seq.is_empty() {
                    self.unstored_msgs.remove(&m.peer);
                }
            }
        }
        Some(done)
    }

    /// Resubmits waiting ops, in order, until the queue is full again.
    pub fn resubmit(&mut self) {
        while let Some(&token) = self.retry.front() {
            let Some(op) = self.inflight.get(&token).map(|i| i.op.clone()) else {
                self.retry.pop_front();
                continue;
            };
            self.retry.pop_front();
            if !self.try_submit(token, op) {
                // try_submit put it at the back; move it to the front to keep order.
                if let Some(t) = self.retry.pop_back() {
                    self.retry.push_front(t);
                }
                break;
            }
        }
    }

    /// Gives back the memory of a backlog that has drained. Hash tables and deques keep
    /// their peak capacity when emptied, so one burst (a READ for 60,000 messages is
    /// 60,000 ops) would pin its table for good: `make soak` saw a 100 MB table of ops
    /// in flight holding a handful. Shrinks only when under 1/8 full, so a steady load
    /// never rehashes back and forth.
    fn trim(&mut self) {
        fn over(len: usize, cap: usize) -> Option<usize> {
            (cap > TRIM_ABOVE && len < cap / 8).then_some((len * 2).max(TRIM_ABOVE / 2))
        }
        if let Some(to) = over(self.inflight.len(), self.inflight.capacity()) {
            self.inflight.shrink_to(to);
        }
        if let Some(to) = over(self.retry.len(), self.retry.capacity()) {
            self.retry.shrink_to(to);
        }
        if let Some(to) = over(self.incoming.len(), self.incoming.capacity()) {
            self.incoming.shrink_to(to);
        }
        if let Some(to) = over(self.outgoing.len(), self.outgoing.capacity()) {
            self.outgoing.shrink_to(to);
        }
        if let Some(to) = over(self.unstored_out.len(), self.unstored_out.capacity()) {
            self.unstored_out.shrink_to(to);
        }
    }

    /// Notes that the uncommitted message `seq` to `peer` went out on `conn`, so that
    /// its commit does not put it on the wire a second time (`after_outgoing` sends
    /// what was not sent on the live connection). That second copy was hidden while
    /// receivers looked every id up before showing it; it cost a record, an insert and,
    /// now, a repeated `message` event on the receiver for each message that went out
    /// through the outbox before its own commit.
    fn mark_sent(&mut self, peer: &str, seq: i64, conn: Option<ConnId>) {
        let Some(token) = self.unstored_msgs.get(peer).and_then(|s| s.get(&seq)) else {
            return;
        };
        if let Some(Inflight {
            after: After::Outgoing { sent_on, .. },
            ..
        }) = self.inflight.get_mut(token)
        {
            *sent_on = conn;
        }
    }

    /// Messages in ops not yet committed, for `peer`, with `seq` in `seqs`, oldest
    /// first. Borrowed: callers clone only what they keep (the table can hold
    /// thousands of ops under load, and this runs on every outbox top-up).
    fn uncommitted(&self, peer: &str, seqs: std::ops::Range<i64>) -> Vec<&StoredMessage> {
        let Some(by_seq) = self.unstored_msgs.get(peer) else {
            return Vec::new();
        };
        by_seq
            .range(seqs)
            .filter_map(|(_, token)| match &self.inflight.get(token)?.op {
                Op::InsertMessage(m) => Some(m),
                _ => None,
            })
            .collect()
    }
}

fn rank(status: Status) -> u8 {
    match status {
        Status::Pending | Status::Received => 0,
        Status::Delivered => 1,
        Status::Read => 2,
    }
}

fn mess_of(m: &StoredMessage) -> Option<Inner> {
    let id: MsgId = m.id.parse().ok()?;
    Some(Inner::Mess(Mess {
        id,
        ts: u64::try_from(m.ts).unwrap_or(0),
        text: m.text.clone(),
    }))
}

impl State {
    fn api_message(&self, m: &StoredMessage) -> Message {
        m.to_api(&self.identity.id_hex())
    }

    /// `send` (UI) or `POST /api/v1/messages`: stores and sends a message.
    pub(super) fn send_message(
        &mut self,
        to: NodeId,
        text: String,
        reply: Option<Sender<ApiReply>>,
    ) -> Result<(), (u16, String)> {
        if text.is_empty() || text.len() > MAX_TEXT {
            let code = if text.is_empty() { 400 } else { 413 };
            return Err((code, format!("text must be 1..={MAX_TEXT} bytes of UTF-8")));
        }
        // Back-pressure: every accepted message is kept in memory until it is stored, so
        // while the disk is this far behind (stalled, locked, or slower than a flooding
        // client) new sends are refused rather than piled up without bound.
        let waiting = self.durable.unstored();
        let waiting_bytes = self.durable.unstored_bytes();
        if waiting >= MAX_UNSTORED || waiting_bytes >= MAX_UNSTORED_BYTES {
            return Err((
                503,
                format!(
                    "not sent: {waiting} changes ({} KiB of text) are waiting to be saved to disk; try again in a moment",
                    waiting_bytes / 1024
                ),
            ));
        }
        let mid = crate::rng::bytes::<16>()
            .map(MsgId)
            .map_err(|e| (500, e.to_string()))?;
        let msg = StoredMessage {
            seq: self.next_seq,
            id: mid.to_string(),
            peer: crate::hex::encode(&to),
            direction: Direction::Out,
            text,
            ts: self.clock.now_ms(),
            status: Status::Pending,
            read_sent: false,
        };
        self.next_seq += 1;
        self.durable
            .outgoing
            .insert(mid, (to, Status::Pending, msg.seq));
        self.durable.unstored_out.insert(mid);
        // SPEC §7: on the wire while our own commit runs; behind the outbox if that is
        // still being re-sent (continue_outbox picks it up in order). A burst from the UI
        // that already fills a window of the peer's queue waits in the outbox the same
        // way, so a peer that reads fine is never dropped for our own burst.
        let queue_full = self.peers.queued(&to).is_some_and(|q| q >= OUTBOX_WINDOW);
        if queue_full && !self.resending.contains_key(&to) {
            self.resending.insert(to, msg.seq - 1);
            self.last_progress
                .entry(to)
                .or_insert_with(std::time::Instant::now);
        }
        let queued = mess_of(&msg)
            .filter(|_| !self.resending.contains_key(&to))
            .map(|inner| self.peers.send(&to, inner, self.clock.now_ms()));
        let sent_on = match queued {
            Some(Queued::Sent) => self.peers.live_conn(&to),
            _ => None,
        };
        self.durable
            .submit(Op::InsertMessage(msg), After::Outgoing { sent_on, reply });
        // While the UI keeps sending, feed the outbox as the peer's queue drains rather
        // than only on its ACKNs: those come a commit later on the peer, so a sender
        // that always has a window in flight would otherwise be held to one window per
        // commit of the peer's disk.
        self.refill_outbox(to);
        Ok(())
    }

    /// Tops up `peer`'s queue from its outbox if it is being re-sent and a quarter of a
    /// window has drained.
    fn refill_outbox(&mut self, peer: NodeId) {
        let room = self
            .peers
            .queued(&peer)
            .map(|q| OUTBOX_WINDOW.saturating_sub(q));
        if self.resending.contains_key(&peer) && room.is_some_and(|r| r >= OUTBOX_REFILL) {
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
        let resending: Vec<NodeId> = self.resending.keys().copied().collect();
        for peer in resending {
            self.refill_outbox(peer);
        }
    }

    /// A `MESS` from `peer`.
    pub(super) fn on_mess(&mut self, peer: NodeId, mess: Mess) {
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
                super::peers::short(&peer)
            );
            self.drop_peer(peer);
            return;
        }
        let peer_hex = crate::hex::encode(&peer);
        // No lookup of the id in the store first: that cost a B-tree descent (and, after
        // every commit, a fresh read of its pages) per message, ~40 % of a receiver's
        // state thread under load. A message stored before is the rare case (the sender
        // missed our ACKN): the insert's own ON CONFLICT finds it, and
        // `after_duplicate` undoes the unread count and acknowledges it again. Until
        // then the UIs see it once more, which SPEC §7 allows (UIs deduplicate by id).
        let msg = StoredMessage {
            seq: self.next_seq,
            id: mid.to_string(),
            peer: peer_hex,
            direction: Direction::In,
            text: mess.text,
            ts: i64::try_from(mess.ts).unwrap_or(i64::MAX),
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
        }
        self.unread_changed.insert(peer);
        self.durable.incoming.insert(mid);
        self.durable
            .submit(Op::InsertMessage(msg), After::Incoming { peer, id: mid });
    }

    /// `ACKN` (delivered) or `READ` (read) from `peer` for our messages: one store op
    /// for the whole receipt.
    pub(super) fn on_receipt(&mut self, peer: NodeId, ids: Vec<MsgId>, status: Status) {
        let mut seqs = Vec::with_capacity(ids.len());
        for mid in ids {
            let current = match self.durable.outgoing.get(&mid) {
                Some(&known) => Some(known),
                None => match self.durable.reader.message(&mid.to_string()) {
                    Ok(Some(m)) if m.direction == Direction::Out => {
                        crate::hex::decode_array::<32>(&m.peer)
                            .ok()
                            .map(|p| (p, m.status, m.seq))
                    }
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
                status,
            });
        }
        if !seqs.is_empty() {
            self.durable
                .submit(Op::SetStatus { seqs, status }, After::Nothing);
        }
    }

    /// `read` from a UI: the user has seen the conversation.
    pub(super) fn mark_read(&mut self, peer: NodeId) {
        if let Some(c) = self.peers.get_mut(&peer) {
            c.unread = 0;
        }
        self.push_peer(&peer);
        self.durable.submit(
            Op::MarkRead {
                peer: crate::hex::encode(&peer),
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
        let peer_hex = crate::hex::encode(peer);
        // JSON is never shorter than the text in it, so this reads all that can fit.
        let (mut rows, cut) = self
            .durable
            .reader
            .history_within(&peer_hex, before, limit as u32, PAGE_BYTES)
            .map_err(|e| e.to_string())?;
        let bound = before.unwrap_or(i64::MAX);
        // A cut read ends at its oldest row: nothing older may join, or the page would
        // have a hole that paging on from its oldest message would skip.
        let floor = match rows.first() {
            Some(m) if cut => m.seq.min(bound),
            _ => i64::MIN,
        };
        let pending = self.durable.uncommitted(&peer_hex, floor..bound);
        let newest = pending.len().saturating_sub(limit);
        rows.extend(pending[newest..].iter().map(|&m| m.clone()));
        rows.sort_by_key(|m| m.seq);
        rows.dedup_by(|a, b| a.id == b.id);
        let skip = rows.len().saturating_sub(limit);
        let messages = rows[skip..].iter().map(|m| self.api_message(m)).collect();
        Ok(HistoryPage::fit(messages, PAGE_BYTES, cut))
    }

    /// A peer came online: re-send its pending messages (oldest first), then READs.
    /// A long outbox goes out a window at a time ([`State::continue_outbox`]).
    pub(super) fn flush_outbox(&mut self, peer: NodeId) {
        self.resending.insert(peer, 0);
        self.last_progress.insert(peer, std::time::Instant::now());
        self.continue_outbox(peer);
    }

    /// Puts the next part of `peer`'s outbox in its queue, up to [`OUTBOX_WINDOW`]
    /// records queued at once; called on each `ACKN` and each tick until the outbox is
    /// through, then sends the READs owed. Queuing it all at once would overflow a
    /// queue of [`QUEUE_LEN`] and disconnect the peer on every reconnect.
    pub(super) fn continue_outbox(&mut self, peer: NodeId) {
        let Some(&after) = self.resending.get(&peer) else {
            return;
        };
        let Some(queued) = self.peers.queued(&peer) else {
            self.resending.remove(&peer);
            return;
        };
        let room = OUTBOX_WINDOW.saturating_sub(queued);
        if room == 0 {
            return;
        }
        let peer_hex = crate::hex::encode(&peer);
        let limit = u32::try_from(room).unwrap_or(u32::MAX);
        let mut next = match self.durable.reader.outbox_after(&peer_hex, after, limit) {
            Ok(rows) => rows,
            Err(e) => {
                log::warn!("cannot read the outbox: {e}");
                Vec::new()
            }
        };
        // Commits are in submission order, so every uncommitted message is newer than
        // every committed one: only when the store has less than `room` is it needed.
        if next.len() < room {
            let pending = self.durable.uncommitted(&peer_hex, after + 1..i64::MAX);
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
                    self.resending.remove(&peer);
                    return;
                }
                // If its insert is still on the way, its commit must not send it again.
                self.durable.mark_sent(&peer_hex, m.seq, live);
            }
            self.resending.insert(peer, m.seq);
        }
        if last {
            self.resending.remove(&peer);
            self.send_unsent_reads(peer);
        }
    }

    /// Disconnects backlogged peers that acknowledged nothing for [`STALL_LIMIT`]
    /// (SPEC §7 / the 256-record rule: a peer that cannot drain its queue is dropped).
    pub(super) fn drop_stalled(&mut self, now: std::time::Instant) {
        self.last_progress
            .retain(|id, _| self.resending.contains_key(id) && self.peers.is_online(id));
        let stalled: Vec<NodeId> = self
            .last_progress
            .iter()
            .filter(|(_, since)| now.duration_since(**since) >= STALL_LIMIT)
            .map(|(id, _)| *id)
            .collect();
        for id in stalled {
            log::warn!(
                "peer {} acknowledged nothing for {STALL_LIMIT:?}; disconnecting",
                super::peers::short(&id)
            );
            self.drop_peer(id);
        }
    }

    fn send_unsent_reads(&mut self, peer: NodeId) {
        if !self.peers.is_online(&peer) {
            return;
        }
        let ids = match self.durable.reader.unsent_reads(&crate::hex::encode(&peer)) {
            Ok(ids) if !ids.is_empty() => ids,
            Ok(_) => return,
            Err(e) => {
                log::warn!("cannot read unsent read receipts: {e}");
                return;
            }
        };
        let parsed: Vec<MsgId> = ids.iter().filter_map(|i| i.parse().ok()).collect();
        for chunk in parsed.chunks(crate::peer::inner::MAX_IDS) {
            if self
                .peers
                .send(&peer, Inner::Read(chunk.to_vec()), self.clock.now_ms())
                != Queued::Sent
            {
                return;
            }
        }
        self.durable.submit(Op::SetReadSent { ids }, After::Nothing);
    }

    /// A batch reached the disk (or failed to).
    pub(super) fn on_committed(&mut self, done: Committed) {
        if let Err(e) = &done.result {
            // The writer keeps the batch and tries it again, ahead of everything queued
            // after it (store::writer); the ops stay in `inflight` until it commits.
            // Here the user is told, once a minute while it lasts.
            let now = std::time::Instant::now();
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
                _ => {}
            }
        }
        let now = self.clock.now_ms();
        for (peer, ids) in acks {
            self.peers.send(&peer, Inner::Ackn(ids), now);
        }
        self.durable.resubmit();
        self.durable.trim();
    }

    /// A received message turned out to be stored already (its insert changed
    /// nothing): take back the unread it was counted as, and say whether to acknowledge
    /// it again: only if the stored one is this peer's message to us (SPEC §7). An id
    /// of another peer's message, or of one of ours, gets no ACKN.
    fn after_duplicate(&mut self, peer: NodeId, id: MsgId) -> bool {
        if let Some(c) = self.peers.get_mut(&peer) {
            c.unread = c.unread.saturating_sub(1);
        }
        self.unread_changed.insert(peer);
        match self.durable.reader.message(&id.to_string()) {
            Ok(Some(known)) => {
                known.peer == crate::hex::encode(&peer) && known.direction == Direction::In
            }
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
        // An ACKN or READ may have come before our own commit finished. (Our own ids
        // are always well formed; a parse failure would only skip this bookkeeping.)
        if let Ok(mid) = m.id.parse::<MsgId>() {
            self.durable.unstored_out.remove(&mid);
            if let Some(&(_, status, _)) = self.durable.outgoing.get(&mid) {
                m.status = status;
            }
            if m.status != Status::Pending {
                self.durable.outgoing.remove(&mid);
            }
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
        let Ok(peer) = crate::hex::decode_array::<32>(&m.peer) else {
            return;
        };
        let live = self.peers.live_conn(&peer);
        let in_outbox = self.resending.contains_key(&peer);
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
                },
            ),
            Err(e) => self.subs.send(
                sub,
                &Event::error(format!("cannot read history: {e}"), Some("history".into())),
            ),
        }
    }
}
