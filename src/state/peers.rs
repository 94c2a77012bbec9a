//! The peer table: every contact this node has authenticated, where each one stands,
//! and which connection belongs to whom.
//!
//! A contact is its id (its key), never its name. Where it stands is one value,
//! [`Presence`], changed only by the methods of [`PeerTable`], each through
//! `set_presence`, which logs `old => new`:
//!
//! ```text
//!            PeerUp (accepted)                 outbox has more than a window / queue full
//!   offline ─────────────────▶ online(idle) ─────────────────────────────▶ online(resending)
//!      ▲                          │   ▲                                        │  │
//!      │ PeerDown (its conn),     │   └──────── outbox through ────────────────┘  │ ACKN:
//!      │ queue full, stalled,     │                                               │ progress
//!      └──── disk far behind ─────┴───────────────────────────────────────────────┘
//!
//!   online ──PeerUp that wins over the link (SPEC §7 step 3)──▶ online(new link), old closed
//! ```
//!
//! **Strangers** (docs/SECURITY.md §2.6). Anyone on the LAN can mint identities, and a
//! handshake used to make a stored contact of each. A peer we have only authenticated is
//! a [`Standing::Stranger`]: kept in memory only, at most [`MAX_STRANGERS`] (the one seen
//! longest ago goes first, offline before online), forgotten [`STRANGER_TTL`] after its
//! session ended, and admitted at most [`DEFAULT_STRANGERS_PER_MINUTE`] new ones per
//! source network (/24, /64) a minute. It becomes a contact (and only then is stored)
//! when a message goes either way, the user verifies it, or the user chose its address
//! (`--connect`, `--peers`, the UI's `connect`); a contact is never evicted.
//!
//! ```text
//!   (unknown) ──PeerUp, admitted──▶ stranger ──message / verify / configured──▶ contact
//!                  │ refused (rate)     │ evicted (table full), expired (10 min offline)
//!                  ▼                    ▼
//!               closed              forgotten
//! ```
//!
//! A second authenticated connection to the same id is settled by SPEC §7 step 3
//! (`keep_existing`): both ends compute the same winner, the loser is closed by dropping
//! its queue sender. Dials in flight are the dialer's (they are keyed by address, and
//! most have no contact yet); a contact is offline until a session is up.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crossbeam_channel::TrySendError;

use crate::api;
use crate::bus::{BulkLane, ConnId, PeerQueue, PeerUp};
use crate::identity::NodeId;
use crate::peer::inner::{
    hint_addr_ok, Inner, ListEntry, MAX_ADDRS as MAX_LIST_ADDRS, MAX_LIST_ENTRIES,
};
use crate::peer::{keep_existing, Role};
use crate::rules::short_id as short;
use crate::rules::{name_skeleton, normalize_name};

use super::nearby::{Heard, Nearby};

/// Addresses remembered per contact (most recent first).
const MAX_ADDRS: usize = 8;
/// Strangers kept in memory at most (issue 16, point 2): a flood of minted identities
/// costs this many small entries, never a contact.
pub const MAX_STRANGERS: usize = 256;
/// A stranger is forgotten this long after its session ended.
pub const STRANGER_TTL: Duration = Duration::from_secs(600);
/// New stranger identities admitted per source network (/24, /64) per minute, unless
/// `--strangers-per-minute` says otherwise. An honest LAN meets a few new peers a day.
pub const DEFAULT_STRANGERS_PER_MINUTE: u32 = 30;
/// The window of that rate.
const STRANGER_WINDOW: Duration = Duration::from_secs(60);
/// Source networks whose rate is tracked at once; past it new networks are refused until
/// a window ends (a LAN has a handful).
const MAX_GATE_NETWORKS: usize = 1024;
/// Strangers in a `peers` answer (UI and API) at most, online and most recently seen
/// first; the answer says how many were left out. Contacts are always all there.
pub const MAX_STRANGERS_SHOWN: usize = 32;

/// A live, authenticated connection.
#[derive(Debug)]
pub struct Link {
    pub conn: ConnId,
    pub tx: PeerQueue,
    pub role: Role,
    /// The socket's remote address.
    pub remote: SocketAddr,
    /// How it is reached, in words (`PeerUp::path`).
    pub path: String,
    /// Its bulk lane for file chunks.
    pub bulk: BulkLane,
    /// The socket's local address: the link is dropped when it leaves our interfaces.
    pub local: Option<SocketAddr>,
    /// Whether it takes our `ADDR`, and the pace of its own (`state/announce.rs`);
    /// boxed, so that an offline `Presence` stays small.
    pub announce: Box<super::announce::LinkAnnounce>,
    /// Whether the peer announced `files` in `CAPS` (`None`: no `CAPS` yet).
    pub files: Option<bool>,
    /// Whether the peer announced `groups` in `CAPS` (`None`: no `CAPS` yet).
    pub groups: Option<bool>,
    /// When the session last carried traffic either way (a message, a receipt, a file
    /// or group record; not pings, `LIST`, `CAPS` or `NAME`), or started: what the idle
    /// close of an on-demand session goes by (`sessions`).
    pub active: Instant,
    /// We queued traffic since the last tick (made `active` by
    /// [`PeerTable::settle_traffic`]: `send` has no `Instant`).
    pub sent_traffic: bool,
    /// The peer dialled us again right after we closed its idle session: it keeps a
    /// session with us (we are its contact), so this one is not closed when idle.
    pub wanted_by_peer: bool,
    /// Whether the peer announced `reach` in `CAPS` (it answers `RBCK`).
    pub reach: bool,
}

/// Where a contact stands. See the module docs for the transitions.
#[derive(Debug, Default)]
pub enum Presence {
    /// No live session.
    #[default]
    Offline,
    /// A live session, how its outbox is being sent, and how our `READ`s to it are
    /// confirmed.
    Online {
        /// Boxed: an offline contact (most of them) then costs a pointer, not a link.
        link: Box<Link>,
        outbox: Outbox,
        reads: Reads,
        /// A newer connection held while this link is probed (see [`Probe`]).
        probe: Option<Box<Probe>>,
    },
}

/// A second authenticated connection that the duplicate rule (SPEC §7 step 3) would
/// close, held while the live link is probed: that one may have died silently (the
/// peer rebooted, a NAT forgot it), and refusing the new one would lock the peer out
/// until our 45 s silence limit. The live link gets a `PING`; anything it sends back
/// within [`PROBE_WAIT`] proves it alive and the newer connection is closed as the rule
/// says (so both ends of an honest simultaneous dial still agree); otherwise, or if the
/// live link ends, the newer one takes its place.
#[derive(Debug)]
pub struct Probe {
    /// The newer connection, authenticated, not yet answered.
    pub candidate: PeerUp,
    /// When the live link was pinged.
    pub since: Instant,
    /// What the newer connection sent meanwhile (its LIST, CAPS, first messages),
    /// handled if it takes over; at most [`PROBE_HELD`] records.
    pub held: Vec<Inner>,
}

