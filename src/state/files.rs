//! File transfers as the state thread sees them (issue 17; docs/PROTOCOL.md §6,
//! capability `files`). The state decides; the disk work is done by `crate::files`
//! workers, which report back as `Command::File`.
//!
//! Each transfer's [`Phase`] changes only in [`State::set_phase`], which logs it:
//!
//! ```text
//!  out: offered{acked} ──FREQ──▶ sending{credit, missing} ──FDON──▶ done
//!          ▲                          │ peer down
//!          └──────────────────────────┘
//!  in:  offered ──accept──▶ preparing ──Prepared──▶ receiving ──all held + root──▶
//!          │                              ▲  │ peer down: paused (held kept)
//!          │                              └──┘ peer up: FREQ again
//!       verifying ──Completed──▶ done
//!  any: FCAN / cancel / decline / bad chunk / source changed / expired ──▶ ended{reason}
//! ```

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use super::durable::After;
use super::peers::Queued;
use super::State;
use crate::api::{Event, Transfer as ApiTransfer};
use crate::bus::{ApiReply, FileAction, FileEvent, Refusal};
use crate::files::ranges::Ranges;
use crate::files::{self, RecvJob, SendJob};
use crate::identity::NodeId;
use crate::peer::files::{chunk_count, Cancel, Chunk, Credit, Done, End, Offer, Request};
use crate::peer::inner::{caps, Inner, MsgId};
use crate::store::{Direction, Op, Phase as Stored, StoredTransfer};

/// Progress events per transfer at most this often.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);
/// Most files in one history page (the newest of its time span).
pub(super) const FILES_PER_PAGE: u32 = 100;
/// An offer not accepted within this is dropped.
const OFFER_TTL_MS: i64 = 7 * 24 * 3600 * 1000;

/// Where a transfer stands.
#[derive(Debug)]
pub enum Phase {
    /// Ours, waiting for the peer's `ACKN` (then `acked`) and `FREQ`.
    OutOffered {
        acked: bool,
    },
    /// Ours, chunks going out within the receiver's credit.
    Sending {
        worker: Sender<SendJob>,
        credit: u32,
        missing: VecDeque<(u64, u64)>,
    },
    /// Theirs, waiting for the user.
    InOffered,
    /// Theirs, accepted; the worker checks space and preallocates (or reopens).
    Preparing {
        worker: Sender<RecvJob>,
    },
    /// Theirs, chunks coming (`worker: None`: the peer is away, paused).
    Receiving {
        worker: Option<Sender<RecvJob>>,
        granted: u32,
        /// Written chunks (not all synced); `held` (the transfer's) is what is stored.
        written: Ranges,
        /// Paused by the user: the credit of chunks written since, held back (the
        /// sender stops once what it was granted has come). `None`: not paused. A
        /// pause lasts as long as the session: a new one asks for the rest again.
        withheld: Option<u32>,
    },
    /// Theirs, the worker checks the root and names the file.
    Verifying,
    Done,
    Ended {
        reason: String,
    },
}

impl Phase {
    fn word(&self) -> &'static str {
        match self {
            Phase::OutOffered { .. } | Phase::InOffered => "offered",
            Phase::Sending { .. } => "sending",
            Phase::Preparing { .. } => "preparing",
            Phase::Receiving { worker: None, .. }
            | Phase::Receiving {
                withheld: Some(_), ..
            } => "paused",
            Phase::Receiving { .. } => "receiving",
            Phase::Verifying => "verifying",
            Phase::Done => "done",
            Phase::Ended { .. } => "ended",
        }
    }

    fn finished(&self) -> bool {
        matches!(self, Phase::Done | Phase::Ended { .. })
    }
}

/// One transfer.
#[derive(Debug)]
pub struct Transfer {
    pub meta: StoredTransfer,
    phase: Phase,
    /// Chunks held durably (theirs); sent as `FREQ.have`.
    held: Ranges,
    last_event: Option<Instant>,
    /// Ours: chunks handed to the worker this run (more than the file's count means
    /// chunks sent again after a reconnect).
    sent: u64,
    /// Ours: credits the receiver returned since its last `FREQ`, one per chunk it
    /// wrote; with `held` (its `FREQ.have`) this is the progress the sender shows.
    credited: u64,
    /// Ours, sent from the node's own upload copy (`files::OUTGOING`): deleted when the
    /// transfer ends for good.
    owned: bool,
    /// We ended it and could not queue the `FCAN` (the peer was away): it goes out on
    /// the peer's next session (stored: `cancel_unsent`).
    cancel_unsent: bool,
}

impl Transfer {
    /// A transfer as stored, in the phase its stored one resumes in.
    fn from_stored(meta: StoredTransfer, held: Ranges, outgoing: &std::path::Path) -> Transfer {
        let phase = match (meta.direction, meta.phase) {
            (_, Stored::Done) => Phase::Done,
            (_, Stored::Ended) => Phase::Ended {
                reason: meta.reason.clone().unwrap_or_default(),
            },
            (Direction::Out, Stored::Offered) => Phase::OutOffered { acked: false },
            (Direction::Out, Stored::Accepted) => Phase::OutOffered { acked: true },
            (Direction::In, Stored::Offered) => Phase::InOffered,
            (Direction::In, Stored::Accepted) => Phase::Receiving {
                worker: None,
                granted: 0,
                written: held.clone(),
                withheld: None,
            },
        };
        let owned = meta.direction == Direction::Out
            && meta
                .path
                .as_deref()
                .is_some_and(|p| files::is_upload_copy(outgoing, std::path::Path::new(p)));
        Transfer {
            meta,
            phase,
            held,
            last_event: None,
            sent: 0,
            credited: 0,
            owned,
            cancel_unsent: false,
        }
    }

