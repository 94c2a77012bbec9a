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
//!   peer readers ──PeerUp/PeerMsg/PeerDown─┼──▶ state ──┤
//!   dial threads ──DialFailed──────────────┤   (loop)   └──▶ peer queues ──▶ peer writers
//!   discovery thread ──Discovered──────────┤
//!   signal handler ──Shutdown──────────────┘      ▲
//!                                    tick (1 s) ──┘  redials, configured addresses,
//!                                                    store retries, identity.key there,
//!                                                    malloc_trim every 10 s
//! ```
//!
//! Submodules: [`ui`] handles UI commands, [`peering`] peer events and dialing,
//! `peers` is the peer table, `dialer` the backoff policy, `subscribers` the UI queues.

pub mod dialer;
mod messages;
mod peering;
pub mod peers;
mod subscribers;
mod ui;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{after, bounded, never, select, tick, Receiver, Sender};

use crate::api::{ClientCmd, HistoryPage, Me, Message, Peer};
use crate::datadir::DataDir;
use crate::identity::{self, Identity, NodeId};
use crate::peer::conn::{ConnId, DialError, PeerContext, PeerUp};
use crate::peer::inner::Inner;

pub use messages::{
    MAX_UNSTORED, MAX_UNSTORED_BYTES, MAX_UNSTORED_INCOMING, MAX_UNSTORED_INCOMING_BYTES,
};
use subscribers::Subscribers;
pub use subscribers::{SubId, UI_QUEUE_LEN};
pub use ui::valid_target;

/// How many commands may wait for the state thread before senders block.
const COMMAND_QUEUE_LEN: usize = 4096;

/// What other threads ask of the state thread.
#[derive(Debug)]
pub enum Command {
    /// A UI connected; send its events to `tx`. `closer` is a clone of its socket, shut
    /// down if the UI stops reading.
    Subscribe {
        sub: SubId,
        tx: Sender<Arc<str>>,
        closer: Option<std::net::TcpStream>,
    },
    /// A UI went away.
    Unsubscribe { sub: SubId },
    /// A command from a UI.
    Ui { sub: SubId, cmd: ClientCmd },
    /// A request of the local JSON API; the answer goes to `reply`.
    Api {
        req: ApiRequest,
        reply: Sender<ApiReply>,
    },
    /// A peer authenticated (incoming or dialled; `dialed` names the dial target).
    PeerUp { up: PeerUp, dialed: Option<String> },
    /// A record from a peer (not PING/PONG, which the connection answers itself).
    PeerMsg { conn: ConnId, inner: Inner },
    /// A peer connection ended.
    PeerDown { conn: ConnId },
    /// A dial produced no connection.
    DialFailed { target: String, error: DialError },
    /// A valid LAN beacon (SPEC §4) from `id`, which can be dialled at `addr` (the
    /// beacon's source IP, with its scope for IPv6 link-local, and the beacon's port).
    /// From the discovery thread; anyone on the LAN can forge one, so it is only a hint.
    Discovered {
        id: NodeId,
        addr: std::net::SocketAddr,
    },
    /// Stop the loop (SIGINT/SIGTERM).
    Shutdown,
}

/// Requests of the local JSON API (SPEC §6).
#[derive(Debug, Clone, PartialEq)]
pub enum ApiRequest {
    /// `GET /api/v1/me`
    Me,
    /// `GET /api/v1/peers`
    Peers,
    /// `GET /api/v1/messages?peer=&before=&limit=`
    Messages {
        peer: String,
        before: Option<i64>,
        limit: Option<u32>,
    },
    /// `POST /api/v1/messages`: answered once the message is committed.
    Send { to: String, text: String },
}

/// Answers to [`ApiRequest`]s.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiReply {
    Me(Me),
    Peers(Vec<Peer>),
    /// A history page; `truncated` when [`crate::api::PAGE_BYTES`] cut it short.
    Messages(HistoryPage),
    /// The message, stored (`201`).
    Sent(Message),
    /// An HTTP status and a message for `{"error": ...}`.
    Error(u16, String),
}

/// A cloneable handle for sending commands to the state thread.
#[derive(Debug, Clone)]
pub struct StateHandle {
    tx: Sender<Command>,
}

impl StateHandle {
    /// A handle whose commands arrive on the returned receiver instead of at a state
    /// thread: for tests and fuzz targets that drive HTTP routing without a node. Drop
    /// each command received (its reply sender with it) and every `ask` returns `None`
    /// at once.
    #[doc(hidden)]
    pub fn detached() -> (StateHandle, Receiver<Command>) {
        let (tx, rx) = bounded(COMMAND_QUEUE_LEN);
        (StateHandle { tx }, rx)
    }

    /// Sends a command; false when the state thread has stopped (the node is shutting down).
    pub fn send(&self, cmd: Command) -> bool {
        self.tx.send(cmd).is_ok()
    }