/// How long a live link has to answer a probe.
pub const PROBE_WAIT: std::time::Duration = std::time::Duration::from_secs(3);
/// Records a held connection may send before it is closed instead.
pub const PROBE_HELD: usize = 256;

/// How this session confirms the `READ`s we send (docs/PROTOCOL.md, `CAPS`/`RACK`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reads {
    /// The peer's `CAPS` (sent right after its `LIST`) has not come yet: READs wait.
    AwaitingCaps { since: Instant },
    /// A peer that does not confirm READs (nodes before 2026-12 send no `CAPS`): a READ
    /// counts as delivered once queued, and one lost with its connection stays lost.
    Unconfirmed,
    /// The peer confirms READs with `RACK`; each stays unsent in the store (and is sent
    /// again on the next session) until then. On this session, sent up to `seq`.
    Confirmed { sent_up_to: i64 },
}

/// How an online contact's pending messages go out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outbox {
    /// Nothing waits beyond what is in the link's queue: new messages go straight in.
    Idle,
    /// Pending messages are fed from the store a window at a time, in order. `after`:
    /// the `seq` of the last one queued; `progress`: when the peer last acknowledged
    /// anything (a peer that takes nothing for `STALL_LIMIT` is dropped).
    Resending { after: i64, progress: Instant },
}

impl std::fmt::Display for Presence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Presence::Offline => write!(f, "offline"),
            Presence::Online { link, outbox, .. } => match outbox {
                Outbox::Idle => write!(f, "online({})", link.conn),
                Outbox::Resending { after, .. } => {
                    write!(f, "online({}), resending after seq {after}", link.conn)
                }
            },
        }
    }
}

/// Whether a peer is a contact or only a stranger (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Messaged, verified or chosen by the user: stored in `purr.db`, never evicted.
    Contact,
    /// Only authenticated: in memory only. `seen`: when its last session started or
    /// ended (what eviction and expiry go by).
    Stranger { seen: Instant },
}

/// One peer in the table: a contact or a stranger ([`Standing`]).
#[derive(Debug)]
pub struct Contact {
    pub id: NodeId,
    pub name: String,
    /// Where it can be dialled: its IP as we saw it, with the port from its `HAND`.
    pub addrs: Vec<SocketAddr>,
    /// The addresses it announced (`ADDR`, at most 16), its latest word; dialled with
    /// `addrs` when it is offline (`state/addr_order.rs`).
    pub announced: Vec<crate::peer::addrs::Announced>,
    pub first_seen: i64,
    pub last_seen: Option<i64>,
    pub verified: bool,
    /// A message has gone either way between us (loaded from the store at start).
    pub messaged: bool,
    pub unread: u64,
    /// When we last closed an idle on-demand session with it (`sessions`): if it dials
    /// again right after, it wants the session, and the next one is kept.
    pub idle_closed: Option<Instant>,
    /// Its reachability questions and answers, and its clock skew (`state/reach.rs`).
    pub reach: super::reach::PeerReach,
    /// Where it stands; changed only through [`PeerTable`].
    presence: Presence,
    /// Contact or stranger; changed only through [`PeerTable`].
    standing: Standing,
}

impl Contact {
    /// A contact first met now.
    pub fn new(id: NodeId, name: String, now_ms: i64) -> Contact {
        Contact {
            id,
            name,
            addrs: Vec::new(),
            announced: Vec::new(),
            first_seen: now_ms,
            last_seen: None,
            verified: false,
            messaged: false,
            unread: 0,
            idle_closed: None,
            reach: Default::default(),
            presence: Presence::Offline,
            standing: Standing::Contact,
        }
    }

    /// Whether it is only a stranger (not stored, may be evicted).
    pub fn is_stranger(&self) -> bool {
        matches!(self.standing, Standing::Stranger { .. })
    }

    /// Its live connection, if it is online.
    pub fn link(&self) -> Option<&Link> {
        match &self.presence {
            Presence::Online { link, .. } => Some(link),
            Presence::Offline => None,
        }
    }

    /// Whether it has a live session.
    pub fn is_online(&self) -> bool {
        self.link().is_some()
    }

    /// Where it stands.
    pub fn presence(&self) -> &Presence {
        &self.presence
    }

    /// How its outbox is being sent (`None` when offline).
    pub fn outbox(&self) -> Option<Outbox> {
        match &self.presence {
            Presence::Online { outbox, .. } => Some(*outbox),
            Presence::Offline => None,
        }
    }

    /// What the store keeps of its addresses: those seen, then those it announced (a
    /// restarted node can then reach it on its VPN too); loaded back as seen ones.
    pub fn stored_addrs(&self) -> Vec<SocketAddr> {
        let mut all = self.addrs.clone();
        for a in &self.announced {
            if !all.contains(&a.addr) {
                all.push(a.addr);
            }
        }
        all
    }

    /// Remembers `addr` as the most recent dialable address.
    pub fn remember_addr(&mut self, addr: SocketAddr) {
        self.addrs.retain(|a| *a != addr);
        self.addrs.insert(0, addr);
        self.addrs.truncate(MAX_ADDRS);
    }
}

/// What [`PeerTable::up`] decided.
#[derive(Debug)]
pub enum UpOutcome {
    /// The connection is now the contact's link (`replaced` is the old one, closed by
    /// dropping it).
    Accepted { replaced: Option<Link> },
    /// The contact already has a link that wins; the new connection is closed.
    Duplicate,
    /// The live link would win, but it is being probed first ([`Probe`]): the caller
    /// pings it.
    Probing,
    /// A new stranger over its network's rate ([`DEFAULT_STRANGERS_PER_MINUTE`]); the
    /// connection is closed and nothing is kept.
    Refused,
}

/// New strangers per source network per minute: a fixed window per /24 (IPv4) or /64
/// (IPv6), at most [`MAX_GATE_NETWORKS`] networks tracked.
#[derive(Debug)]
struct StrangerGate {
    per_minute: u32,
    windows: HashMap<IpAddr, (Instant, u32)>,
}

impl Default for StrangerGate {
    fn default() -> Self {
        StrangerGate {
            per_minute: DEFAULT_STRANGERS_PER_MINUTE,
            windows: HashMap::new(),
        }
    }
}