    fn api(&self) -> ApiTransfer {
        let m = &self.meta;
        let chunks = match m.direction {
            Direction::In => self.held.count(),
            Direction::Out => self.held.count().saturating_add(self.credited),
        };
        let bytes = match &self.phase {
            Phase::Done => m.size,
            _ => chunks.saturating_mul(u64::from(m.chunk)).min(m.size),
        };
        ApiTransfer {
            id: m.id.to_string(),
            peer: crate::hex::encode(&m.peer),
            direction: m.direction.as_str().into(),
            name: m.name.clone(),
            size: m.size,
            mime: m.mime.clone(),
            caption: m.caption.clone(),
            thumb: m.thumb.is_some(),
            created: m.created,
            state: self.phase.word().into(),
            bytes,
            sent_chunks: self.sent,
            // What `GET /api/v1/files/<id>/content` serves: theirs once stored, ours
            // while it goes (and after, unless it was our upload copy, now deleted).
            content: match (m.direction, &self.phase) {
                (Direction::In, Phase::Done) => m.path.is_some(),
                (Direction::In, _) | (Direction::Out, Phase::Ended { .. }) => false,
                (Direction::Out, Phase::Done) => !self.owned,
                (Direction::Out, _) => true,
            },
            reason: match &self.phase {
                Phase::Ended { reason } => Some(reason.clone()),
                _ => None,
            },
            paused_by_user: matches!(
                self.phase,
                Phase::Receiving {
                    withheld: Some(_),
                    ..
                }
            ),
        }
    }
}

/// Every transfer this run knows (active ones loaded at start).
#[derive(Debug, Default)]
pub struct Transfers {
    map: HashMap<MsgId, Transfer>,
}

impl Transfers {
    /// Whether a transfer with `peer` is not finished (its session is kept: `sessions`).
    pub fn unfinished_with(&self, peer: &NodeId) -> bool {
        self.map
            .values()
            .any(|t| t.meta.peer == *peer && !t.phase.finished())
    }
}

impl State {
    /// `<data-dir>/files/outgoing`, absolute as the offered paths are (`prepare` makes
    /// them so; a `--data-dir` may be relative).
    fn outgoing_dir(&self) -> PathBuf {
        let dir = files::outgoing_dir(self.data_dir.path());
        std::path::absolute(&dir).unwrap_or(dir)
    }

    /// Loads unfinished transfers and ended ones whose `FCAN` is still to go (at
    /// start), and deletes the upload copies nothing sends from any more. Runs before
    /// the HTTP listener accepts, so no upload is being written meanwhile.
    pub(super) fn load_transfers(&mut self) -> Result<(), crate::store::StoreError> {
        let outgoing = self.outgoing_dir();
        for meta in self.durable.reader.active_transfers()? {
            let held = Ranges::from_ranges(self.durable.reader.held(&meta.id)?);
            let t = Transfer::from_stored(meta, held, &outgoing);
            self.transfers.map.insert(t.meta.id, t);
        }
        for meta in self.durable.reader.unsent_cancels()? {
            let mut t = Transfer::from_stored(meta, Ranges::default(), &outgoing);
            t.cancel_unsent = true;
            self.transfers.map.insert(t.meta.id, t);
        }
        let keep: Vec<(PathBuf, u64)> = self
            .transfers
            .map
            .values()
            .filter(|t| t.meta.direction == Direction::Out && !t.phase.finished())
            .filter_map(|t| Some((PathBuf::from(t.meta.path.as_ref()?), t.meta.src_ino)))
            .collect();
        files::sweep_outgoing(&outgoing, &keep);
        Ok(())
    }

    /// The one place a transfer changes phase; logs `old => new` and tells the UIs.
    fn set_phase(&mut self, id: &MsgId, new: Phase) {
        let Some(t) = self.transfers.map.get_mut(id) else {
            return;
        };
        log::info!("transfer {id}: {} => {}", t.phase.word(), new.word());
        let stored = match &new {
            Phase::Done => Some((Stored::Done, None)),
            Phase::Ended { reason } => Some((Stored::Ended, Some(reason.clone()))),
            Phase::Sending { .. } | Phase::Preparing { .. } => Some((Stored::Accepted, None)),
            _ => None,
        };
        // Dropping a worker's sender ends it (a receiver syncs first).
        t.phase = new;
        t.last_event = None;
        if t.owned && t.phase.finished() {
            // Over for good: nothing will read our upload copy again.
            if let Some(path) = &t.meta.path {
                files::remove_upload(PathBuf::from(path));
            }
        }
        let sent_hashes = (t.meta.direction == Direction::Out && t.phase.finished())
            .then(|| files::hashes::path_for(&self.data_dir.path().join(files::FILES_DIR), id));
        if let Some(path) = sent_hashes {
            // The sender's chunk hashes: the root was made (or never will be).
            files::remove_in_background(path, "the chunk hashes");
        }
        if let Some((phase, reason)) = stored {
            let op = Op::UpdateTransfer {
                id: *id,
                phase,
                reason,
                path: None,
                root: None,
            };
            self.durable.submit(op, After::Nothing);
        }
        self.file_event(id, true);
    }

    fn file_event(&mut self, id: &MsgId, force: bool) {
        let now = Instant::now();
        let Some(t) = self.transfers.map.get_mut(id) else {
            return;
        };
        if !force
            && t.last_event
                .is_some_and(|at| now.duration_since(at) < PROGRESS_EVERY)
        {
            return;
        }
        t.last_event = Some(now);
        let file = t.api();
        self.subs.broadcast(&Event::File { file });
    }

    fn peer_takes_files(&self, peer: &NodeId) -> Option<bool> {
        self.peers
            .get(peer)
            .and_then(|c| c.link())
            .and_then(|l| l.files)
    }

    fn send_to(&mut self, peer: &NodeId, inner: Inner) -> Queued {
        let now = self.clock.now_ms();
        self.peers.send(peer, inner, now)
    }

    fn offer_of(meta: &StoredTransfer) -> Offer {
        Offer {
            id: meta.id,
            name: meta.name.clone(),
            size: meta.size,
            mime: meta.mime.clone(),
            chunk: meta.chunk,
            thumb: meta.thumb.clone(),
            caption: meta.caption.clone(),
        }
    }

