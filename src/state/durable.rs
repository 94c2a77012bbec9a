//! The durable-ops ledger: every change on its way to the store, with what to do once
//! it is committed.
//!
//! The state thread never waits for the disk. It hands each op to the store writer with
//! `try_submit` and keeps it here, under a token, until the writer's `Committed` names
//! that token; only then does what depends on durability happen ([`After`]: a sender's
//! `pending`, a receiver's `ACKN`, the `READ` for what the user read). A failed commit
//! is retried by the writer, in order, so a full, locked or read-only disk delays
//! durability but loses nothing. What is kept here is the node's only
//! unbounded-by-design memory; the back-pressure limits in `messages` bound it.
//!
//! ```text
//!   submit(op, after) ──try_submit──▶ writer queue ──COMMIT──▶ Committed{tokens}
//!        │ queue full                                              │
//!        ▼                                                         ▼
//!      retry (in order, on each tick and commit)        forget(token) → (op, after)
//! ```

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use crossbeam_channel::Sender;

use crate::bus::{ApiReply, ConnId};
use crate::identity::NodeId;
use crate::peer::inner::MsgId;
use crate::store::{self, Op, Status, StoredMessage, SubmitError};

/// Capacity above which a mostly empty table of [`Durable`] is shrunk (below it the
/// memory is too small to matter).
const TRIM_ABOVE: usize = 4096;
/// What to do once an op is durable.
#[derive(Debug)]
pub enum After {
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
    /// A peer's READ is stored: confirm it with a `RACK` naming these ids.
    ReadStored {
        peer: NodeId,
        ids: Vec<MsgId>,
    },
    /// Our file offer is stored: answer the API, send it.
    OfferStored {
        id: MsgId,
        reply: Sender<ApiReply>,
    },
    /// Chunk ranges fdatasync'd and now stored: they count as held.
    HeldStored {
        id: MsgId,
        ranges: Vec<(u64, u64)>,
    },
    /// A group message is stored: it counts as held (and in our `GSYN`); `from` is the
    /// member it came from (none for ours), asked for a sync if a gap is left.
    GroupMsgStored(GroupCommit),
    /// A removed member's late messages are deleted from a group: its unread count is
    /// recounted (what was counted may be gone).
    GroupPurged(crate::peer::group::GroupId),
    /// A received file is stored as done: its `.part` name and chunk hashes can go (a
    /// kill before this commit finds them and completes again, to the same file).
    ReceivedStored {
        leftovers: Vec<std::path::PathBuf>,
    },
}

/// Which group message a commit stored, and who waits for it.
#[derive(Debug)]
pub struct GroupCommit {
    pub group: crate::peer::group::GroupId,
    pub author: NodeId,
    pub seq: u64,
    /// The member it came from (none for ours).
    pub from: Option<NodeId>,
    /// `POST /api/v1/groups/<id>/messages` waiting for the commit (ours only).
    pub reply: Option<Sender<ApiReply>>,
}

pub struct Inflight {
    pub op: Op,
    pub after: After,
}

/// The store's handles and the ops on their way to disk.
pub struct Durable {
    writer: store::Writer,
    pub reader: store::Reader,
    next_token: u64,
    inflight: HashMap<u64, Inflight>,
    /// The `InsertMessage` ops in `inflight`, by peer (hex) and `seq`: history pages and
    /// outbox top-ups take a range of them. Scanning all of `inflight` instead cost
    /// O(ops in flight) per sent message once a fast sender had its outbox in use
    /// (thousands of ops: 742 µs of CPU per message at a window of 1,000).
    unstored_msgs: HashMap<NodeId, BTreeMap<i64, u64>>,
    /// Bytes of message text in the `InsertMessage` ops of `inflight`.
    unstored_bytes: usize,
    /// Ops waiting to be (re)submitted, in order: the writer's queue was full.
    retry: VecDeque<u64>,
    /// Ids of received messages not yet committed (a re-send is acknowledged later).
    /// Ids are kept as their 16 bytes in these tables, not as hex `String`s: no heap
    /// allocation per entry, so a table is one block of memory that shrinks as a whole
    /// (thousands of small strings freed by another thread fragmented the heap).
    pub incoming: HashSet<MsgId>,
    /// Outgoing messages still pending, or acknowledged before their own insert was
    /// committed, with their peer, status and `seq`. Everything else is looked up in the
    /// store, so this stays the size of the outbox.
    pub outgoing: HashMap<MsgId, (NodeId, Status, i64)>,
    /// Outgoing messages whose `InsertMessage` has not committed yet.
    pub unstored_out: HashSet<MsgId>,
    /// When the last disk error went to the UIs (one a minute is enough).
    pub last_error_event: Option<std::time::Instant>,
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
                .entry(m.peer)
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
    pub fn forget(&mut self, token: u64) -> Option<Inflight> {
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
    pub fn trim(&mut self) {
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
    pub fn mark_sent(&mut self, peer: &NodeId, seq: i64, conn: Option<ConnId>) {
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

    /// Rosters of `group` in ops not yet committed (a reader does not see them yet).
    pub fn uncommitted_rosters(
        &self,
        group: &crate::peer::group::GroupId,
    ) -> Vec<crate::peer::group::SignedRoster> {
        self.inflight
            .values()
            .filter_map(|i| match &i.op {
                Op::InsertRoster(r, _) if r.roster.group == *group => Some((**r).clone()),
                _ => None,
            })
            .collect()
    }

    /// Seqs and ids of `author`'s group messages with `after < seq ≤ upto` in ops not
    /// yet committed (a receipt may come back before our own insert commits).
    pub fn uncommitted_group_ids(
        &self,
        group: &crate::peer::group::GroupId,
        author: &NodeId,
        after: u64,
        upto: u64,
    ) -> Vec<(u64, MsgId)> {
        self.inflight
            .values()
            .filter_map(|i| match &i.op {
                Op::InsertGroupMsg(m)
                    if m.group == *group
                        && m.author == *author
                        && m.seq > after
                        && m.seq <= upto =>
                {
                    Some((m.seq, m.id))
                }
                _ => None,
            })
            .collect()
    }

    /// Messages in ops not yet committed, for `peer`, with `seq` in `seqs`, oldest
    /// first. Borrowed: callers clone only what they keep (the table can hold
    /// thousands of ops under load, and this runs on every outbox top-up).
    pub fn uncommitted(&self, peer: &NodeId, seqs: std::ops::Range<i64>) -> Vec<&StoredMessage> {
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