/// The network a stranger's address counts against: its /24 or /64 (an IPv4-mapped
/// IPv6 address as IPv4).
pub fn network_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            IpAddr::from([a, b, c, 0])
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => network_of(IpAddr::V4(v4)),
            None => {
                let s = v6.segments();
                IpAddr::from([s[0], s[1], s[2], s[3], 0, 0, 0, 0])
            }
        },
    }
}

impl StrangerGate {
    /// Whether one more new stranger from `ip` is allowed at `now` (and counts it).
    fn admit(&mut self, ip: IpAddr, now: Instant) -> bool {
        let net = network_of(ip);
        if !self.windows.contains_key(&net) && self.windows.len() >= MAX_GATE_NETWORKS {
            self.prune(now);
            if self.windows.len() >= MAX_GATE_NETWORKS {
                return false;
            }
        }
        let (start, count) = self.windows.entry(net).or_insert((now, 0));
        if now.saturating_duration_since(*start) >= STRANGER_WINDOW {
            (*start, *count) = (now, 0);
        }
        if *count >= self.per_minute {
            return false;
        }
        *count += 1;
        true
    }

    /// Forgets windows that are over.
    fn prune(&mut self, now: Instant) {
        self.windows
            .retain(|_, (start, _)| now.saturating_duration_since(*start) < STRANGER_WINDOW);
    }
}

/// Result of queueing a record for a contact.
#[derive(Debug, PartialEq, Eq)]
pub enum Queued {
    Sent,
    Offline,
    /// The queue was full: the peer is too slow and has been disconnected.
    Dropped,
}

/// Every contact, by id, and which connection belongs to whom.
#[derive(Debug, Default)]
pub struct PeerTable {
    contacts: HashMap<NodeId, Contact>,
    conns: HashMap<ConnId, NodeId>,
    /// Links [`PeerTable::send`] dropped, for [`PeerTable::take_dropped`].
    dropped: Vec<NodeId>,
    /// Contacts whose `peer` view changed without an event yet (unread counts of a
    /// burst of messages: one event per batch, not per message).
    changed: HashSet<NodeId>,
    /// The ids in `contacts` that are strangers (at most [`MAX_STRANGERS`]).
    strangers: HashSet<NodeId>,
    /// The rate of new strangers per source network.
    gate: StrangerGate,
    /// Ids heard by LAN beacon lately (issue 21): nearby, whether in `contacts` or not.
    nearby: Nearby,
}

impl PeerTable {
    pub fn get(&self, id: &NodeId) -> Option<&Contact> {
        self.contacts.get(id)
    }

    pub fn get_mut(&mut self, id: &NodeId) -> Option<&mut Contact> {
        self.contacts.get_mut(id)
    }

    /// The live link of `id`, to note what its session said (`CAPS`, `ADDR`); its
    /// [`Presence`] still changes only through the methods below.
    pub fn link_mut(&mut self, id: &NodeId) -> Option<&mut Link> {
        match &mut self.contacts.get_mut(id)?.presence {
            Presence::Online { link, .. } => Some(link),
            Presence::Offline => None,
        }
    }

    /// Adds a contact known from before (the store), offline.
    pub fn insert(&mut self, contact: Contact) {
        self.strangers.remove(&contact.id);
        self.contacts.insert(contact.id, contact);
    }

    /// Adds a stranger seen recently before a restart (the store held it; it is not
    /// stored again unless it becomes a contact), offline, seen at `at`.
    pub fn insert_stranger(&mut self, mut contact: Contact, at: Instant) {
        if self.contacts.contains_key(&contact.id) {
            return;
        }
        if self.strangers.len() >= MAX_STRANGERS {
            self.evict_one();
        }
        contact.standing = Standing::Stranger { seen: at };
        self.strangers.insert(contact.id);
        self.contacts.insert(contact.id, contact);
    }

    pub fn contacts(&self) -> impl Iterator<Item = &Contact> {
        self.contacts.values()
    }

    /// The contact a live connection belongs to.
    pub fn peer_of(&self, conn: ConnId) -> Option<NodeId> {
        self.conns.get(&conn).copied()
    }

    pub fn is_online(&self, id: &NodeId) -> bool {
        self.contacts.get(id).is_some_and(Contact::is_online)
    }

    /// The connection `id` is online on, if it is.
    pub fn live_conn(&self, id: &NodeId) -> Option<ConnId> {
        self.contacts.get(id)?.link().map(|l| l.conn)
    }

    /// The one place a contact's [`Presence`] changes: logs `old => new`.
    fn set_presence(contact: &mut Contact, new: Presence, why: &str) -> Presence {
        log::debug!(
            "peer {}: {} => {new} ({why})",
            short(&contact.id),
            contact.presence
        );
        std::mem::replace(&mut contact.presence, new)
    }

    /// Beacons come every `interval` (`--beacon-interval`): a peer is nearby for three
    /// of them after its last.
    pub fn set_beacon_interval(&mut self, interval: std::time::Duration) {
        self.nearby = Nearby::new(interval);
    }

    /// A beacon from `id` at `addr` came at `now`; true if `id` was not nearby before.
    pub fn heard(&mut self, id: NodeId, addr: SocketAddr, now: Instant) -> bool {
        self.nearby.heard(id, addr, now)
    }

    /// What `id`'s beacons said, if it is nearby (heard lately).
    pub fn heard_of(&self, id: &NodeId) -> Option<&Heard> {
        self.nearby.get(id)
    }

    /// How many ids are heard by beacon lately.
    pub fn nearby_count(&self) -> usize {
        self.nearby.len()
    }

    /// Whether `id` is heard by beacon lately.
    pub fn is_nearby(&self, id: &NodeId) -> bool {
        self.nearby.contains(id)
    }

    /// Forgets ids whose beacons stopped (see [`Nearby::expire`]); returns them.
    pub fn expire_nearby(&mut self, now: Instant) -> Vec<(NodeId, Heard)> {
        self.nearby.expire(now)
    }

    /// Notes traffic on `id`'s session at `now` (what keeps an on-demand session open).
    pub fn touch(&mut self, id: &NodeId, now: Instant) {
        if let Some(Presence::Online { link, .. }) =
            self.contacts.get_mut(id).map(|c| &mut c.presence)
        {
            link.active = link.active.max(now);
        }
    }

    /// Sessions we queued traffic on since the last call count as active at `now`.
    pub fn settle_traffic(&mut self, now: Instant) {
        for id in self.conns.values() {
            if let Some(Presence::Online { link, .. }) =
                self.contacts.get_mut(id).map(|c| &mut c.presence)
            {
                if std::mem::take(&mut link.sent_traffic) {
                    link.active = link.active.max(now);
                }
            }
        }
    }

