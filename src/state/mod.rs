//! The central state thread: the one owner of the node's mutable state.
//!
//! Every other thread (HTTP, WebSocket, peer connections, dialers) talks to it only by
//! sending a [`Command`] on a crossbeam channel; it answers through channels the command
//! carries. Nothing here is shared behind a lock, and the loop never does network I/O:
//! events for UIs and records for peers go into bounded per-connection queues with
//! `try_send`, so a stuck browser or a slow peer only loses its own connection.
//!
//! ```text
//!   ws threads ──Subscribe/Ui/Unsubscribe──┐
//!   http threads ──Api{reply}──────────────┤            ┌──▶ UI queues ──▶ ws writers
//!   peer conns ──PeerUp/PeerMsg/PeerDown───┼──▶ state ──┤
//!   dial threads ──DialFailed──────────────┤   (loop)   └──▶ peer queues ──▶ peer conns
//!   discovery thread ──Discovered──────────┤
//!   signal handler ──Shutdown──────────────┘      ▲
//!                                    tick (1 s) ──┘  redials, configured addresses,
//!                                                    store retries, identity.key there,
//!                                                    group gaps past their grace,
//!                                                    malloc_trim every 10 s
//! ```
//!
//! Handlers take the time as an argument (`now`, read once per turn of the loop), so
//! their logic runs in unit tests against a test clock, without sockets (`tests`).
//!
//! Submodules, one concern each:
//! - [`ui`]: UI commands; [`peering`]: peer events, LIST, dialing; `messages`: sending,
//!   receiving and receipts; `outbox`: pending messages going out, stalled peers;
//! - `peers`: the peer table and each contact's `Presence` (its state machine);
//! - `durable`: the ops on their way to the store; `dialer`: the backoff policy, with
//!   `dial_log` (attempts and learned addresses) and `doctor` (the facts of
//!   `GET /api/v1/diag`); `announce`: our addresses (`ADDR`) and peers' announced ones;
//!   `addr_order`: which of a peer's addresses is dialled first;
//!   `subscribers`: the UI queues; `view`: domain values as the UI's JSON;
//! - `sessions`: which peers keep a session and which are only `nearby` (heard by
//!   beacon, the `nearby` table), on-demand sessions and their idle close.

mod addr_order;
pub mod announce;
mod dial_log;
pub mod dialer;
mod doctor;
mod durable;
mod files;
mod group_gaps;
mod group_history;
mod group_receipts;
mod groups;
mod messages;
mod nearby;
mod outbox;
mod peering;
pub mod peers;
mod reach;
pub mod sessions;
mod subscribers;
#[cfg(test)]
mod tests;
mod ui;
mod view;

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{after, never, select, tick, Receiver, Sender};

use crate::api::Me;
pub use crate::bus::{ApiReply, ApiRequest, Command, StateHandle, SubId, UI_QUEUE_LEN};
use crate::bus::{Commands, DialFn, NameCell, PeerContext, ReachFn, Refusal};
use crate::datadir::DataDir;
use crate::identity::{self, Identity, NodeId};

pub use messages::{
    SendError, MAX_UNSTORED, MAX_UNSTORED_BYTES, MAX_UNSTORED_INCOMING, MAX_UNSTORED_INCOMING_BYTES,
};
use subscribers::Subscribers;

