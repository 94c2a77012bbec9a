//! The bus: every type that crosses a channel between threads, and the channels' bounds.
//!
//! Connection threads (one per peer connection, dialers, HTTP, WebSocket), the
//! discovery thread and the state thread never import each other: they meet here. A
//! thread that wants something of the state sends a [`Command`] through a
//! [`StateHandle`]; the state answers through channels the command carries, or through
//! the per-connection queues it was handed ([`PeerUp::tx`], a UI's event queue).
//!
//! ```text
//!   ws threads ──Subscribe/Ui/Unsubscribe──┐
//!   http threads ──Api{reply}──────────────┤            ┌──▶ UI queues ──▶ ws writers
//!   peer conns ──PeerUp/PeerMsg/PeerDown───┼──▶ state ──┤
//!   dial threads ──DialFailed──────────────┤   (loop)   └──▶ peer queues ──▶ peer conns
//!                                          │              (+ doorbell)
//!   discovery thread ──Discovered, ────────┤
//!              DiscoveryStats              │
//!   main ──Shutdown────────────────────────┘
//! ```
//!
//! Besides the channels, two values are shared read-mostly: the identity (`Arc`, never
//! changes) and our display name ([`NameCell`], written by the state thread on
//! `rename`, read by connection threads for their `HAND`; a lock held only to clone an
//! `Arc`, never across I/O).

mod intake;

pub use intake::{Charge, Intake, Stalled, INTAKE_BYTES};

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};

use crate::api::{ClientCmd, HistoryPage, Me, Message, Peer};
use crate::doorbell::Doorbell;
use crate::identity::{Identity, NodeId};
use crate::peer::inner::{Inner, MsgId};
use crate::peer::session::Role;

/// How many commands may wait for the state thread before senders block. The queue holds
/// each command boxed: its ring is allocated whole when it is made, 4,096 pointers
/// (64 KiB with crossbeam's stamps) instead of 4,096 commands of ~200 bytes (850 KiB of
/// every node's RSS); a command's own bytes exist only while it waits.
pub const COMMAND_QUEUE_LEN: usize = 4096;

/// The state thread's end of the command queue.
pub type Commands = Receiver<Box<Command>>;
/// Records that may wait for a peer's connection thread; a full queue means the peer
/// cannot keep up.
pub const PEER_QUEUE_LEN: usize = 256;

/// A peer connection's outgoing queue ([`PEER_QUEUE_LEN`]): the state thread is its one
/// producer, and its slots are allocated as records wait (`crate::queue`), so an idle
/// connection does not hold 256 empty ones (35 KiB). Queueing rings the connection
/// thread's [`Doorbell`], and so does dropping the queue: the thread then sends what
/// is left and closes.
#[derive(Debug)]
pub struct PeerQueue {
    /// Always `Some` but while dropping: the sender must be gone before the bell rings,
    /// or the woken thread could find the queue still open and sleep on.
    queue: Option<crate::queue::Producer<Vec<u8>>>,
    bell: Arc<Doorbell>,
}

impl PeerQueue {
    /// Queues `msg` unless [`PEER_QUEUE_LEN`] records wait or the connection is gone.
    /// The record is dropped either way: the state keeps what it must re-send.
    ///
    /// It is encoded here, on the producer's thread, and waits as bytes: the message's
    /// own blocks (a `LIST`'s entries, names, address lists) are then freed by the
    /// thread that made them. Freed by the connection's thread, they stayed in that
    /// thread's glibc cache (tcache), up to 7 blocks of each size, for the connection's
    /// life: ~10 KiB per idle peer, measured.
    pub fn try_send(&self, msg: Inner) -> Result<(), TrySendError<()>> {
        let Some(queue) = &self.queue else {
            return Err(TrySendError::Disconnected(()));
        };
        let mut plain = Vec::with_capacity(64);
        msg.encode(&mut plain);
        drop(msg);
        queue.try_send(plain).map_err(|e| match e {
            TrySendError::Full(_) => TrySendError::Full(()),
            TrySendError::Disconnected(_) => TrySendError::Disconnected(()),
        })?;
        self.bell.ring();
        Ok(())
    }