    /// `POST /api/v1/files`: store the offer; it goes out once stored (and again on
    /// every session until the peer's `ACKN`).
    pub(super) fn offer_file(
        &mut self,
        peer: NodeId,
        source: files::Source,
        (thumb, caption, upload): (Option<Vec<u8>>, Option<String>, bool),
        reply: Sender<ApiReply>,
    ) -> Option<ApiReply> {
        let owned = files::is_upload_copy(&self.outgoing_dir(), &source.path);
        if owned != upload {
            // A path the user names is never one the node deletes afterwards.
            return Some(ApiReply::Refused(Refusal::Invalid(format!(
                "{} is in purr's own upload folder; offer a file from somewhere else",
                source.path.display()
            ))));
        }
        if self.peer_takes_files(&peer) == Some(false) {
            return Some(ApiReply::Refused(Refusal::Invalid(
                "that peer's purr is too old to receive files (it did not announce `files`)".into(),
            )));
        }
        let Ok(bytes) = crate::rng::bytes::<16>() else {
            return Some(ApiReply::Refused(Refusal::Store("no randomness".into())));
        };
        let meta = StoredTransfer {
            id: MsgId(bytes),
            peer,
            direction: Direction::Out,
            name: source.name,
            size: source.size,
            mime: source.mime,
            chunk: files::CHUNK,
            caption,
            thumb,
            created: self.clock.now_ms(),
            path: Some(source.path.display().to_string()),
            src_mtime: source.mtime,
            src_ino: source.ino,
            // Made by the sender worker as the chunks go out (`files::hashes`).
            root: None,
            phase: Stored::Offered,
            reason: None,
        };
        let id = meta.id;
        // A transfer is pending work: its peer is a contact, stored before the transfer
        // row that refers to it.
        if self.peers.promote(&peer, "a file goes to it") {
            self.save_contact(&peer);
            // The UIs stop showing it as a stranger now, as for a first message.
            self.push_peer(&peer);
        }
        if let Some(c) = self.peers.get_mut(&peer) {
            c.messaged = true;
        }
        self.durable.submit(
            Op::InsertTransfer(meta.clone()),
            After::OfferStored { id, reply },
        );
        self.transfers.map.insert(
            id,
            Transfer {
                meta,
                phase: Phase::OutOffered { acked: false },
                held: Ranges::default(),
                last_event: None,
                sent: 0,
                credited: 0,
                owned,
                cancel_unsent: false,
            },
        );
        None
    }

    /// Our offer is stored: answer, and send it if the peer can take it now.
    pub(super) fn after_offer_stored(&mut self, id: MsgId, reply: Sender<ApiReply>) {
        let Some(t) = self.transfers.map.get(&id) else {
            return;
        };
        let _ = reply.try_send(ApiReply::File(t.api()));
        let (peer, offer) = (t.meta.peer, Self::offer_of(&t.meta));
        if self.peer_takes_files(&peer) == Some(true) {
            self.send_to(&peer, Inner::FileOffer(offer));
        }
        self.file_event(&id, true);
    }

    /// The peer's `CAPS` came (or none in time): offers go out, paused transfers resume,
    /// or the user hears that its purr is too old.
    pub(super) fn files_cap_known(&mut self, peer: NodeId, takes: bool) {
        self.peers.set_files_cap(&peer, takes);
        if takes {
            self.send_unsent_cancels(&peer);
        }
        let ids: Vec<MsgId> = self
            .transfers
            .map
            .values()
            .filter(|t| t.meta.peer == peer && !t.phase.finished())
            .map(|t| t.meta.id)
            .collect();
        for id in ids {
            let Some(t) = self.transfers.map.get(&id) else {
                continue;
            };
            match (&t.phase, takes) {
                // Acknowledged offers too: if the transfer ended on the receiver while
                // we were away (its FDON or FCAN lost with the session, or we were
                // restarted), the offer again is how we hear of it (`on_offer`).
                (Phase::OutOffered { .. }, true) => {
                    let offer = Self::offer_of(&t.meta);
                    self.send_to(&peer, Inner::FileOffer(offer));
                }
                // A new session while chunks went out on one whose end we never saw (a
                // newer connection took over the peer): the receiver may be a restarted
                // node whose store never kept the offer, and would never ask for the
                // rest. As after a session that ended: offered again, and the
                // receiver's FREQ (it knows the transfer) resumes it.
                (Phase::Sending { .. }, true) => {
                    let offer = Self::offer_of(&t.meta);
                    self.set_phase(&id, Phase::OutOffered { acked: true });
                    self.send_to(&peer, Inner::FileOffer(offer));
                }
                (Phase::OutOffered { .. } | Phase::Sending { .. }, false) => {
                    let reason = "the peer's purr is too old to receive files".to_string();
                    self.subs
                        .broadcast(&Event::error(format!("{}: {reason}", t.meta.name), None));
                    self.set_phase(&id, Phase::Ended { reason });
                }
                (Phase::Receiving { worker: None, .. }, true) => self.start_receiver(id, false),
                // A new session while chunks were coming on one whose end we never saw
                // (a newer connection took over the peer): what was in flight went
                // with it, and the sender waits for a FREQ. Pause and resume, as after
                // a session that ended.
                (
                    Phase::Receiving {
                        worker: Some(_), ..
                    }
                    | Phase::Preparing { .. },
                    true,
                ) => {
                    let written = t.held.clone();
                    let paused = Phase::Receiving {
                        worker: None,
                        granted: 0,
                        written,
                        withheld: None,
                    };
                    self.set_phase(&id, paused);
                    self.start_receiver(id, false);
                }
                _ => {}
            }
        }
    }