/// What the state thread needs to start.
pub struct StateConfig {
    pub identity: Arc<Identity>,
    pub name: String,
    pub port: u16,
    pub data_dir: DataDir,
    /// Addresses to keep dialling (`--connect`, `--peers`).
    pub configured: Vec<String>,
    /// SPEC §7 step 4; shorter in tests.
    pub handshake_timeout: Duration,
    /// The wall clock (off by `--clock-offset-ms` in tests).
    pub clock: Clock,
    /// The store's writer and reader, and where the writer reports commits.
    pub store: (crate::store::Writer, crate::store::Reader),
    pub committed: Receiver<crate::store::Committed>,
    /// Starts a dial thread (`conn::spawn_dial` in a node).
    pub dial: DialFn,
    /// Starts a peer's dial-backs (`conn::reach::spawn` in a node).
    pub reach: ReachFn,
    /// Fault injection for tests (`--fault-panic state`): panic at the first tick.
    pub panic_at_first_tick: bool,
    /// What `node` knows of itself for `GET /api/v1/diag`: the listening address,
    /// whether discovery runs and its interval.
    pub about: crate::diag::NodeFacts,
    /// New strangers admitted per source network per minute (hidden
    /// `--strangers-per-minute`; [`peers::DEFAULT_STRANGERS_PER_MINUTE`]).
    pub strangers_per_minute: u32,
    /// `--downloads`: where received files go (else `<data-dir>/files`).
    pub downloads: Option<std::path::PathBuf>,
    /// `--auto-accept-images` in bytes: images up to this size from verified contacts
    /// are accepted without asking (0: never).
    pub auto_accept_images: u64,
    /// How long an on-demand session stays up without traffic (hidden
    /// `--idle-session-secs`; [`sessions::DEFAULT_IDLE_SESSION`]).
    pub idle_session: Duration,
    /// What we announce to peers besides our interfaces (`--advertise`, `--listen`).
    pub announce: announce::Setup,
    /// The program's code mappings, whose pages the trim tick unmaps (see `memory`);
    /// empty in tests.
    pub code: crate::memory::StartMappings,
}

/// The state owned by the thread.
struct State {
    identity: Arc<Identity>,
    own_id: NodeId,
    name: String,
    port: u16,
    data_dir: DataDir,
    subs: Subscribers,
    peers: peers::PeerTable,
    dialer: dialer::Dialer,
    peer_ctx: PeerContext,
    /// How dials are started (see [`DialFn`]).
    dial: DialFn,
    /// How a peer's dial-backs are started (see [`ReachFn`]), and how many run.
    reach: ReachFn,
    reach_jobs: usize,
    /// See [`StateConfig::panic_at_first_tick`].
    panic_at_first_tick: bool,
    /// The store and the ops on their way to it.
    durable: durable::Durable,
    /// `seq` of the next message (SPEC §5), assigned here so a received message can be
    /// shown before it is committed.
    next_seq: i64,
    /// Gives freed heap pages back to the kernel every 10 s (`memory`).
    trimmer: crate::memory::Trimmer,
    /// `identity.key` is missing and could not be written back (reported once).
    identity_file_failing: bool,
    /// Wall-clock time for timestamps (see [`Clock`]).
    clock: Clock,
    /// File transfers (`files`).
    transfers: files::Transfers,
    /// Groups (`groups`).
    groups: groups::Groups,
    /// Where received files are saved.
    downloads: std::path::PathBuf,
    /// Images up to this many bytes from verified contacts are accepted without asking.
    auto_accept_images: u64,
    /// See [`StateConfig::about`].
    about: crate::diag::NodeFacts,
    /// When the state started (the node's uptime).
    started: Instant,
    /// Discovery's latest counters (`Command::DiscoveryStats`).
    discovery_stats: Option<Box<crate::bus::DiscoveryStats>>,
    /// See [`StateConfig::idle_session`].
    idle_session: Duration,
    /// Our addresses, as we announce them (`ADDR`).
    announcer: announce::Announcer,
}

/// Commands handled at most before the unread counts that changed are sent to the UIs:
/// incoming messages only mark their sender (`PeerTable::mark_changed`), so a burst
/// from one peer costs one `peer` event, not one per message.
const UNREAD_BATCH: usize = 64;

/// Why the state thread stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stopped {
    /// `Shutdown` was asked for (a signal).
    Shutdown,
    /// The store writer is gone (it panicked or could not go on): nothing can be saved,
    /// so the node must exit and be restarted rather than answer 503 forever.
    StoreWriterGone,
}