    /// Marks `id`'s session as one the peer wants kept (see [`Link::wanted_by_peer`]).
    pub fn wanted_by_peer(&mut self, id: &NodeId) {
        if let Some(Presence::Online { link, .. }) =
            self.contacts.get_mut(id).map(|c| &mut c.presence)
        {
            log::debug!(
                "peer {}: dialled again after an idle close: kept",
                short(id)
            );
            link.wanted_by_peer = true;
        }
    }

    /// When `id`'s session last carried traffic (`None` when offline).
    pub fn active_since(&self, id: &NodeId) -> Option<Instant> {
        self.contacts.get(id)?.link().map(|l| l.active)
    }

    /// Whether `id` has work on its session that an idle close must not cut: records
    /// waiting in its queues, an outbox being re-sent, or a probe under way; or the peer
    /// wants the session kept ([`Link::wanted_by_peer`]).
    pub fn busy(&self, id: &NodeId) -> bool {
        match self.contacts.get(id).map(|c| &c.presence) {
            Some(Presence::Online {
                link,
                outbox,
                probe,
                ..
            }) => {
                link.wanted_by_peer
                    || !link.tx.is_empty()
                    || !link.bulk.is_empty()
                    || matches!(outbox, Outbox::Resending { .. })
                    || probe.is_some()
            }
            _ => false,
        }
    }

    /// New strangers admitted per source network per minute (`--strangers-per-minute`).
    pub fn set_strangers_per_minute(&mut self, n: u32) {
        self.gate.per_minute = n;
    }

    /// A peer authenticated on a new connection. `own` is this node's id; `chosen`: the
    /// user chose its address (`--connect`, `--peers`, `connect`), so it is a contact
    /// from the start. An unknown id otherwise is a new stranger: refused over its
    /// network's rate, and admitted in place of the stranger seen longest ago when the
    /// table holds [`MAX_STRANGERS`].
    pub fn up(
        &mut self,
        own: &NodeId,
        up: PeerUp,
        now_ms: i64,
        at: Instant,
        chosen: bool,
    ) -> UpOutcome {
        if !self.contacts.contains_key(&up.id) {
            let mut fresh = Contact::new(up.id, normalize_name(&up.name), now_ms);
            if !chosen {
                if !self.gate.admit(up.addr.ip(), at) {
                    log::debug!(
                        "peer {}: a new stranger from {} over the rate of {} a minute: refused",
                        short(&up.id),
                        network_of(up.addr.ip()),
                        self.gate.per_minute
                    );
                    return UpOutcome::Refused;
                }
                if self.strangers.len() >= MAX_STRANGERS {
                    self.evict_one();
                }
                fresh.standing = Standing::Stranger { seen: at };
                self.strangers.insert(up.id);
                log::debug!("peer {}: (unknown) => stranger", short(&up.id));
            }
            self.contacts.insert(up.id, fresh);
        } else if chosen {
            self.promote(&up.id, "the user chose its address");
        }
        let Some(contact) = self.contacts.get_mut(&up.id) else {
            return UpOutcome::Refused;
        };
        if let Some(existing) = contact.link() {
            if keep_existing(own, &up.id, existing.role, up.role) {
                let Presence::Online { probe, link, .. } = &mut contact.presence else {
                    return UpOutcome::Duplicate;
                };
                if probe.is_some() {
                    return UpOutcome::Duplicate;
                }
                log::debug!(
                    "peer {}: {} arrived while {} is live: probing {}",
                    short(&up.id),
                    up.conn,
                    link.conn,
                    link.conn
                );
                self.conns.insert(up.conn, up.id);
                *probe = Some(Box::new(Probe {
                    candidate: up,
                    since: at,
                    held: Vec::new(),
                }));
                return UpOutcome::Probing;
            }
        }
        contact.name = normalize_name(&up.name);
        contact.last_seen = Some(now_ms);
        if let Standing::Stranger { seen } = &mut contact.standing {
            *seen = at;
        }
        contact.remember_addr(dialable(up.addr, up.port));
        let link = Link {
            conn: up.conn,
            tx: up.tx,
            role: up.role,
            remote: up.addr,
            path: up.path,
            bulk: up.bulk,
            local: up.local,
            announce: Default::default(),
            files: None,
            groups: None,
            active: at,
            sent_traffic: false,
            wanted_by_peer: false,
            reach: false,
        };
        let why = if contact.is_online() {
            "a newer connection wins"
        } else {
            "authenticated"
        };
        let old = Self::set_presence(
            contact,
            Presence::Online {
                link: Box::new(link),
                outbox: Outbox::Idle,
                reads: Reads::AwaitingCaps { since: at },
                probe: None,
            },
            why,
        );
        let replaced = match old {
            Presence::Online { link, probe, .. } => {
                self.conns.remove(&link.conn);
                if let Some(p) = probe {
                    self.conns.remove(&p.candidate.conn);
                }
                Some(*link)
            }
            Presence::Offline => None,
        };
        self.conns.insert(up.conn, up.id);
        UpOutcome::Accepted { replaced }
    }

    /// The contact whose probe holds `conn` as its newer connection.
    pub fn candidate_of(&self, conn: ConnId) -> Option<NodeId> {
        let id = self.conns.get(&conn)?;
        match &self.contacts.get(id)?.presence {
            Presence::Online { probe: Some(p), .. } if p.candidate.conn == conn => Some(*id),
            _ => None,
        }
    }

    /// Keeps a record the held connection of `id` sent; false (and the held connection
    /// closed) when it has sent more than [`PROBE_HELD`].
    pub fn hold(&mut self, id: &NodeId, inner: Inner) -> bool {
        let Some(Presence::Online { probe, .. }) =
            self.contacts.get_mut(id).map(|c| &mut c.presence)
        else {
            return false;
        };
        match probe {
            Some(p) if p.held.len() < PROBE_HELD => {
                p.held.push(inner);
                true
            }
            _ => {
                self.drop_probe(id, "the held connection sent too much");
                false
            }
        }
    }

    /// Takes the probe of `id` out (its held connection no longer routed here).
    pub fn take_probe(&mut self, id: &NodeId) -> Option<Box<Probe>> {
        let Presence::Online { probe, .. } = &mut self.contacts.get_mut(id)?.presence else {
            return None;
        };
        let p = probe.take()?;
        self.conns.remove(&p.candidate.conn);
        Some(p)
    }