    /// The `FCAN`s `peer` missed while it was away (a decline, a cancel, an expiry).
    fn send_unsent_cancels(&mut self, peer: &NodeId) {
        let unsent: Vec<(MsgId, String)> = self
            .transfers
            .map
            .values()
            .filter(|t| t.meta.peer == *peer && t.cancel_unsent)
            .filter_map(|t| match &t.phase {
                Phase::Ended { reason } => Some((t.meta.id, reason.clone())),
                _ => None,
            })
            .collect();
        for (id, reason) in unsent {
            if self.send_to(peer, Inner::FileCancel(Cancel { id, reason })) != Queued::Sent {
                return;
            }
            log::info!("transfer {id}: the peer is told it ended");
            if let Some(t) = self.transfers.map.get_mut(&id) {
                t.cancel_unsent = false;
            }
            self.durable
                .submit(Op::SetCancelUnsent { id, unsent: false }, After::Nothing);
        }
    }

    /// A session ended: chunks stop; receivers keep what they hold.
    pub(super) fn files_peer_down(&mut self, peer: &NodeId) {
        let ids: Vec<MsgId> = self
            .transfers
            .map
            .values()
            .filter(|t| t.meta.peer == *peer)
            .map(|t| t.meta.id)
            .collect();
        for id in ids {
            let Some(t) = self.transfers.map.get(&id) else {
                continue;
            };
            match &t.phase {
                Phase::Sending { .. } => self.set_phase(&id, Phase::OutOffered { acked: true }),
                Phase::Receiving {
                    worker: Some(_), ..
                }
                | Phase::Preparing { .. } => {
                    let written = t.held.clone();
                    self.set_phase(
                        &id,
                        Phase::Receiving {
                            worker: None,
                            granted: 0,
                            written,
                            withheld: None,
                        },
                    )
                }
                _ => {}
            }
        }
    }

    /// Dispatches a file kind from `peer`.
    pub(super) fn on_file_msg(&mut self, peer: NodeId, inner: Inner) {
        match inner {
            Inner::FileOffer(offer) => self.on_offer(peer, offer),
            Inner::FileRequest(req) => self.on_request(peer, req),
            Inner::FileCredit(Credit { id, n }) => {
                if let Some(Phase::Sending { credit, .. }) = self.phase_mut(&peer, &id) {
                    *credit = credit.saturating_add(n).min(4 * files::WINDOW);
                    if let Some(t) = self.transfers.map.get_mut(&id) {
                        t.credited = t.credited.saturating_add(u64::from(n));
                    }
                    self.dispatch(&id);
                }
            }
            Inner::FileChunk(chunk) => self.on_chunk(peer, chunk),
            Inner::FileEnd(End { id, root }) => {
                let Some(t) = self.transfers.map.get_mut(&id) else {
                    return;
                };
                if t.meta.peer != peer || t.meta.direction != Direction::In {
                    return;
                }
                if t.meta.root.is_none() {
                    t.meta.root = Some(root);
                    let op = Op::UpdateTransfer {
                        id,
                        phase: Stored::Accepted,
                        reason: None,
                        path: None,
                        root: Some(root),
                    };
                    self.durable.submit(op, After::Nothing);
                }
                self.maybe_complete(&id);
            }
            Inner::FileDone(Done { id }) => {
                if let Some(Phase::Sending { .. } | Phase::OutOffered { .. }) =
                    self.phase_mut(&peer, &id)
                {
                    self.set_phase(&id, Phase::Done);
                }
            }
            Inner::FileCancel(Cancel { id, reason })
                if self.phase_mut(&peer, &id).is_some_and(|p| !p.finished()) =>
            {
                let reason: String = reason.chars().filter(|c| !c.is_control()).collect();
                self.end(&id, format!("ended by the peer: {reason}"), false);
            }
            _ => {}
        }
    }

    /// How a transfer ended: `Some(None)` done, `Some(Some(reason))` ended, `None`
    /// not over.
    fn outcome(phase: &Phase) -> Option<Option<String>> {
        match phase {
            Phase::Done => Some(None),
            Phase::Ended { reason } => Some(Some(reason.clone())),
            _ => None,
        }
    }

    /// `FCAN` with `reason` cut to the protocol's limit (a path or an OS error in it
    /// could make it longer, and the peer would close the session on a longer one).
    fn cancel(id: MsgId, mut reason: String) -> Inner {
        let max = crate::peer::files::MAX_REASON;
        if reason.len() > max {
            let mut cut = max;
            while !reason.is_char_boundary(cut) {
                cut -= 1;
            }
            reason.truncate(cut);
        }
        Inner::FileCancel(Cancel { id, reason })
    }

    fn phase_mut(&mut self, peer: &NodeId, id: &MsgId) -> Option<&mut Phase> {
        self.transfers
            .map
            .get_mut(id)
            .filter(|t| t.meta.peer == *peer)
            .map(|t| &mut t.phase)
    }

    /// Our offers the peer has stored (its `ACKN`).
    pub(super) fn offers_acked(&mut self, peer: &NodeId, ids: &[MsgId]) {
        for id in ids {
            if let Some(Phase::OutOffered { acked }) = self.phase_mut(peer, id) {
                *acked = true;
            }
        }
    }

    /// A peer asks (`FREQ`) about a transfer not in this run's map: if we finished it
    /// in an earlier run, it hears the end again (`FCAN` or `FDON`), which it takes
    /// once and ignores after. (An `FOFR` sent again is answered in `on_offer`.)
    fn tell_finished_again(&mut self, peer: NodeId, id: MsgId) {
        let stored = match self.durable.reader.transfer(&id) {
            Ok(Some(t)) if t.peer == peer => t,
            Ok(_) => return,
            Err(e) => return log::warn!("cannot read transfer {id}: {e}"),
        };
        match stored.phase {
            Stored::Ended => {
                let reason = stored.reason.unwrap_or_default();
                self.send_to(&peer, Self::cancel(id, reason));
            }
            Stored::Done if stored.direction == Direction::In => {
                self.send_to(&peer, Inner::FileDone(Done { id }));
            }
            _ => {}
        }
    }