/// Starts the state thread. Returns its handle, what connection threads need, and the
/// join handle, whose value says why the thread ended (a node exits non-zero unless it
/// was [`Stopped::Shutdown`]). Panics on the thread are caught and reported by the
/// join handle as an `Err`.
pub fn spawn(
    config: StateConfig,
) -> std::io::Result<(StateHandle, PeerContext, std::thread::JoinHandle<Stopped>)> {
    let (state, handle, rx, committed) = State::new(config)?;
    let peer_ctx = state.peer_ctx.clone();
    let join = std::thread::Builder::new()
        .name("state".into())
        .spawn(move || state.run(rx, committed))?;
    Ok((handle, peer_ctx, join))
}

impl State {
    /// The state, loaded from the store, with the channel its commands arrive on.
    fn new(
        config: StateConfig,
    ) -> std::io::Result<(
        State,
        StateHandle,
        Commands,
        Receiver<crate::store::Committed>,
    )> {
        let (handle, rx) = StateHandle::channel();
        let peer_ctx = PeerContext {
            identity: config.identity.clone(),
            port: config.port,
            name: NameCell::new(&config.name),
            state: handle.clone(),
            handshake_timeout: config.handshake_timeout,
        };
        let seed = crate::rng::bytes::<8>()
            .map(u64::from_le_bytes)
            .unwrap_or(1);
        let (writer, reader) = config.store;
        let downloads = config
            .downloads
            .clone()
            .unwrap_or_else(|| config.data_dir.path().join(crate::files::FILES_DIR));
        let mut state = State {
            own_id: config.identity.id(),
            identity: config.identity,
            name: config.name,
            port: config.port,
            data_dir: config.data_dir,
            subs: Subscribers::default(),
            peers: peers::PeerTable::default(),
            dialer: dialer::Dialer::new(seed, config.configured),
            peer_ctx,
            dial: config.dial,
            reach: config.reach,
            reach_jobs: 0,
            panic_at_first_tick: config.panic_at_first_tick,
            durable: durable::Durable::new(writer, reader),
            next_seq: 1,
            trimmer: crate::memory::Trimmer::new(Instant::now(), config.code.clone()),
            identity_file_failing: false,
            clock: config.clock,
            transfers: files::Transfers::default(),
            groups: groups::Groups::default(),
            downloads,
            auto_accept_images: config.auto_accept_images,
            about: config.about,
            started: Instant::now(),
            discovery_stats: None,
            idle_session: config.idle_session,
            announcer: announce::Announcer::new(config.announce, config.port),
        };
        if let Some(s) = state.about.beacon_interval_s {
            state.peers.set_beacon_interval(Duration::from_secs(s));
        }
        state
            .peers
            .set_strangers_per_minute(config.strangers_per_minute);
        state.load(Instant::now())?;
        // What opening, migrating and loading the store used goes back to the kernel
        // now, not at the trimmer's first tick.
        state.durable.reader.release_memory();
        crate::memory::trim();
        Ok((state, handle, rx, config.committed))
    }
}

/// The wall clock, for what users see as dates: message `ts`, `first_seen`, `last_seen`.
/// Nothing that orders messages (`seq`) or times anything (deadlines, backoff, pings:
/// `Instant`, which does not jump) reads it. `offset_ms` is the hidden
/// `--clock-offset-ms`: a test can run a node whose clock is off by an hour without
/// touching the machine's clock (CLOCK_REALTIME cannot be namespaced).
#[derive(Debug, Clone, Copy, Default)]
pub struct Clock {
    /// Added to the system's time.
    pub offset_ms: i64,
}

impl Clock {
    /// Unix time in milliseconds, as this node sees it.
    pub fn now_ms(self) -> i64 {
        let system = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        system.saturating_add(self.offset_ms)
    }
}

/// A turn of the state loop longer than this is logged: every UI and peer waited.
const SLOW_TURN: Duration = Duration::from_millis(50);