    /// The live link of `id` answered (or the held connection ended): the held one is
    /// closed, as the duplicate rule says.
    pub fn drop_probe(&mut self, id: &NodeId, why: &str) {
        if let Some(p) = self.take_probe(id) {
            log::debug!("peer {}: {} closed: {why}", short(id), p.candidate.conn);
        }
    }

    /// Contacts whose live link has not answered its probe within `wait` before `now`.
    pub fn probes_overdue(&self, now: Instant, wait: std::time::Duration) -> Vec<NodeId> {
        self.conns
            .values()
            .filter(|id| {
                matches!(
                    self.contacts.get(*id).map(|c| &c.presence),
                    Some(Presence::Online { probe: Some(p), .. })
                        if now.saturating_duration_since(p.since) >= wait
                )
            })
            .copied()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect()
    }

    /// A connection ended. Returns the contact if it was that contact's live link.
    pub fn down(&mut self, conn: ConnId, now_ms: i64) -> Option<NodeId> {
        let id = self.conns.remove(&conn)?;
        let contact = self.contacts.get_mut(&id)?;
        if contact.link().is_some_and(|l| l.conn == conn) {
            Self::set_presence(contact, Presence::Offline, "connection ended");
            contact.last_seen = Some(now_ms);
            return Some(id);
        }
        None
    }

    /// Drops the contact's link ourselves (`why`: slow, stalled, our disk far behind);
    /// returns true if it had one. Dropping the link's sender closes the connection.
    pub fn disconnect(&mut self, id: &NodeId, now_ms: i64, why: &str) -> bool {
        let Some(contact) = self.contacts.get_mut(id) else {
            return false;
        };
        if !contact.is_online() {
            return false;
        }
        if let Presence::Online { link, probe, .. } =
            Self::set_presence(contact, Presence::Offline, why)
        {
            self.conns.remove(&link.conn);
            if let Some(p) = probe {
                self.conns.remove(&p.candidate.conn);
            }
        }
        contact.last_seen = Some(now_ms);
        true
    }

    /// A stranger's session ended at `at`: its expiry starts (no effect on contacts).
    pub fn saw(&mut self, id: &NodeId, at: Instant) {
        if let Some(Standing::Stranger { seen }) =
            self.contacts.get_mut(id).map(|c| &mut c.standing)
        {
            *seen = at;
        }
    }

    /// Makes a stranger a contact (`why`: a message, the user verified it or chose its
    /// address); true if it was a stranger, and the caller then stores it.
    pub fn promote(&mut self, id: &NodeId, why: &str) -> bool {
        let Some(c) = self.contacts.get_mut(id) else {
            return false;
        };
        if !c.is_stranger() {
            return false;
        }
        log::debug!("peer {}: stranger => contact ({why})", short(id));
        c.standing = Standing::Contact;
        self.strangers.remove(id);
        true
    }

    /// Forgets a stranger (never a contact); its link, if any, is dropped with it, which
    /// closes the connection.
    fn forget_stranger(&mut self, id: &NodeId, why: &str) {
        if !self.contacts.get(id).is_some_and(Contact::is_stranger) {
            return;
        }
        if let Some(c) = self.contacts.remove(id) {
            log::debug!("peer {}: stranger => forgotten ({why})", short(id));
            if let Some(link) = c.link() {
                self.conns.remove(&link.conn);
            }
        }
        self.strangers.remove(id);
        self.changed.remove(id);
    }

    /// Makes room for one stranger: the offline one seen longest ago, else the online
    /// one whose session is the oldest.
    fn evict_one(&mut self) {
        let oldest = self
            .strangers
            .iter()
            .filter_map(|id| self.contacts.get(id))
            .filter_map(|c| match c.standing {
                Standing::Stranger { seen } => Some((c.is_online(), seen, c.id)),
                Standing::Contact => None,
            })
            .min();
        if let Some((_, _, id)) = oldest {
            self.forget_stranger(&id, "the stranger table is full");
        }
    }

    /// Forgets strangers whose session ended [`STRANGER_TTL`] before `now`, and rate
    /// windows that are over; returns how many strangers went.
    pub fn expire_strangers(&mut self, now: Instant) -> usize {
        self.gate.prune(now);
        let expired: Vec<NodeId> = self
            .strangers
            .iter()
            .filter_map(|id| self.contacts.get(id))
            .filter(|c| match c.standing {
                Standing::Stranger { seen } => {
                    !c.is_online() && now.saturating_duration_since(seen) >= STRANGER_TTL
                }
                Standing::Contact => false,
            })
            .map(|c| c.id)
            .collect();
        for id in &expired {
            self.forget_stranger(id, "its session ended 10 minutes ago");
        }
        expired.len()
    }

    /// Strangers in the table.
    pub fn stranger_count(&self) -> usize {
        self.strangers.len()
    }

    /// Starts feeding `id`'s outbox from the store, after `seq` (`now`: its progress
    /// clock starts). No effect when it is offline or already resending.
    pub fn start_resending(&mut self, id: &NodeId, after: i64, now: Instant) {
        if let Some(c) = self.contacts.get_mut(id) {
            if c.outbox() == Some(Outbox::Idle) {
                let progress = now;
                Self::set_outbox(c, Outbox::Resending { after, progress });
            }
        }
    }

    /// The one place an online contact's [`Outbox`] changes state: logs `old => new`.
    fn set_outbox(contact: &mut Contact, new: Outbox) {
        let id = short(&contact.id);
        if let Presence::Online { outbox, link, .. } = &mut contact.presence {
            let name = |o: &Outbox| match o {
                Outbox::Idle => "idle".to_string(),
                Outbox::Resending { after, .. } => format!("resending after seq {after}"),
            };
            log::debug!(
                "peer {id} ({}): outbox {} => {}",
                link.conn,
                name(outbox),
                name(&new)
            );
            *outbox = new;
        }
    }

    /// The outbox of `id` was queued up to `seq`.
    pub fn resent_up_to(&mut self, id: &NodeId, seq: i64) {
        if let Some(Presence::Online {
            outbox: Outbox::Resending { after, .. },
            ..
        }) = self.contacts.get_mut(id).map(|c| &mut c.presence)
        {
            *after = seq;
        }
    }

    /// `id` acknowledged something at `now`: a resending outbox made progress.
    pub fn progress(&mut self, id: &NodeId, now: Instant) {
        if let Some(Presence::Online {
            outbox: Outbox::Resending { progress, .. },
            ..
        }) = self.contacts.get_mut(id).map(|c| &mut c.presence)
        {
            *progress = now;
        }
    }

    /// `id`'s outbox is through: new messages go straight to its queue again.
    pub fn outbox_done(&mut self, id: &NodeId) {
        if let Some(c) = self.contacts.get_mut(id) {
            if matches!(c.outbox(), Some(Outbox::Resending { .. })) {
                Self::set_outbox(c, Outbox::Idle);
            }
        }
    }