    fn on_offer(&mut self, peer: NodeId, offer: Offer) {
        let id = offer.id;
        // Known already: sent again because our ACKN was lost, or because the sender
        // (restarted, or back after a cut) still waits for the end of a transfer that
        // ended while it was away. This run's transfers are in the map; one finished in
        // an earlier run only in the store.
        let known = match self.transfers.map.get(&id) {
            Some(t) => Some((t.meta.peer, t.meta.direction, Self::outcome(&t.phase))),
            None => match self.durable.reader.transfer(&id) {
                Ok(found) => found.map(|m| {
                    let outcome = match m.phase {
                        Stored::Done => Some(None),
                        Stored::Ended => Some(Some(m.reason.unwrap_or_default())),
                        _ => None,
                    };
                    (m.peer, m.direction, outcome)
                }),
                Err(e) => {
                    log::warn!("offer {id}: cannot look it up: {e}");
                    return;
                }
            },
        };
        if let Some((owner, direction, outcome)) = known {
            if owner == peer && direction == Direction::In {
                self.send_to(&peer, Inner::Ackn(vec![id]));
                let end = match outcome {
                    Some(None) => Some(Inner::FileDone(Done { id })),
                    Some(Some(reason)) => Some(Self::cancel(id, reason)),
                    None => None,
                };
                if let Some(end) = end {
                    self.send_to(&peer, end);
                }
            }
            return;
        }
        if offer.size > files::MAX_FILE_SIZE {
            let reason = format!(
                "the file is too large ({} bytes; this node takes at most {})",
                offer.size,
                files::MAX_FILE_SIZE
            );
            log::info!("offer {id} refused: {reason}");
            self.send_to(&peer, Inner::FileCancel(Cancel { id, reason }));
            return;
        }
        // As a message would: the offer makes a stranger a contact, stored first.
        if self.peers.promote(&peer, "a file came from it") {
            self.save_contact(&peer);
            // The UIs stop showing it as a stranger now, as for a first message.
            self.push_peer(&peer);
        }
        if let Some(c) = self.peers.get_mut(&peer) {
            c.messaged = true;
        }
        let meta = StoredTransfer {
            id,
            peer,
            direction: Direction::In,
            name: files::names::sanitize(&offer.name),
            size: offer.size,
            mime: offer.mime.chars().filter(|c| !c.is_control()).collect(),
            chunk: offer.chunk,
            caption: offer
                .caption
                .as_deref()
                .and_then(crate::rules::clean_caption),
            thumb: offer.thumb,
            created: self.clock.now_ms(),
            path: None,
            src_mtime: 0,
            src_ino: 0,
            root: None,
            phase: Stored::Offered,
            reason: None,
        };
        let auto = self.auto_accepts(&peer, &meta.mime, meta.size);
        self.durable.submit(
            Op::InsertTransfer(meta.clone()),
            After::Incoming { peer, id },
        );
        self.transfers.map.insert(
            id,
            Transfer {
                meta,
                phase: Phase::InOffered,
                held: Ranges::default(),
                last_event: None,
                sent: 0,
                credited: 0,
                owned: false,
                cancel_unsent: false,
            },
        );
        self.file_event(&id, true);
        if auto {
            log::info!("transfer {id}: an image from a verified contact, accepted without asking");
            // Four files already coming: it waits for the user like any other offer.
            let _ = self.file_action(&id.to_string(), FileAction::Accept);
        }
    }

    /// The user pauses (`pause`) or resumes a file coming to us: flow control, not a
    /// new state of the protocol. Paused, the credit of each chunk written is held back,
    /// so the sender stops once what it was granted has come; resumed, that credit goes
    /// out at once.
    fn hold_credit(&mut self, id: &MsgId, pause: bool) {
        let Some(t) = self.transfers.map.get(id) else {
            return;
        };
        let Phase::Receiving {
            worker,
            granted,
            written,
            withheld,
        } = &t.phase
        else {
            return;
        };
        let (peer, back) = (t.meta.peer, withheld.unwrap_or(0));
        let next = Phase::Receiving {
            worker: worker.clone(),
            granted: if pause { *granted } else { granted + back },
            written: written.clone(),
            withheld: pause.then_some(0),
        };
        self.set_phase(id, next);
        if !pause && back > 0 {
            self.send_to(&peer, Inner::FileCredit(Credit { id: *id, n: back }));
        }
    }

    /// Whether an offer is taken without asking (`--auto-accept-images`): an image by
    /// its offered type, within the size, from a contact whose fingerprint the user
    /// verified. The type is the peer's word: what is saved is served as an image only
    /// if its bytes are one (`http/content.rs`), else as a download.
    fn auto_accepts(&self, peer: &NodeId, mime: &str, size: u64) -> bool {
        let image = matches!(
            mime,
            "image/png" | "image/jpeg" | "image/gif" | "image/webp"
        );
        let verified = self.peers.get(peer).is_some_and(|c| c.verified);
        self.auto_accept_images > 0 && image && verified && size <= self.auto_accept_images
    }