impl State {
    fn run(mut self, rx: Commands, committed: Receiver<crate::store::Committed>) -> Stopped {
        let ticker = tick(Duration::from_secs(1));
        self.on_tick(Instant::now());
        let mut since_flush = 0;
        let stopped = loop {
            // Events waiting beyond a UI's queue move only when we look: while some
            // do, wake every 2 ms even without commands.
            // Likewise, queues of peers whose outbox is being re-sent are topped up as
            // their writers drain them (no one tells us when).
            let backlog_wait = if self.subs.backlogged() || self.peers.any_resending() {
                after(outbox::RESEND_POLL)
            } else {
                never()
            };
            // The turn starts when something arrives, not when the wait began: handlers
            // are given that moment as `now`, and a slow turn is measured from it.
            let (what, started) = select! {
                recv(rx) -> cmd => match cmd.map(|boxed| *boxed) {
                    Ok(Command::Shutdown) | Err(_) => break Stopped::Shutdown,
                    Ok(cmd) => {
                        let (kind, now) = (cmd.kind(), Instant::now());
                        self.handle(cmd, now);
                        (kind, now)
                    }
                },
                recv(committed) -> done => match done {
                    Ok(done) => {
                        let now = Instant::now();
                        self.on_committed(done, now);
                        ("Committed", now)
                    }
                    Err(_) => break Stopped::StoreWriterGone,
                },
                recv(ticker) -> _ => {
                    assert!(!self.panic_at_first_tick, "fault injected by --fault-panic state");
                    let now = Instant::now();
                    self.durable.resubmit();
                    self.keep_identity_file();
                    self.on_tick(now);
                    self.trimmer.tick(now);
                    ("tick", now)
                }
                recv(backlog_wait) -> _ => ("backlog", Instant::now()),
            };
            since_flush += 1;
            let flush = rx.is_empty() || since_flush >= UNREAD_BATCH;
            let handled = started.elapsed();
            self.after_turn(flush, Instant::now());
            // Everything else waits meanwhile (UIs, peers): a slow turn is worth a line.
            let took = started.elapsed();
            if took >= SLOW_TURN {
                log::info!(
                    "state: a turn took {took:.1?} ({what}: {handled:.1?}, then the turn's end)"
                );
            }
            if flush {
                since_flush = 0;
            }
        };
        log::debug!("state thread stopped ({stopped:?}); flushing the store");
        // Dropping `self` drops the writer, which commits what is queued before it ends.
        stopped
    }

    /// What every turn of the loop ends with, whatever woke it: finish taking dropped
    /// peers offline, move UI backlogs, top up outboxes, and (when `flush`) send the
    /// `peer` events that incoming messages only marked.
    fn after_turn(&mut self, flush: bool, now: Instant) {
        self.after_dropped_links(now);
        self.subs.pump();
        self.refill_outboxes();
        if flush && self.peers.has_changes() {
            self.flush_unread();
        }
        if flush {
            self.flush_group_receipts();
        }
    }

    /// Puts `identity.key` back if it was deleted (one `stat` a tick): the key is in
    /// memory, and a restart without the file would mint a new identity. The user is
    /// told; a failure to write it (a read-only data dir) is logged once until it works.
    fn keep_identity_file(&mut self) {
        let path = self.data_dir.identity_path();
        match self.data_dir.restore_identity_if_missing(&self.identity) {
            Ok(false) => self.identity_file_failing = false,
            Ok(true) => {
                self.identity_file_failing = false;
                let text = format!(
                    "{} was deleted while purr was running; it has been written back from memory (same identity)",
                    path.display()
                );
                log::warn!("{text}");
                self.subs.broadcast(&crate::api::Event::error(text, None));
            }
            Err(e) => {
                if !self.identity_file_failing {
                    self.identity_file_failing = true;
                    let text = format!(
                        "{} is missing and cannot be written back ({e}); a restart now would create a new identity",
                        path.display()
                    );
                    log::error!("{text}");
                    self.subs.broadcast(&crate::api::Event::error(text, None));
                }
            }
        }
    }