    /// How `id`'s session confirms our READs (`None` when offline).
    pub fn reads(&self, id: &NodeId) -> Option<Reads> {
        match &self.contacts.get(id)?.presence {
            Presence::Online { reads, .. } => Some(*reads),
            Presence::Offline => None,
        }
    }

    /// The one place a session's [`Reads`] changes: logs `old => new`.
    pub fn set_reads(&mut self, id: &NodeId, new: Reads) {
        if let Some(Presence::Online { reads, .. }) =
            self.contacts.get_mut(id).map(|c| &mut c.presence)
        {
            if *reads != new {
                log::debug!("peer {}: reads {reads:?} => {new:?}", short(id));
                *reads = new;
            }
        }
    }

    /// Notes whether the peer takes files (its `CAPS`, or none in time).
    pub fn set_files_cap(&mut self, id: &NodeId, files: bool) {
        if let Some(Presence::Online { link, .. }) =
            self.contacts.get_mut(id).map(|c| &mut c.presence)
        {
            link.files = Some(files);
        }
    }

    /// Notes whether the peer takes group kinds (its `CAPS`).
    pub fn set_groups_cap(&mut self, id: &NodeId, groups: bool) {
        if let Some(Presence::Online { link, .. }) =
            self.contacts.get_mut(id).map(|c| &mut c.presence)
        {
            link.groups = Some(groups);
        }
    }

    /// The peer announced `reach` in `CAPS` on its live link.
    pub fn set_reach_cap(&mut self, id: &NodeId) {
        if let Some(Presence::Online { link, .. }) =
            self.contacts.get_mut(id).map(|c| &mut c.presence)
        {
            link.reach = true;
        }
    }

    /// Whether `id` is online and announced `groups`.
    pub fn takes_groups(&self, id: &NodeId) -> bool {
        self.get(id)
            .and_then(Contact::link)
            .is_some_and(|l| l.groups == Some(true))
    }

    /// Online contacts whose `CAPS` has not come within `wait` before `now`.
    pub fn caps_overdue(&self, now: Instant, wait: std::time::Duration) -> Vec<NodeId> {
        self.conns
            .values()
            .filter(|id| match self.reads(id) {
                Some(Reads::AwaitingCaps { since }) => now.saturating_duration_since(since) >= wait,
                _ => false,
            })
            .copied()
            .collect()
    }

    /// Online contacts whose outbox is being re-sent.
    pub fn resending(&self) -> Vec<NodeId> {
        self.contacts
            .values()
            .filter(|c| matches!(c.outbox(), Some(Outbox::Resending { .. })))
            .map(|c| c.id)
            .collect()
    }

    /// Whether any outbox is being re-sent (the state loop then polls queues).
    pub fn any_resending(&self) -> bool {
        // Online contacts are few next to contacts: walk the connections.
        self.conns.values().any(|id| {
            self.contacts
                .get(id)
                .is_some_and(|c| matches!(c.outbox(), Some(Outbox::Resending { .. })))
        })
    }

    /// Resending contacts that acknowledged nothing for `limit` before `now`.
    pub fn stalled(&self, now: Instant, limit: std::time::Duration) -> Vec<NodeId> {
        self.contacts
            .values()
            .filter(|c| match c.outbox() {
                Some(Outbox::Resending { progress, .. }) => {
                    now.saturating_duration_since(progress) >= limit
                }
                _ => false,
            })
            .map(|c| c.id)
            .collect()
    }

    /// Marks `id`'s `peer` view as changed; the event goes out with the next batch.
    pub fn mark_changed(&mut self, id: NodeId) {
        self.changed.insert(id);
    }

    /// Forgets a pending change of `id` (its event is going out now).
    pub fn clear_changed(&mut self, id: &NodeId) {
        self.changed.remove(id);
    }

    /// Whether any contact has a change waiting for its event.
    pub fn has_changes(&self) -> bool {
        !self.changed.is_empty()
    }

    /// The contacts with a change waiting, emptied.
    pub fn take_changed(&mut self) -> Vec<NodeId> {
        self.changed.drain().collect()
    }

    /// Queues `inner` for the contact. A full queue disconnects the peer (SPEC §7: the
    /// messages stay pending and are re-sent when it is back).
    pub fn send(&mut self, id: &NodeId, inner: Inner, now_ms: i64) -> Queued {
        let Some(Presence::Online { link, .. }) =
            self.contacts.get_mut(id).map(|c| &mut c.presence)
        else {
            return Queued::Offline;
        };
        link.sent_traffic |= super::sessions::is_traffic(&inner);
        match link.tx.try_send(inner) {
            Ok(()) => Queued::Sent,
            Err(TrySendError::Full(_)) => {
                log::warn!("peer {} is not keeping up; disconnecting", short(id));
                if self.disconnect(id, now_ms, "its queue is full") {
                    self.dropped.push(*id);
                }
                Queued::Dropped
            }
            Err(TrySendError::Disconnected(_)) => Queued::Offline,
        }
    }

    /// Contacts whose link [`PeerTable::send`] dropped since the last call: the state thread
    /// finishes taking them offline (dialer, UIs), which this table does not reach.
    pub fn take_dropped(&mut self) -> Vec<NodeId> {
        std::mem::take(&mut self.dropped)
    }

    /// Records waiting in the contact's queue, `None` when it is offline.
    pub fn queued(&self, id: &NodeId) -> Option<usize> {
        let link = self.contacts.get(id)?.link()?;
        Some(link.tx.len())
    }

    /// Ids of contacts online now.
    pub fn online(&self) -> Vec<NodeId> {
        self.contacts
            .values()
            .filter(|c| c.is_online())
            .map(|c| c.id)
            .collect()
    }