    /// Asks an API question and waits (bounded) for the answer.
    pub fn ask(&self, req: ApiRequest) -> Option<ApiReply> {
        self.ask_within(req, Duration::from_secs(5))
    }

    /// [`StateHandle::ask`] with a chosen patience.
    pub fn ask_within(&self, req: ApiRequest, patience: Duration) -> Option<ApiReply> {
        let (reply, rx) = bounded(1);
        if !self.send(Command::Api { req, reply }) {
            return None;
        }
        rx.recv_timeout(patience).ok()
    }
}

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
    /// `--connect`/`--peers` targets, and which id answered at each.
    configured: Vec<String>,
    target_owner: HashMap<String, NodeId>,
    /// UIs waiting for the outcome of their `connect`.
    pending_connects: HashMap<String, Vec<SubId>>,
    /// The store and the ops on their way to it.
    durable: messages::Durable,
    /// `seq` of the next message (SPEC §5), assigned here so a received message can be
    /// shown before it is committed.
    next_seq: i64,
    /// Online peers whose outbox is being re-sent, with the `seq` of the last message
    /// queued so far (see `messages::continue_outbox`).
    resending: HashMap<NodeId, i64>,
    /// When each backlogged peer last acknowledged anything: one that takes nothing for
    /// [`messages::STALL_LIMIT`] while records wait for it is disconnected (its messages
    /// stay pending and go out when it is back).
    last_progress: HashMap<NodeId, Instant>,
    /// Gives freed heap pages back to the kernel every 10 s (`memory`).
    trimmer: crate::memory::Trimmer,
    /// Peers whose unread count went up since their last `peer` event. Incoming
    /// messages only mark them; the event goes out once the commands waiting now are
    /// handled (at most [`UNREAD_BATCH`] later), so a burst of messages from one peer
    /// costs one `peer` event, not one per message.
    unread_changed: HashSet<NodeId>,
    /// `identity.key` is missing and could not be written back (reported once).
    identity_file_failing: bool,
    /// Wall-clock time for timestamps (see [`Clock`]).
    clock: Clock,
}

/// Commands handled at most before the unread counts that changed are sent to the UIs.
const UNREAD_BATCH: usize = 64;