    /// Loads contacts, unread counts, pending messages and the next `seq` from the store.
    ///
    /// Stored rows of strangers (nodes before issue 16 stored every peer that ever
    /// handshook: thousands, after a flood of minted identities) are not loaded as
    /// contacts: a row without messages that is not verified is deleted
    /// (`Op::ForgetContacts`), and kept in memory as a stranger only if it was seen
    /// within [`peers::STRANGER_TTL`] (a peer of a moment ago, or a configured one,
    /// which becomes a contact again when it answers).
    fn load(&mut self, at: Instant) -> std::io::Result<()> {
        let reader = &self.durable.reader;
        let err = |e: crate::store::StoreError| std::io::Error::other(e.to_string());
        let contacts = reader.contacts().map_err(err)?;
        let unread = reader.unread_counts().map_err(err)?;
        let messaged = reader.peers_with_messages().map_err(err)?;
        self.next_seq = reader.max_seq().map_err(err)? + 1;
        let now_ms = self.clock.now_ms();
        let recent_ms = i64::try_from(peers::STRANGER_TTL.as_millis()).unwrap_or(i64::MAX);
        let mut forget = Vec::new();
        for c in contacts {
            let id = c.id;
            if !c.verified && !messaged.contains(&id) {
                forget.push(id);
                let recent = c
                    .last_seen
                    .is_some_and(|seen| now_ms.saturating_sub(seen) < recent_ms);
                if recent {
                    let mut stranger = peers::Contact::new(id, c.name, c.first_seen);
                    stranger.addrs = c.addrs;
                    stranger.last_seen = c.last_seen;
                    self.peers.insert_stranger(stranger, at);
                }
                continue;
            }
            for m in reader.outbox(&id).map_err(err)? {
                self.durable.outgoing.insert(m.id, (id, m.status, m.seq));
            }
            let mut contact = peers::Contact::new(id, c.name, c.first_seen);
            contact.addrs = c.addrs;
            contact.last_seen = c.last_seen;
            contact.verified = c.verified;
            contact.unread = unread.get(&c.id).copied().unwrap_or(0);
            contact.messaged = messaged.contains(&c.id);
            self.peers.insert(contact);
        }
        self.load_transfers().map_err(err)?;
        self.load_groups().map_err(err)?;
        if !forget.is_empty() {
            log::info!(
                "forgetting {} stored peers that were only ever strangers (no messages, not verified)",
                forget.len()
            );
            let op = crate::store::Op::ForgetContacts { ids: forget };
            self.durable.submit(op, durable::After::Nothing);
        }
        Ok(())
    }

    /// Stores the contact's current name, addresses and last-seen time.
    /// Strangers are never stored (docs/SECURITY.md §2.6): only contacts.
    fn save_contact(&mut self, id: &NodeId) {
        let Some(c) = self.peers.get(id).filter(|c| !c.is_stranger()) else {
            return;
        };
        let op = crate::store::Op::UpsertContact(crate::store::Contact {
            id: c.id,
            name: c.name.clone(),
            addrs: c.stored_addrs(),
            first_seen: c.first_seen,
            last_seen: c.last_seen,
            verified: c.verified,
        });
        self.durable.submit(op, durable::After::Nothing);
    }

    fn handle(&mut self, cmd: Command, now: Instant) {
        match cmd {
            Command::Subscribe { sub, tx, closer } => self.subs.add(sub, tx, closer),
            Command::Unsubscribe { sub } => self.subs.remove(sub),
            Command::Ui { sub, cmd } => self.on_ui(sub, cmd, now),
            Command::Api { req, reply } => self.on_api(req, reply, now),
            Command::PeerUp { up, dialed } => self.on_peer_up(up, dialed, now),
            Command::PeerMsg {
                conn,
                inner,
                charge,
            } => {
                self.on_peer_msg(conn, inner, now);
                // Handled: the connection may hand on that many bytes more.
                drop(charge);
            }
            Command::PeerDown { conn } => self.on_peer_down(conn, now),
            Command::DialFailed { target, error } => self.on_dial_failed(target, error, now),
            Command::Discovered { id, addr, via } => self.on_discovered(id, addr, via, now),
            Command::File(event) => self.on_file_event(event),
            Command::DiscoveryStats(stats) => self.discovery_stats = Some(stats),
            Command::OwnAddrs(own) => self.on_own_addrs(own, now),
            Command::ReachDone {
                peer,
                nonce,
                results,
            } => self.on_reach_done(peer, nonce, results),
            Command::Shutdown => {}
        }
    }