    /// The user's accept, decline or cancel.
    pub(super) fn file_action(&mut self, id: &str, action: FileAction) -> ApiReply {
        let Some(id) = id
            .parse::<MsgId>()
            .ok()
            .filter(|i| self.transfers.map.contains_key(i))
        else {
            return ApiReply::Refused(Refusal::Invalid(format!("no transfer {id:?}")));
        };
        let Some(t) = self.transfers.map.get(&id) else {
            return ApiReply::Refused(Refusal::Invalid("no such transfer".into()));
        };
        match (action, &t.phase) {
            (FileAction::Accept, Phase::InOffered) => {
                let busy = self
                    .transfers
                    .map
                    .values()
                    .filter(|t| {
                        matches!(
                            t.phase,
                            Phase::Preparing { .. }
                                | Phase::Receiving {
                                    worker: Some(_),
                                    ..
                                }
                        )
                    })
                    .count();
                if busy >= files::MAX_RECEIVING {
                    return ApiReply::Refused(Refusal::Busy(format!(
                        "{busy} files are being received; accept this one when one is done"
                    )));
                }
                self.start_receiver(id, true);
            }
            (FileAction::Decline, Phase::InOffered) => self.end(&id, "declined".into(), true),
            (
                FileAction::Pause,
                Phase::Receiving {
                    worker: Some(_),
                    withheld: None,
                    ..
                },
            ) => self.hold_credit(&id, true),
            (
                FileAction::Resume,
                Phase::Receiving {
                    withheld: Some(_), ..
                },
            ) => self.hold_credit(&id, false),
            (FileAction::Cancel, p) if !p.finished() => {
                self.end(&id, "cancelled by the user".into(), true)
            }
            _ => {
                return ApiReply::Refused(Refusal::Invalid(format!(
                    "the transfer is {}",
                    t.phase.word()
                )))
            }
        }
        match self.transfers.map.get(&id) {
            Some(t) => ApiReply::File(t.api()),
            None => ApiReply::Refused(Refusal::Invalid("gone".into())),
        }
    }

    /// A history page's files (issue 17: a conversation shows its files after a
    /// restart, in their place): `peer`'s transfers created at `from` or later and not
    /// after the message `before` (the page's newer neighbour), as this run knows them
    /// or else as stored, at most [`FILES_PER_PAGE`] (the newest), oldest first.
    pub(super) fn page_files(
        &self,
        peer: &NodeId,
        from: i64,
        before: Option<i64>,
    ) -> Result<Vec<ApiTransfer>, String> {
        let outgoing = self.outgoing_dir();
        let stored = self
            .durable
            .reader
            .transfers_for_page(peer, from, before, FILES_PER_PAGE)
            .map_err(|e| e.to_string())?;
        let mut out: Vec<ApiTransfer> = stored
            .into_iter()
            .map(|meta| match self.transfers.map.get(&meta.id) {
                Some(live) => live.api(),
                None => Transfer::from_stored(meta, Ranges::default(), &outgoing).api(),
            })
            .collect();
        if before.is_none() {
            // The newest page: offers of a moment ago whose row is still on its way.
            let known: std::collections::HashSet<String> =
                out.iter().map(|t| t.id.clone()).collect();
            out.extend(
                self.transfers
                    .map
                    .values()
                    .filter(|t| t.meta.peer == *peer && t.meta.created >= from)
                    .map(Transfer::api)
                    .filter(|t| !known.contains(&t.id)),
            );
            out.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
            let extra = out.len().saturating_sub(FILES_PER_PAGE as usize);
            out.drain(..extra);
        }
        Ok(out)
    }

    pub(super) fn files_api(&self) -> ApiReply {
        let mut all: Vec<&Transfer> = self.transfers.map.values().collect();
        all.sort_by_key(|t| (t.meta.created, t.meta.id));
        ApiReply::Files(all.into_iter().map(Transfer::api).collect())
    }

    pub(super) fn file_info(&self, id: &str) -> ApiReply {
        let found = id
            .parse::<MsgId>()
            .ok()
            .and_then(|i| self.transfers.map.get(&i));
        match found {
            Some(t) => ApiReply::File(t.api()),
            None => ApiReply::Refused(Refusal::Invalid(format!("no transfer {id:?}"))),
        }
    }

    /// A transfer's record and whether it is done or ended: this run's, else (finished
    /// in an earlier run) the store's.
    fn any_transfer(&self, id: &str) -> Result<(StoredTransfer, bool, bool), Refusal> {
        let not_found = || Refusal::NotFound("no such transfer".into());
        let mid = id.parse::<MsgId>().map_err(|_| not_found())?;
        if let Some(t) = self.transfers.map.get(&mid) {
            let (done, ended) = (
                matches!(t.phase, Phase::Done),
                matches!(t.phase, Phase::Ended { .. }),
            );
            return Ok((t.meta.clone(), done, ended));
        }
        match self.durable.reader.transfer(&mid) {
            Ok(Some(m)) => {
                let (done, ended) = (m.phase == Stored::Done, m.phase == Stored::Ended);
                Ok((m, done, ended))
            }
            Ok(None) => Err(not_found()),
            Err(e) => Err(Refusal::Store(e.to_string())),
        }
    }

    /// `GET /api/v1/files/<id>/thumb`: the offer's preview image.
    pub(super) fn file_thumb(&self, id: &str) -> ApiReply {
        match self.any_transfer(id) {
            Ok((meta, ..)) => match meta.thumb {
                Some(thumb) => ApiReply::Thumb(thumb),
                None => ApiReply::Refused(Refusal::NotFound("no thumbnail".into())),
            },
            Err(refused) => ApiReply::Refused(refused),
        }
    }

    /// `GET /api/v1/files/<id>/content`: a received file once done, or our source while
    /// the offer stands.
    pub(super) fn file_content(&self, id: &str) -> ApiReply {
        let not_found = |why: &str| ApiReply::Refused(Refusal::NotFound(why.into()));
        let (meta, done, ended) = match self.any_transfer(id) {
            Ok(found) => found,
            Err(refused) => return ApiReply::Refused(refused),
        };
        let identity = match meta.direction {
            Direction::In if done => None,
            Direction::In => return not_found("the file is not received yet"),
            Direction::Out if ended => return not_found("the transfer ended"),
            Direction::Out
                if done
                    && meta.path.as_deref().is_some_and(|p| {
                        files::is_upload_copy(&self.outgoing_dir(), std::path::Path::new(p))
                    }) =>
            {
                return not_found("the upload copy is deleted once the file is delivered")
            }
            Direction::Out => Some((meta.src_mtime, meta.src_ino)),
        };
        let Some(path) = meta.path.as_ref() else {
            return not_found("the file is not on this node");
        };
        ApiReply::Content(crate::bus::FileContent {
            path: PathBuf::from(path),
            name: meta.name,
            size: meta.size,
            identity,
        })
    }