    /// Records waiting.
    pub fn len(&self) -> usize {
        self.queue.as_ref().map_or(0, |q| q.len())
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for PeerQueue {
    fn drop(&mut self) {
        drop(self.queue.take());
        self.bell.ring();
    }
}

/// A peer connection's bulk lane for file chunks (`FCHK`, up to 128 KiB each,
/// [`BULK_QUEUE_LEN`] of them): the connection thread sends them only when no ordinary
/// record waits, so chat never queues behind a file. Its senders (the state and the
/// file workers) may wait for room.
#[derive(Debug, Clone)]
pub struct BulkLane {
    tx: Sender<Box<Inner>>,
    bell: Arc<Doorbell>,
}

impl BulkLane {
    /// Queues `msg`, waiting up to `patience` for room; the chunk is dropped if there
    /// was none (the receiver asks for it again) or the connection is gone.
    pub fn send_timeout(
        &self,
        msg: Inner,
        patience: Duration,
    ) -> Result<(), crossbeam_channel::SendTimeoutError<()>> {
        use crossbeam_channel::SendTimeoutError;
        self.tx
            .send_timeout(Box::new(msg), patience)
            .map_err(|e| match e {
                SendTimeoutError::Timeout(_) => SendTimeoutError::Timeout(()),
                SendTimeoutError::Disconnected(_) => SendTimeoutError::Disconnected(()),
            })?;
        self.bell.ring();
        Ok(())
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.tx.is_empty()
    }
}

/// A peer connection thread's ends of its queues, and the bell they ring.
///
/// Records wait encoded or boxed: crossbeam keeps a queue's last block of 31 slots (and
/// a bounded lane all its slots) allocated for the connection's life, and an `Inner` is
/// 128 bytes: 5 KiB per idle connection as `Inner`s, under 1 KiB this way.
#[derive(Debug)]
pub struct PeerOutbox {
    /// Records from the state ([`PeerQueue`]), encoded (`Inner::encode`), to be sealed.
    pub rx: Receiver<Vec<u8>>,
    /// File chunks ([`BulkLane`]).
    pub bulk: Receiver<Box<Inner>>,
    /// Rung when either gets a record, or the state lets go of the connection.
    pub bell: Arc<Doorbell>,
}

/// A connection's [`PeerQueue`] of [`PEER_QUEUE_LEN`], its [`BulkLane`], and the
/// connection thread's ends; fails only if the process is out of file descriptors
/// (the bell is an `eventfd`).
pub fn peer_queues() -> std::io::Result<(PeerQueue, BulkLane, PeerOutbox)> {
    peer_queues_of(PEER_QUEUE_LEN)
}

/// As [`peer_queues`], with room for `cap` ordinary records.
pub fn peer_queues_of(cap: usize) -> std::io::Result<(PeerQueue, BulkLane, PeerOutbox)> {
    let bell = Arc::new(Doorbell::new()?);
    let (queue, rx) = crate::queue::single_producer(cap);
    let (bulk_tx, bulk) = bounded(BULK_QUEUE_LEN);
    Ok((
        PeerQueue {
            queue: Some(queue),
            bell: bell.clone(),
        },
        BulkLane {
            tx: bulk_tx,
            bell: bell.clone(),
        },
        PeerOutbox { rx, bulk, bell },
    ))
}

/// Chunks that may wait in a peer's [`BulkLane`].
pub const BULK_QUEUE_LEN: usize = 8;
/// Events in one UI's queue (drained by its writer thread). A count, so kept small: an
/// event can be a 10 KB peer list.
pub const UI_QUEUE_LEN: usize = 1024;

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
    /// `charge` holds the record's bytes against the connection's [`Intake`] until the
    /// state drops the command.
    PeerMsg {
        conn: ConnId,
        inner: Inner,
        charge: Charge,
    },
    /// A peer connection ended.
    PeerDown { conn: ConnId },
    /// A dial produced no connection.
    DialFailed { target: String, error: DialError },
    /// A valid LAN beacon (SPEC §4) from `id`, which can be dialled at `addr` (the
    /// beacon's source IP, with its scope for IPv6 link-local, and the beacon's port).
    /// From the discovery thread; anyone on the LAN can forge one, so it is only a hint.
    /// `via` says how it came: a multicast or a unicast (`--scan`) beacon carry the same
    /// bytes and are acted on alike; an mDNS answer names the id in its TXT record.
    Discovered {
        id: NodeId,
        addr: SocketAddr,
        via: Heard,
    },
    /// A file worker's report (`crate::files`).
    File(FileEvent),
    /// Discovery's counters (beacons sent and failed per interface, beacons heard),
    /// after each round of beacons: what `GET /api/v1/diag` shows.
    DiscoveryStats(Box<DiscoveryStats>),
    /// This node's addresses on interfaces that are up now (at most
    /// [`MAX_OWN_ADDRS`]), from the discovery thread when they change: what the node
    /// announces (`ADDR`), and which links lost their local address.
    OwnAddrs(Vec<OwnAddr>),
    /// The dial-backs a peer asked for in `RBCK` are done (`conn::reach`); the state
    /// answers `RBRS` on that peer's link if it is still there.
    ReachDone {
        peer: NodeId,
        nonce: [u8; 16],
        results: Vec<crate::peer::reach::Tried>,
    },
    /// Stop the loop (SIGINT/SIGTERM).
    Shutdown,
}

/// What a file worker tells the state (`crate::files`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileEvent {
    /// The receiver's `.part` is ready (space checked, preallocated, or reopened).
    Prepared {
        id: MsgId,
        result: Result<(), String>,
    },
    /// A chunk is written (not yet synced): its credit may go back to the sender.
    Written { id: MsgId, index: u64 },
    /// These chunk ranges are fdatasync'd.
    Synced { id: MsgId, ranges: Vec<(u64, u64)> },
    /// The transfer cannot go on (a chunk that does not match its hash, the source
    /// changed, an I/O error): end it with this reason.
    Failed { id: MsgId, reason: String },
    /// The root checked and the file saved here, or why not.
    Completed {
        id: MsgId,
        result: Result<std::path::PathBuf, String>,
    },
}