/// Starts the state thread. Returns its handle and the join handle; the thread ends on
/// [`Command::Shutdown`].
pub fn spawn(
    config: StateConfig,
) -> std::io::Result<(StateHandle, PeerContext, std::thread::JoinHandle<()>)> {
    let (tx, rx) = bounded(COMMAND_QUEUE_LEN);
    let handle = StateHandle { tx };
    let peer_ctx = PeerContext {
        identity: config.identity.clone(),
        port: config.port,
        state: handle.clone(),
        handshake_timeout: config.handshake_timeout,
    };
    let seed = crate::rng::bytes::<8>()
        .map(u64::from_le_bytes)
        .unwrap_or(1);
    let (writer, reader) = config.store;
    let mut state = State {
        own_id: config.identity.id(),
        identity: config.identity,
        name: config.name,
        port: config.port,
        data_dir: config.data_dir,
        subs: Subscribers::default(),
        peers: peers::PeerTable::default(),
        dialer: dialer::Dialer::new(seed),
        peer_ctx: peer_ctx.clone(),
        configured: config.configured,
        target_owner: HashMap::new(),
        pending_connects: HashMap::new(),
        durable: messages::Durable::new(writer, reader),
        next_seq: 1,
        resending: HashMap::new(),
        last_progress: HashMap::new(),
        trimmer: crate::memory::Trimmer::new(Instant::now()),
        unread_changed: HashSet::new(),
        identity_file_failing: false,
        clock: config.clock,
    };
    state.load()?;
    let committed = config.committed;
    let join = std::thread::Builder::new()
        .name("state".into())
        .spawn(move || state.run(rx, committed))?;
    Ok((handle, peer_ctx, join))
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

impl State {
    fn run(mut self, rx: Receiver<Command>, committed: Receiver<crate::store::Committed>) {
        let ticker = tick(Duration::from_secs(1));
        self.on_tick(Instant::now());
        let mut since_flush = 0;
        loop {
            // Events waiting beyond a UI's queue move only when we look: while some
            // do, wake every 2 ms even without commands.
            // Likewise, queues of peers whose outbox is being re-sent are topped up as
            // their writers drain them (no one tells us when).
            let backlog_wait = if self.subs.backlogged() || !self.resending.is_empty() {
                after(messages::RESEND_POLL)
            } else {
                never()
            };
            select! {
                recv(rx) -> cmd => match cmd {
                    Ok(Command::Shutdown) | Err(_) => break,
                    Ok(cmd) => self.handle(cmd),
                },
                recv(committed) -> done => match done {
                    Ok(done) => self.on_committed(done),
                    Err(_) => break,
                },
                recv(ticker) -> _ => {
                    self.durable.resubmit();
                    self.keep_identity_file();
                    self.on_tick(Instant::now());
                    self.trimmer.tick(Instant::now());
                }
                recv(backlog_wait) -> _ => {}
            }
            self.after_dropped_links();
            self.subs.pump();
            if !self.resending.is_empty() {
                self.refill_outboxes();
            }
            since_flush += 1;
            if !self.unread_changed.is_empty() && (rx.is_empty() || since_flush >= UNREAD_BATCH) {
                self.flush_unread();
                since_flush = 0;
            }
        }
        log::debug!("state thread stopped; flushing the store");
        // Dropping `self` drops the writer, which commits what is queued before it ends.
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
    fn load(&mut self) -> std::io::Result<()> {
        let reader = &self.durable.reader;
        let err = |e: crate::store::StoreError| std::io::Error::other(e.to_string());
        let contacts = reader.contacts().map_err(err)?;
        let unread = reader.unread_counts().map_err(err)?;
        self.next_seq = reader.max_seq().map_err(err)? + 1;
        for c in contacts {
            let Ok(id) = crate::hex::decode_array::<32>(&c.id) else {
                continue;
            };
            for m in reader.outbox(&c.id).map_err(err)? {
                if let Ok(mid) = m.id.parse() {
                    self.durable.outgoing.insert(mid, (id, m.status, m.seq));
                }
            }
            let mut contact = peers::Contact::new(id, c.name, c.first_seen);
            contact.addrs = c.addrs.iter().filter_map(|a| a.parse().ok()).collect();
            contact.last_seen = c.last_seen;
            contact.verified = c.verified;
            contact.unread = unread.get(&c.id).copied().unwrap_or(0);
            self.peers.insert(contact);
        }
        Ok(())
    }

    /// Stores the contact's current name, addresses and last-seen time.
    fn save_contact(&mut self, id: &NodeId) {
        let Some(c) = self.peers.get(id) else {
            return;
        };
        let op = crate::store::Op::UpsertContact(crate::store::Contact {
            id: crate::hex::encode(&c.id),
            name: c.name.clone(),
            addrs: c.addrs.iter().map(ToString::to_string).collect(),
            first_seen: c.first_seen,
            last_seen: c.last_seen,
            verified: c.verified,
            pinned_key: c.id,
        });
        self.durable.submit(op, messages::After::Nothing);
    }

    fn handle(&mut self, cmd: Command) {
        match cmd {
            Command::Subscribe { sub, tx, closer } => self.subs.add(sub, tx, closer),
            Command::Unsubscribe { sub } => self.subs.remove(sub),
            Command::Ui { sub, cmd } => self.on_ui(sub, cmd),
            Command::Api { req, reply } => self.on_api(req, reply),
            Command::PeerUp { up, dialed } => self.on_peer_up(up, dialed),
            Command::PeerMsg { conn, inner } => self.on_peer_msg(conn, inner),
            Command::PeerDown { conn } => self.on_peer_down(conn),
            Command::DialFailed { target, error } => self.on_dial_failed(target, error),
            Command::Discovered { id, addr } => self.on_discovered(id, addr),
            Command::Shutdown => {}
        }
    }

    fn on_api(&mut self, req: ApiRequest, reply: Sender<ApiReply>) {
        let answer = match req {
            ApiRequest::Me => ApiReply::Me(self.me()),
            ApiRequest::Peers => ApiReply::Peers(self.peers.all_api()),
            ApiRequest::Messages {
                peer,
                before,
                limit,
            } => match self.known_peer(&peer) {
                Some(id) => match self.history(&id, before, limit) {
                    Ok(m) => ApiReply::Messages(m),
                    Err(e) => ApiReply::Error(500, e),
                },
                None => ApiReply::Error(404, format!("unknown peer {peer:?}")),
            },
            ApiRequest::Send { to, text } => match self.known_peer(&to) {
                // Answered once committed (After::Outgoing).
                Some(id) => match self.send_message(id, text, Some(reply.clone())) {
                    Ok(()) => return,
                    Err((code, e)) => ApiReply::Error(code, e),
                },
                None => ApiReply::Error(404, format!("unknown peer {to:?}")),
            },
        };
        // The asker may have timed out and gone; nothing to do then.
        let _ = reply.try_send(answer);
    }

    /// A contact by full id.
    fn known_peer(&self, peer: &str) -> Option<NodeId> {
        crate::hex::decode_array::<32>(peer)
            .ok()
            .filter(|id| self.peers.get(id).is_some())
    }

    fn me(&self) -> Me {
        Me {
            id: self.identity.id_hex(),
            name: self.name.clone(),
            fingerprint: identity::fingerprint(&self.own_id),
            port: self.port,
        }
    }
}