    fn hashes_path(&self, id: &MsgId) -> PathBuf {
        files::hashes::path_for(&self.data_dir.path().join(files::FILES_DIR), id)
    }

    fn part_path(&self, id: &MsgId) -> PathBuf {
        self.data_dir
            .path()
            .join(files::FILES_DIR)
            .join(format!("{id}.part"))
    }

    /// Starts (or restarts) the receiver worker: fresh on accept, else a resume.
    fn start_receiver(&mut self, id: MsgId, fresh: bool) {
        let Some(t) = self.transfers.map.get(&id) else {
            return;
        };
        let spec = files::worker_recv_spec(
            id,
            self.part_path(&id),
            self.hashes_path(&id),
            t.meta.size,
            t.meta.chunk,
            fresh,
        );
        match files::spawn_receiver(spec, self.peer_ctx.state.clone()) {
            Ok(worker) => self.set_phase(&id, Phase::Preparing { worker }),
            Err(e) => self.end(&id, format!("cannot start a file thread: {e}"), true),
        }
    }

    /// Ends a transfer: phase, worker gone, the peer told if `tell`.
    fn end(&mut self, id: &MsgId, reason: String, tell: bool) {
        let Some(t) = self.transfers.map.get(id) else {
            return;
        };
        let peer = t.meta.peer;
        if let Phase::Preparing { worker }
        | Phase::Receiving {
            worker: Some(worker),
            ..
        } = &t.phase
        {
            let _ = worker.try_send(RecvJob::Stop { delete: true });
        }
        if t.meta.direction == Direction::In && !matches!(t.phase, Phase::InOffered) {
            self.durable
                .submit(Op::DropHeld { id: *id }, After::Nothing);
        }
        // A peer away now hears it on its next session (stored, so a restart of
        // ours in between loses nothing); one that cannot take files never had it.
        let unsent = tell
            && self.peer_takes_files(&peer) != Some(false)
            && self.send_to(&peer, Self::cancel(*id, reason.clone())) != Queued::Sent;
        if let Some(t) = self.transfers.map.get_mut(id) {
            t.cancel_unsent = unsent;
        }
        self.set_phase(id, Phase::Ended { reason });
        if unsent {
            log::info!("transfer {id}: the peer is away; it hears of the end when it is back");
            self.durable
                .submit(Op::SetCancelUnsent { id: *id, unsent }, After::Nothing);
        }
    }

    /// `FREQ`: the receiver holds `have`; send the rest within `window`.
    fn on_request(&mut self, peer: NodeId, req: Request) {
        let Some(t) = self
            .transfers
            .map
            .get(&req.id)
            .filter(|t| t.meta.peer == peer)
        else {
            // Ended in an earlier run: the receiver missed our FCAN; say it again.
            return self.tell_finished_again(peer, req.id);
        };
        if t.meta.direction != Direction::Out {
            return;
        }
        if let Phase::Ended { reason } = &t.phase {
            let reason = reason.clone();
            self.send_to(&peer, Inner::FileCancel(Cancel { id: req.id, reason }));
            return;
        }
        if t.phase.finished() {
            return;
        }
        let total = chunk_count(t.meta.size, t.meta.chunk);
        let have = Ranges::from_ranges(req.have.iter().copied());
        let missing: VecDeque<(u64, u64)> = have.missing(total).into();
        let spec = files::SendSpec {
            id: req.id,
            path: PathBuf::from(t.meta.path.clone().unwrap_or_default()),
            size: t.meta.size,
            mtime: t.meta.src_mtime,
            ino: t.meta.src_ino,
            chunk: t.meta.chunk,
            hashes: self.hashes_path(&req.id),
        };
        let worker = match &t.phase {
            Phase::Sending { worker, .. } => worker.clone(),
            _ => match files::spawn_sender(spec, self.peer_ctx.state.clone()) {
                Ok(w) => w,
                Err(e) => {
                    return self.end(&req.id, format!("cannot start a file thread: {e}"), true)
                }
            },
        };
        let credit = req.window.min(4 * files::WINDOW);
        if let Some(t) = self.transfers.map.get_mut(&req.id) {
            t.held = have;
            t.credited = 0;
        }
        self.set_phase(
            &req.id,
            Phase::Sending {
                worker,
                credit,
                missing,
            },
        );
        self.dispatch(&req.id);
    }

    /// Hands the worker as many missing chunks as the credit allows; `FEND` after the last.
    fn dispatch(&mut self, id: &MsgId) {
        let Some(t) = self.transfers.map.get_mut(id) else {
            return;
        };
        let Some(bulk) = self
            .peers
            .get(&t.meta.peer)
            .and_then(|c| c.link())
            .map(|l| l.bulk.clone())
        else {
            return;
        };
        let Phase::Sending {
            worker,
            credit,
            missing,
        } = &mut t.phase
        else {
            return;
        };
        let mut indices = Vec::new();
        while *credit > 0 {
            let Some((start, end)) = missing.front_mut() else {
                break;
            };
            indices.push(*start);
            *start += 1;
            if start == end {
                missing.pop_front();
            }
            *credit -= 1;
        }
        let worker = worker.clone();
        let last = missing.is_empty();
        t.sent += indices.len() as u64;
        if !indices.is_empty() {
            let _ = worker.try_send(SendJob::Chunks {
                indices,
                out: bulk.clone(),
            });
            if last {
                let _ = worker.try_send(SendJob::End { out: bulk });
            }
        }
        if last {
            // Everything asked for is on its way (or was held): the receiver may
            // only lack the root.
            if let Some(Phase::Sending { missing, .. }) =
                self.transfers.map.get_mut(id).map(|t| &mut t.phase)
            {
                missing.clear();
            }
        }
        self.file_event(id, false);
    }