/// A finished file as `GET /api/v1/files/<id>/content` serves it: the HTTP thread
/// opens `path` and serves it only if it still has this identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileContent {
    /// Where it is on disk (received: under the downloads folder; ours: the source).
    pub path: std::path::PathBuf,
    /// The name shown (received: already cleaned up).
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// Ours: the source's (mtime ns, inode) at the offer; an edited source is not served.
    pub identity: Option<(i64, u64)>,
}

/// What the user does to a transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileAction {
    Accept,
    Decline,
    Cancel,
    /// Hold back the credit of a file coming to us (the sender stops).
    Pause,
    Resume,
}

/// Requests of the local JSON API (SPEC §6).
#[derive(Debug, Clone, PartialEq)]
pub enum ApiRequest {
    /// `GET /api/v1/me`
    Me,
    /// `GET /api/v1/peers`
    Peers,
    /// `POST /api/v1/peers/<id>/connect`: open a session with a nearby peer now.
    OpenSession { peer: String },
    /// `GET /api/v1/messages?peer=&before=&limit=`
    Messages {
        peer: String,
        before: Option<i64>,
        limit: Option<u32>,
    },
    /// `POST /api/v1/messages`: answered once the message is committed.
    Send { to: String, text: String },
    /// `POST /api/v1/files`: offer a file already read by the HTTP thread.
    OfferFile {
        to: String,
        source: crate::files::Source,
        /// A small preview image (checked to be one, at most 32 KiB).
        thumb: Option<Vec<u8>>,
        /// Words under the file (checked: `rules::validate_caption`).
        caption: Option<String>,
        /// The file is the node's own upload copy (`<data-dir>/files/outgoing`), not a
        /// path the user named.
        upload: bool,
    },
    /// `GET /api/v1/files`
    Files,
    /// `GET /api/v1/files/<id>`
    FileInfo { id: String },
    /// `POST /api/v1/files/<id>/{accept,decline,cancel}`
    FileAct { id: String, action: FileAction },
    /// `GET /api/v1/files/<id>/content`: where the finished file is (the HTTP thread
    /// reads it, never the state).
    FileContent { id: String },
    /// `GET /api/v1/files/<id>/thumb`: the offer's preview image.
    FileThumb { id: String },
    /// `GET /api/v1/diag`: the state's part of the report (`crate::diag`).
    Diag,
    /// `GET /api/v1/groups`
    Groups,
    /// `POST /api/v1/groups {"name","members"}`
    GroupCreate { name: String, members: Vec<String> },
    /// `POST /api/v1/groups/<id>/{invite,remove,accept,decline,leave,rename}`
    GroupAct { group: String, action: GroupAction },
    /// `POST /api/v1/groups/<id>/messages`: answered once the message is committed.
    GroupSend { group: String, text: String },
    /// `POST /api/v1/groups/<id>/read {"upto"}`: read up to this item.
    GroupRead { group: String, upto: String },
    /// `GET /api/v1/groups/<id>/messages?before=&limit=`
    GroupMessages {
        group: String,
        /// A message id: the page ends just before it in display order.
        before: Option<String>,
        limit: Option<u32>,
    },
}