    /// LIST entries for `receiver` (SPEC §7): peers we have authenticated ourselves,
    /// never the receiver, at most [`MAX_LIST_ENTRIES`], contacts before strangers.
    /// `configured` holds the ids that answered at `--connect`/`--peers` addresses.
    /// `only` narrows the list to one peer (the one that just came online).
    ///
    /// Whom to list is where a stranger could hurt us: anyone on the LAN can mint
    /// identities and handshake, and a node that listed every id it ever met sent lists
    /// its peers closed on. So a [`Rank`] orders them, and a stranger who is not online
    /// now (it only ever handshook) is never listed.
    pub fn list_for(
        &self,
        receiver: &NodeId,
        only: Option<&NodeId>,
        configured: &HashSet<NodeId>,
    ) -> Vec<ListEntry> {
        let to_loopback = self
            .contacts
            .get(receiver)
            .and_then(Contact::link)
            .is_some_and(|l| l.remote.ip().is_loopback());
        let candidates: Box<dyn Iterator<Item = &Contact>> = match only {
            Some(id) => Box::new(self.contacts.get(id).into_iter()),
            None => Box::new(self.contacts.values()),
        };
        let mut ranked: Vec<(Rank, std::cmp::Reverse<i64>, &Contact)> = candidates
            .filter(|c| c.id != *receiver)
            .filter_map(|c| {
                let rank = Rank::of(c, configured.contains(&c.id))?;
                Some((rank, std::cmp::Reverse(c.last_seen.unwrap_or(0)), c))
            })
            .collect();
        ranked.sort_unstable_by_key(|a| (a.0, a.1));
        ranked
            .into_iter()
            .filter_map(|(_, _, c)| {
                // Seen and announced addresses, LAN first, each with its kind.
                let (addrs, kinds): (Vec<SocketAddr>, Vec<_>) =
                    super::addr_order::dial_order(&c.addrs, &c.announced)
                        .into_iter()
                        .filter(|(a, _)| hint_addr_ok(a, to_loopback))
                        .take(MAX_LIST_ADDRS)
                        .unzip();
                (!addrs.is_empty()).then(|| ListEntry {
                    id: c.id,
                    addrs,
                    name: c.name.clone(),
                    kinds,
                })
            })
            .take(MAX_LIST_ENTRIES)
            .collect()
    }

    /// Whether another peer's name looks the same (the same [`name_skeleton`]: `"QUINN"`,
    /// `"quіnn"` with a Cyrillic і): the UI warns.
    fn name_conflict(&self, contact: &Contact) -> bool {
        let mine = name_skeleton(&contact.name);
        self.contacts
            .values()
            .any(|o| o.id != contact.id && name_skeleton(&o.name) == mine)
    }

    /// The API view of a contact.
    pub fn api(&self, id: &NodeId) -> Option<api::Peer> {
        let Some(c) = self.contacts.get(id) else {
            // Only heard by beacon: shown as nearby.
            return self
                .nearby
                .get(id)
                .map(|h| super::view::heard_peer(id, h, true));
        };
        Some(super::view::peer(
            c,
            self.name_conflict(c),
            self.nearby.contains(id),
        ))
    }

    /// What a `peers` answer holds: every contact, online first, then by name; then at
    /// most [`MAX_STRANGERS_SHOWN`] strangers (peers only heard by beacon among them),
    /// online first, then nearby, then most recently seen; and how many strangers were
    /// left out. Name conflicts are counted once for all (a
    /// scan per peer was quadratic: 10,000 peers took seconds).
    pub fn all_api(&self) -> (Vec<api::Peer>, usize) {
        let skeletons: HashMap<NodeId, String> = self
            .contacts
            .values()
            .map(|c| (c.id, name_skeleton(&c.name)))
            .collect();
        let mut names: HashMap<&str, usize> = HashMap::new();
        for s in skeletons.values() {
            *names.entry(s.as_str()).or_default() += 1;
        }
        let view = |c: &Contact| {
            let conflict = skeletons
                .get(&c.id)
                .and_then(|s| names.get(s.as_str()))
                .is_some_and(|n| *n > 1);
            super::view::peer(c, conflict, self.nearby.contains(&c.id))
        };
        let (strangers, contacts): (Vec<&Contact>, Vec<&Contact>) =
            self.contacts.values().partition(|c| c.is_stranger());
        let mut all: Vec<api::Peer> = contacts.into_iter().map(view).collect();
        all.sort_by(|a, b| b.online.cmp(&a.online).then_with(|| a.name.cmp(&b.name)));
        // A stranger in the table, or an id only heard by beacon (`None`).
        type Shown<'a> = (bool, bool, Option<Instant>, NodeId, Option<&'a Contact>);
        let mut strangers: Vec<Shown> = strangers
            .into_iter()
            .map(|c| {
                let seen = match c.standing {
                    Standing::Stranger { seen } => Some(seen),
                    Standing::Contact => None,
                };
                let heard = self.nearby.contains(&c.id);
                (c.is_online(), heard, seen, c.id, Some(c))
            })
            .collect();
        strangers.extend(
            self.nearby
                .iter()
                .filter(|(id, _)| !self.contacts.contains_key(*id))
                .map(|(id, h)| (false, true, Some(h.last), *id, None)),
        );
        strangers.sort_by_key(|s| std::cmp::Reverse((s.0, s.1, s.2, s.3)));
        let left_out = strangers.len().saturating_sub(MAX_STRANGERS_SHOWN);
        all.extend(strangers.into_iter().take(MAX_STRANGERS_SHOWN).filter_map(
            |(_, _, _, id, c)| {
                match c {
                    Some(c) => Some(view(c)),
                    None => self
                        .nearby
                        .get(&id)
                        .map(|h| super::view::heard_peer(&id, h, true)),
                }
            },
        ));
        (all, left_out)
    }

    /// Contacts whose name looks like `name` (to refresh their `name_conflict`).
    pub fn named(&self, name: &str) -> Vec<NodeId> {
        let skeleton = name_skeleton(name);
        self.contacts
            .values()
            .filter(|c| name_skeleton(&c.name) == skeleton)
            .map(|c| c.id)
            .collect()
    }
}

/// Where a peer stands in the `LIST`s we send, first to last; `None`: not listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rank {
    /// The user compared fingerprints.
    Verified,
    /// Messages went between us, or the user configured its address.
    Contact,
    /// Only authenticated, but online now (so meshes still form through us).
    OnlineStranger,
}

impl Rank {
    fn of(c: &Contact, configured: bool) -> Option<Rank> {
        if c.verified {
            Some(Rank::Verified)
        } else if c.messaged || configured {
            Some(Rank::Contact)
        } else if c.is_online() {
            Some(Rank::OnlineStranger)
        } else {
            None
        }
    }
}