    fn on_api(&mut self, req: ApiRequest, reply: Sender<ApiReply>, now: Instant) {
        let answer = match req {
            ApiRequest::Me => ApiReply::Me(self.me()),
            ApiRequest::Peers => {
                let (peers, left_out) = self.peers.all_api();
                ApiReply::Peers(peers, left_out)
            }
            ApiRequest::Diag => {
                // Someone is looking: answers older than a minute are asked for again,
                // so the next look shows a firewall fixed meanwhile.
                self.refresh_reach(now);
                ApiReply::Diag(Box::new(self.diag_facts(now)))
            }
            ApiRequest::OpenSession { peer } => match self.known_peer(&peer, now) {
                Some(id) if self.open_session(&id, now) => match self.peers.api(&id) {
                    Some(p) => ApiReply::Peer(p),
                    None => ApiReply::Refused(Refusal::UnknownPeer(peer)),
                },
                Some(_) => ApiReply::Refused(Refusal::Busy(
                    "no address to dial it, or it was tried moments ago; try again in a few seconds"
                        .into(),
                )),
                None => ApiReply::Refused(Refusal::UnknownPeer(peer)),
            },
            ApiRequest::Messages {
                peer,
                before,
                limit,
            } => match self.known_peer(&peer, now) {
                Some(id) => match self.history(&id, before, limit) {
                    Ok(m) => ApiReply::Messages(m),
                    Err(e) => ApiReply::Refused(Refusal::Store(e)),
                },
                None => ApiReply::Refused(Refusal::UnknownPeer(peer)),
            },
            ApiRequest::Send { to, text } => match self.known_peer(&to, now) {
                // Answered once committed (After::Outgoing).
                Some(id) => match self.send_message(id, text, Some(reply.clone()), now) {
                    Ok(()) => return,
                    Err(e) => ApiReply::Refused(e.into()),
                },
                None => ApiReply::Refused(Refusal::UnknownPeer(to)),
            },
            ApiRequest::OfferFile {
                to,
                source,
                thumb,
                caption,
                upload,
            } => match self.known_peer(&to, now) {
                // Answered once stored (After::OfferStored).
                Some(id) => {
                    match self.offer_file(id, source, (thumb, caption, upload), reply.clone()) {
                        None => return,
                        Some(refused) => refused,
                    }
                }
                None => ApiReply::Refused(Refusal::UnknownPeer(to)),
            },
            ApiRequest::Files => self.files_api(),
            ApiRequest::FileInfo { id } => self.file_info(&id),
            ApiRequest::FileAct { id, action } => self.file_action(&id, action),
            ApiRequest::FileContent { id } => self.file_content(&id),
            ApiRequest::FileThumb { id } => self.file_thumb(&id),
            req @ (ApiRequest::Groups
            | ApiRequest::GroupCreate { .. }
            | ApiRequest::GroupAct { .. }
            | ApiRequest::GroupSend { .. }
            | ApiRequest::GroupRead { .. }
            | ApiRequest::GroupMessages { .. }) => {
                match self.group_request(req, Some(reply.clone())) {
                    Some(answer) => answer,
                    None => return,
                }
            }
        };
        // The asker may have timed out and gone; nothing to do then.
        let _ = reply.try_send(answer);
    }

    /// A peer by full id: one in the table, or one heard by beacon, which is then
    /// given an entry (`sessions::adopt_nearby`) so its conversation can be used.
    fn known_peer(&mut self, peer: &str, now: Instant) -> Option<NodeId> {
        let id = crate::hex::decode_array::<32>(peer).ok()?;
        self.adopt_nearby(&id, now);
        self.peers.get(&id).is_some().then_some(id)
    }

    fn me(&self) -> Me {
        Me {
            id: self.identity.id_hex(),
            name: self.name.clone(),
            fingerprint: identity::fingerprint(&self.own_id),
            port: self.port,
            discovery: self.about.discovery,
        }
    }
}