/// What the user does to a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupAction {
    Invite(String),
    Remove(String),
    Accept,
    Decline,
    Leave,
    Rename(String),
}

/// Answers to [`ApiRequest`]s.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiReply {
    Me(Me),
    /// Contacts, then a few strangers; how many strangers were left out.
    Peers(Vec<Peer>, usize),
    /// One peer as it is now (a session being opened: `202`).
    Peer(Peer),
    /// A history page; `truncated` when [`crate::api::PAGE_BYTES`] cut it short.
    Messages(HistoryPage),
    /// The message, stored (`201`).
    Sent(Message),
    /// A transfer (offered: `201`).
    File(crate::api::Transfer),
    /// Transfers.
    Files(Vec<crate::api::Transfer>),
    /// The file a transfer's content is served from.
    Content(FileContent),
    /// A transfer's preview image (at most 32 KiB).
    Thumb(Vec<u8>),
    /// The state's facts for `GET /api/v1/diag`.
    Diag(Box<crate::diag::StateFacts>),
    /// Groups.
    Groups(Vec<crate::api::Group>),
    /// A group (created: `201`).
    Group(crate::api::Group),
    /// A group message, stored (`201`).
    GroupSent(crate::api::GroupMessage),
    /// A page of a group's history.
    GroupMessages(crate::api::GroupPage),
    /// Done, nothing to say (`204`).
    Done,
    /// The request was refused; the HTTP layer picks the status code.
    Refused(Refusal),
}

/// Why the state refused an API request, by kind; `src/http/` maps each to a status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No contact with that id.
    UnknownPeer(String),
    /// No such thing (a transfer unknown, or its file not there yet): 404.
    NotFound(String),
    /// A field is out of its range (empty text, a bad `limit`).
    Invalid(String),
    /// The text is longer than [`crate::rules::MAX_TEXT_LEN`].
    TooLong(String),
    /// The disk is far behind; try again in a moment.
    Busy(String),
    /// The store failed to read or write.
    Store(String),
    /// Not allowed to this node (a group change only its owner may make): 403.
    Forbidden(String),
    /// Not in a state that allows it (a group we are not a member of, full): 409.
    Conflict(String),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::UnknownPeer(peer) => write!(f, "unknown peer {peer:?}"),
            Refusal::Invalid(why)
            | Refusal::NotFound(why)
            | Refusal::TooLong(why)
            | Refusal::Busy(why)
            | Refusal::Store(why)
            | Refusal::Forbidden(why)
            | Refusal::Conflict(why) => f.write_str(why),
        }
    }
}