    fn on_chunk(&mut self, peer: NodeId, chunk: Chunk) {
        let id = chunk.id;
        let Some(t) = self
            .transfers
            .map
            .get_mut(&id)
            .filter(|t| t.meta.peer == peer)
        else {
            log::debug!("chunk for unknown transfer {id} dropped");
            return;
        };
        let total = chunk_count(t.meta.size, t.meta.chunk);
        let Phase::Receiving {
            worker: Some(worker),
            granted,
            written,
            ..
        } = &mut t.phase
        else {
            log::debug!("chunk for transfer {id} ({}) dropped", t.phase.word());
            return;
        };
        if chunk.index >= total {
            let why = format!("chunk {} is past the end ({total} chunks)", chunk.index);
            return self.end(&id, why, true);
        }
        if *granted == 0 {
            let why = format!("chunk {} is outside the granted window", chunk.index);
            return self.end(&id, why, true);
        }
        *granted -= 1;
        if written.contains(chunk.index) {
            *granted += 1;
            self.send_to(&peer, Inner::FileCredit(Credit { id, n: 1 }));
            return;
        }
        if worker.try_send(RecvJob::Chunk(chunk)).is_err() {
            self.end(
                &id,
                "chunks came faster than the window allows".into(),
                true,
            );
        }
    }

    /// A worker's report.
    pub(super) fn on_file_event(&mut self, event: FileEvent) {
        match event {
            FileEvent::Prepared { id, result } => {
                let Some(t) = self.transfers.map.get(&id) else {
                    return;
                };
                let Phase::Preparing { worker } = &t.phase else {
                    return;
                };
                match result {
                    Ok(()) => {
                        let worker = worker.clone();
                        let (peer, have) =
                            (t.meta.peer, t.held.first(crate::peer::files::MAX_RANGES));
                        let written = t.held.clone();
                        self.set_phase(
                            &id,
                            Phase::Receiving {
                                worker: Some(worker),
                                granted: files::WINDOW,
                                written,
                                withheld: None,
                            },
                        );
                        let req = Request {
                            id,
                            have,
                            window: files::WINDOW,
                        };
                        self.send_to(&peer, Inner::FileRequest(req));
                        self.maybe_complete(&id);
                    }
                    Err(reason) => {
                        self.subs.broadcast(&Event::error(reason.clone(), None));
                        self.end(&id, reason, true);
                    }
                }
            }
            FileEvent::Written { id, index } => {
                let Some(t) = self.transfers.map.get_mut(&id) else {
                    return;
                };
                if let Phase::Receiving {
                    granted,
                    written,
                    withheld,
                    ..
                } = &mut t.phase
                {
                    written.insert_one(index);
                    if let Some(held_back) = withheld {
                        *held_back += 1;
                        return;
                    }
                    *granted += 1;
                    let peer = t.meta.peer;
                    self.send_to(&peer, Inner::FileCredit(Credit { id, n: 1 }));
                }
            }
            FileEvent::Synced { id, ranges } => {
                self.durable.submit(
                    Op::AddHeld {
                        id,
                        ranges: ranges.clone(),
                    },
                    After::HeldStored { id, ranges },
                );
            }
            FileEvent::Failed { id, reason } => {
                if self
                    .transfers
                    .map
                    .get(&id)
                    .is_some_and(|t| !t.phase.finished())
                {
                    self.end(&id, reason, true);
                }
            }
            FileEvent::Completed { id, result } => match result {
                Ok(path) => {
                    let Some(t) = self.transfers.map.get_mut(&id) else {
                        return;
                    };
                    t.meta.path = Some(path.display().to_string());
                    let peer = t.meta.peer;
                    let op = Op::UpdateTransfer {
                        id,
                        phase: Stored::Done,
                        reason: None,
                        path: Some(path.display().to_string()),
                        root: None,
                    };
                    let leftovers = vec![self.part_path(&id), self.hashes_path(&id)];
                    self.durable.submit(op, After::ReceivedStored { leftovers });
                    self.durable.submit(Op::DropHeld { id }, After::Nothing);
                    self.send_to(&peer, Inner::FileDone(Done { id }));
                    self.set_phase(&id, Phase::Done);
                }
                Err(reason) => self.end(&id, reason, true),
            },
        }
    }

    /// Chunk ranges are stored: they count as held.
    pub(super) fn after_held_stored(&mut self, id: MsgId, ranges: Vec<(u64, u64)>) {
        let Some(t) = self.transfers.map.get_mut(&id) else {
            return;
        };
        for (s, e) in ranges {
            t.held.insert(s, e);
        }
        self.file_event(&id, false);
        self.maybe_complete(&id);
    }

    /// Every chunk held and the root known: verify.
    fn maybe_complete(&mut self, id: &MsgId) {
        let Some(t) = self.transfers.map.get(id) else {
            return;
        };
        let total = chunk_count(t.meta.size, t.meta.chunk);
        let (
            Phase::Receiving {
                worker: Some(worker),
                ..
            },
            Some(root),
        ) = (&t.phase, t.meta.root)
        else {
            return;
        };
        if !t.held.covers(total) {
            return;
        }
        let job = RecvJob::Complete {
            root,
            dir: self.downloads.clone(),
            name: t.meta.name.clone(),
        };
        if worker.try_send(job).is_ok() {
            self.set_phase(id, Phase::Verifying);
        }
    }

    /// Offers not accepted in time expire (once a second).
    pub(super) fn expire_offers(&mut self) {
        let now = self.clock.now_ms();
        let old: Vec<MsgId> = self
            .transfers
            .map
            .values()
            .filter(|t| matches!(t.phase, Phase::InOffered) && now - t.meta.created > OFFER_TTL_MS)
            .map(|t| t.meta.id)
            .collect();
        for id in old {
            self.end(&id, "the offer expired".into(), true);
        }
    }

    /// Whether the peer announced `files` (for `CAPS` handling).
    pub(super) fn caps_have_files(list: &[String]) -> bool {
        list.iter().any(|c| c == caps::FILES)
    }
}