/// Where a peer seen at `remote` can be dialled: its IP with the port from its `HAND`,
/// keeping an IPv6 scope id (a link-local address is useless without it).
pub fn dialable(remote: SocketAddr, port: u16) -> SocketAddr {
    match remote {
        SocketAddr::V6(v6) => SocketAddr::V6(std::net::SocketAddrV6::new(
            *v6.ip(),
            port,
            0,
            v6.scope_id(),
        )),
        SocketAddr::V4(v4) => SocketAddr::new((*v4.ip()).into(), port),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(conn_peer: u8, role: Role) -> (PeerUp, crossbeam_channel::Receiver<Vec<u8>>) {
        let (tx, bulk, outbox) = crate::bus::peer_queues_of(2).unwrap();
        let rx = outbox.rx;
        let up = PeerUp {
            conn: ConnId::for_tests(),
            id: [conn_peer; 32],
            name: format!("peer{conn_peer}"),
            our_name: "us".into(),
            port: 4000,
            role,
            addr: "10.0.0.5:51000".parse().unwrap(),
            local: None,
            path: "LAN 10.0.0.5".into(),
            tx,
            bulk,
        };
        (up, rx)
    }

    #[test]
    fn first_connection_is_accepted_with_the_dialable_address() {
        let mut t = PeerTable::default();
        let (u, _rx) = up(2, Role::Initiator);
        let conn = u.conn;
        assert!(matches!(
            t.up(&[1; 32], u, 10, Instant::now(), false),
            UpOutcome::Accepted { replaced: None }
        ));
        let c = t.get(&[2; 32]).unwrap();
        assert_eq!(c.addrs, vec!["10.0.0.5:4000".parse().unwrap()]);
        assert_eq!(t.peer_of(conn), Some([2; 32]));
        assert!(t.api(&[2; 32]).unwrap().online);
        assert_eq!(t.down(conn, 20), Some([2; 32]));
        assert!(!t.is_online(&[2; 32]));
    }

    #[test]
    fn lists_rank_contacts_before_online_strangers_and_leave_out_the_rest() {
        let mut t = PeerTable::default();
        let offline = |n: u8, seen: i64| {
            let mut c = Contact::new([n; 32], format!("p{n}"), 0);
            c.addrs = vec![format!("10.0.0.{n}:35035").parse().unwrap()];
            c.last_seen = Some(seen);
            c
        };
        t.insert(offline(3, 100)); // a stranger who only ever handshook
        let mut talked = offline(4, 50);
        talked.messaged = true;
        t.insert(talked);
        let mut verified = offline(5, 10);
        verified.verified = true;
        t.insert(verified);
        t.insert(offline(6, 10)); // configured by the user
        let (u, _ru) = up(7, Role::Responder); // a stranger online now
        t.up(&[1; 32], u, 200, Instant::now(), false);
        let (r, _rr) = up(9, Role::Responder); // the receiver, not on loopback
        t.up(&[1; 32], r, 200, Instant::now(), false);
        let mut lo = offline(8, 300); // a contact known only on loopback
        lo.messaged = true;
        lo.addrs = vec!["127.0.0.1:35035".parse().unwrap()];
        t.insert(lo);

        let configured = HashSet::from([[6; 32]]);
        let ids: Vec<u8> = t
            .list_for(&[9; 32], None, &configured)
            .iter()
            .map(|e| e.id[0])
            .collect();
        // Verified, then contacts by last seen (4 was seen after 6), then the online
        // stranger; never the offline stranger, the receiver, or a loopback address
        // to a peer that is not on loopback.
        assert_eq!(ids, [5, 4, 6, 7]);
    }

    #[test]
    fn the_dialable_address_keeps_the_ipv6_scope() {
        let remote: SocketAddr = "[fe80::1%7]:51000".parse().unwrap();
        assert_eq!(dialable(remote, 4000).to_string(), "[fe80::1%7]:4000");
        let v4: SocketAddr = "10.0.0.5:51000".parse().unwrap();
        assert_eq!(dialable(v4, 4000).to_string(), "10.0.0.5:4000");
    }

    #[test]
    fn simultaneous_dials_keep_the_lower_initiator_on_both_sides() {
        // Node 1 (lower id) and node 2 dial each other. Node 1's dial (1 initiates) wins.
        let mut at1 = PeerTable::default();
        let (a, _ra) = up(2, Role::Responder); // 2 dialled 1
        let (b, _rb) = up(2, Role::Initiator); // 1 dialled 2
        let b_conn = b.conn;
        assert!(matches!(
            at1.up(&[1; 32], a, 0, Instant::now(), false),
            UpOutcome::Accepted { .. }
        ));
        assert!(matches!(
            at1.up(&[1; 32], b, 0, Instant::now(), false),
            UpOutcome::Accepted { replaced: Some(_) }
        ));
        assert_eq!(at1.get(&[2; 32]).unwrap().link().unwrap().conn, b_conn);

        let mut at2 = PeerTable::default();
        let (c, _rc) = up(1, Role::Responder); // 1 dialled 2: kept
        let (d, _rd) = up(1, Role::Initiator); // 2 dialled 1: closed once c answers
        assert!(matches!(
            at2.up(&[2; 32], c, 0, Instant::now(), false),
            UpOutcome::Accepted { .. }
        ));
        // The rule keeps c: d is held while c is probed, and a third is refused.
        assert!(matches!(
            at2.up(&[2; 32], d, 0, Instant::now(), false),
            UpOutcome::Probing
        ));
        let (e, _re) = up(1, Role::Initiator);
        assert!(matches!(
            at2.up(&[2; 32], e, 0, Instant::now(), false),
            UpOutcome::Duplicate
        ));
    }

    #[test]
    fn the_old_link_going_down_does_not_take_the_new_one() {
        let mut t = PeerTable::default();
        let (a, _ra) = up(2, Role::Responder);
        let a_conn = a.conn;
        t.up(&[1; 32], a, 0, Instant::now(), false);
        let (b, _rb) = up(2, Role::Initiator);
        t.up(&[1; 32], b, 0, Instant::now(), false);
        assert_eq!(t.down(a_conn, 1), None);
        assert!(t.is_online(&[2; 32]));
    }

    #[test]
    fn a_full_queue_disconnects_and_name_conflicts_show() {
        let mut t = PeerTable::default();
        let (a, _ra) = up(2, Role::Initiator);
        t.up(&[1; 32], a, 0, Instant::now(), false);
        assert_eq!(t.send(&[2; 32], Inner::Ping, 0), Queued::Sent);
        assert_eq!(t.send(&[2; 32], Inner::Ping, 0), Queued::Sent);
        assert_eq!(t.send(&[2; 32], Inner::Ping, 0), Queued::Dropped);
        assert!(!t.is_online(&[2; 32]));

        let (mut b, _rb) = up(3, Role::Initiator);
        b.name = "peer2".into();
        t.up(&[1; 32], b, 0, Instant::now(), false);
        assert!(t.api(&[2; 32]).unwrap().name_conflict);
        assert!(t.api(&[3; 32]).unwrap().name_conflict);
        assert_eq!(t.list_for(&[2; 32], None, &HashSet::new()).len(), 1);
    }
}