impl Command {
    /// The variant's name, for logs that must not show what a command carries.
    pub fn kind(&self) -> &'static str {
        match self {
            Command::Subscribe { .. } => "Subscribe",
            Command::Unsubscribe { .. } => "Unsubscribe",
            Command::Ui { .. } => "Ui",
            Command::Api { .. } => "Api",
            Command::PeerUp { .. } => "PeerUp",
            Command::ReachDone { .. } => "ReachDone",
            Command::PeerMsg { .. } => "PeerMsg",
            Command::PeerDown { .. } => "PeerDown",
            Command::DialFailed { .. } => "DialFailed",
            Command::Discovered { .. } => "Discovered",
            Command::File(_) => "File",
            Command::DiscoveryStats(_) => "DiscoveryStats",
            Command::OwnAddrs(_) => "OwnAddrs",
            Command::Shutdown => "Shutdown",
        }
    }
}

/// A cloneable handle for sending commands to the state thread.
#[derive(Debug, Clone)]
pub struct StateHandle {
    tx: Sender<Box<Command>>,
}

impl StateHandle {
    /// A handle and the receiver its commands arrive on (bounded,
    /// [`COMMAND_QUEUE_LEN`]). The state thread owns the receiver; tests and fuzz
    /// targets that drive HTTP routing without a node may hold it instead: drop each
    /// command received (its reply sender with it) and every `ask` returns `None` at once.
    pub fn channel() -> (StateHandle, Commands) {
        let (tx, rx) = bounded(COMMAND_QUEUE_LEN);
        (StateHandle { tx }, rx)
    }

    /// [`StateHandle::channel`], under the name tests and fuzz targets know.
    #[doc(hidden)]
    pub fn detached() -> (StateHandle, Commands) {
        StateHandle::channel()
    }

    /// Sends a command; false when the state thread has stopped (the node is shutting down).
    pub fn send(&self, cmd: Command) -> bool {
        self.tx.send(Box::new(cmd)).is_ok()
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

/// Identifies one connected UI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SubId(u64);

impl SubId {
    /// A process-unique id.
    pub fn next() -> SubId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        SubId(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// Identifies one peer connection (a peer may have had many).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnId(u64);

impl ConnId {
    /// A process-unique id.
    pub fn next() -> ConnId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        ConnId(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// A fresh id for unit tests of code that keys on connections.
    #[doc(hidden)]
    pub fn for_tests() -> ConnId {
        ConnId::next()
    }
}

impl std::fmt::Display for ConnId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "c{}", self.0)
    }
}

/// A peer that just authenticated, as reported to the state thread.
#[derive(Debug)]
pub struct PeerUp {
    /// This connection.
    pub conn: ConnId,
    /// The peer's verified id.
    pub id: NodeId,
    /// The display name from its `HAND`.
    pub name: String,
    /// The name we put in our own `HAND`: if the node was renamed since, the peer must
    /// hear the new one as `NAME` (a rename only reaches peers already online).
    pub our_name: String,
    /// The listening port from its `HAND`.
    pub port: u16,
    /// Our role on this connection (decides duplicates, SPEC §7 step 3).
    pub role: Role,
    /// The socket's remote address.
    pub addr: SocketAddr,
    /// The socket's local address (`None` if the kernel did not say): a link whose
    /// local address leaves every interface that is up is dead (issue 20, point 3).
    pub local: Option<SocketAddr>,
    /// How it is reached, in words (`LAN 10.0.0.2`, `VPN wg0 10.8.0.2`): named by the
    /// connection thread ([`crate::diag::path::describe`]), which may read the
    /// interface list; the state thread must not.
    pub path: String,
    /// The connection's outgoing queue ([`PEER_QUEUE_LEN`]).
    pub tx: PeerQueue,
    /// Its bulk lane for file chunks ([`BULK_QUEUE_LEN`]), drained after `tx`.
    pub bulk: BulkLane,
}

/// Why a dial did not produce a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialError {
    /// The address did not resolve.
    Resolve(String),
    /// TCP connect failed: how, and the system's words.
    Connect(ConnectFailure, String),
    /// The handshake failed.
    Handshake(String),
    /// The address is this node.
    SelfConnection,
    /// No thread could be started for the dial.
    NoThread(String),
}

impl std::fmt::Display for DialError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DialError::Resolve(e) => write!(f, "cannot resolve: {e}"),
            DialError::Connect(_, e) => write!(f, "cannot connect: {e}"),
            DialError::Handshake(e) => write!(f, "handshake failed: {e}"),
            DialError::SelfConnection => write!(f, "that address is this node itself"),
            DialError::NoThread(e) => write!(f, "cannot start a dial thread: {e}"),
        }
    }
}

impl DialError {
    /// A failed `connect(2)`, classified.
    pub fn connect(e: &std::io::Error) -> DialError {
        use std::io::ErrorKind as K;
        let failure = match e.kind() {
            K::ConnectionRefused => ConnectFailure::Refused,
            K::TimedOut => ConnectFailure::TimedOut,
            K::NetworkUnreachable | K::HostUnreachable | K::AddrNotAvailable => {
                ConnectFailure::Unreachable
            }
            _ => ConnectFailure::Other,
        };
        DialError::Connect(failure, e.to_string())
    }
}

/// How a TCP connect failed, in the terms `purr doctor` explains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectFailure {
    /// Nothing listens there (a RST came back).
    Refused,
    /// No answer at all within the dial timeout (host off, packets dropped).
    TimedOut,
    /// No route to that network or host.
    Unreachable,
    /// Anything else.
    Other,
}

/// How discovery came to know of a node: where a [`Command::Discovered`] hint is from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Heard {
    /// Its beacon to the multicast group (SPEC §4).
    Multicast,
    /// The same beacon sent to our address: its `--scan`, or its answer to ours.
    Unicast,
    /// An mDNS answer for `_purr._tcp` (an Avahi service file; docs/PROTOCOL.md).
    Mdns,
}

/// Unicast discovery's counters (`--scan`, and unicast beacons heard and answered).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnicastStats {
    /// The `--scan` ranges (none: this node only hears and answers).
    pub ranges: Vec<String>,
    /// Sweeps started, probes sent, sends that failed.
    pub sweeps: u64,
    pub sent: u64,
    pub errors: u64,
    /// Distinct addresses in the ranges whose beacon came back (answers to probes).
    pub answered: u64,
    /// Valid unicast beacons heard from other nodes, and answers we sent to them.
    pub heard: u64,
    pub replies: u64,
}

/// mDNS browsing's counters (`_purr._tcp.local`, one-shot queries).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MdnsStats {
    /// Queries sent (one per interface per round) and sends that failed.
    pub queries: u64,
    pub errors: u64,
    /// Answers received, those refused as malformed, and purr nodes found in them.
    pub answers: u64,
    pub malformed: u64,
    pub found: u64,
}

/// Discovery's counters, as the discovery thread reports them (bounded: at most
/// [`MAX_STATS_IFACES`] interfaces and [`MAX_HEARD_SOURCES`] sources).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveryStats {
    /// When discovery started.
    pub since: std::time::Instant,
    pub ifaces: Vec<IfaceStats>,
    /// Per source id and interface, the most recently heard first.
    pub heard: Vec<HeardStats>,
    pub unicast: UnicastStats,
    pub mdns: MdnsStats,
}

/// Addresses in one [`Command::OwnAddrs`].
pub const MAX_OWN_ADDRS: usize = 64;

/// One of this node's addresses, on an interface that is up and running (not
/// loopback).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnAddr {
    pub ip: std::net::IpAddr,
    /// The interface's name.
    pub iface: String,
    /// What the interface probably is, from its name.
    pub kind: crate::diag::IfaceKind,
}

/// Interfaces counted in [`DiscoveryStats`].
pub const MAX_STATS_IFACES: usize = 32;
/// Beacon sources (id and interface) counted in [`DiscoveryStats`].
pub const MAX_HEARD_SOURCES: usize = 64;

/// Beacons sent on one interface (IPv4 and IPv6 together).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfaceStats {
    pub name: String,
    pub sent: u64,
    pub errors: u64,
    /// The last send error, and when.
    pub last_error: Option<(String, std::time::Instant)>,
}

/// Valid beacons from one id on one interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeardStats {
    pub id: NodeId,
    pub iface: String,
    /// The last address it was heard from (with the beacon's port).
    pub addr: SocketAddr,
    pub count: u64,
    pub first: std::time::Instant,
    pub last: std::time::Instant,
}

/// Our display name as connection threads read it for their `HAND`. The state thread
/// is its only writer (at start and on `rename`).
#[derive(Debug, Clone)]
pub struct NameCell(Arc<RwLock<Arc<str>>>);

impl NameCell {
    /// A cell holding `name`.
    pub fn new(name: &str) -> NameCell {
        NameCell(Arc::new(RwLock::new(Arc::from(name))))
    }

    /// The current name. A writer that panicked mid-write cannot leave a torn value (it
    /// only swaps an `Arc`), so a poisoned lock is read through.
    pub fn get(&self) -> Arc<str> {
        match self.0.read() {
            Ok(name) => name.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the name (the state thread, on `rename`).
    pub fn set(&self, name: &str) {
        let name = Arc::from(name);
        match self.0.write() {
            Ok(mut slot) => *slot = name,
            Err(poisoned) => *poisoned.into_inner() = name,
        }
    }
}

/// What connection threads need; cheap to clone.
#[derive(Debug, Clone)]
pub struct PeerContext {
    /// This node's identity (signs `AUTH`).
    pub identity: Arc<Identity>,
    /// Our listening port, advertised in `HAND`.
    pub port: u16,
    /// Our display name, advertised in `HAND`.
    pub name: NameCell,
    /// Where connection events go.
    pub state: StateHandle,
    /// SPEC §7 step 4 (10 s); shorter in tests.
    pub handshake_timeout: Duration,
}

/// How the state thread starts a dial without knowing the connection code: `node`
/// hands it the real one (`conn::peer::spawn_dial`), unit tests one that records the
/// target. The dial reports back with `PeerUp` or `DialFailed`; an `Err` here means it
/// never started.
pub type DialFn = fn(target: String, ctx: PeerContext) -> Result<(), DialError>;

/// Dial-backs a peer asked for (`RBCK`), already checked by the state: only addresses
/// it would dial for that peer anyway. Each is tried for its `HAND`, then closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReachJob {
    /// Who asked; the `HAND` that answers must name it.
    pub peer: NodeId,
    pub nonce: [u8; 16],
    /// Addresses to try (at most `peer::reach::MAX_REACH_ADDRS`).
    pub addrs: Vec<SocketAddr>,
}

/// How the state thread starts a [`ReachJob`] (`conn::reach::spawn` in a node; unit
/// tests record it). It reports with `Command::ReachDone`; `Err`: it never started.
pub type ReachFn = fn(job: ReachJob, ctx: PeerContext) -> Result<(), DialError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_cell_is_shared_by_its_clones() {
        let cell = NameCell::new("alice");
        let reader = cell.clone();
        cell.set("alice@kitchen");
        assert_eq!(&*reader.get(), "alice@kitchen");
    }
}
