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
//! A second authenticated connection to the same id is settled by SPEC §7 step 3
//! (`keep_existing`): both ends compute the same winner, the loser is closed by dropping
//! its queue sender. Dials in flight are the dialer's (they are keyed by address, and
//! most have no contact yet); a contact is offline until a session is up.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::Instant;

use crossbeam_channel::{Sender, TrySendError};

use crate::api;
use crate::bus::{ConnId, PeerUp};
use crate::identity::NodeId;
use crate::peer::inner::{hint_addr_ok, Inner, ListEntry, MAX_LIST_ENTRIES};
use crate::peer::{keep_existing, Role};
use crate::rules::short_id as short;

/// Addresses remembered per contact (most recent first).
const MAX_ADDRS: usize = 8;

/// A live, authenticated connection.
#[derive(Debug)]
pub struct Link {
    pub conn: ConnId,
    pub tx: Sender<Inner>,
    pub role: Role,
    /// The socket's remote address.
    pub remote: SocketAddr,
    /// Its bulk lane for file chunks.
    pub bulk: Sender<Inner>,
    /// Whether the peer announced `files` in `CAPS` (`None`: no `CAPS` yet).
    pub files: Option<bool>,
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
        link: Link,
        outbox: Outbox,
        reads: Reads,
    },
}

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

/// One contact.
#[derive(Debug)]
pub struct Contact {
    pub id: NodeId,
    pub name: String,
    /// Where it can be dialled: its IP as we saw it, with the port from its `HAND`.
    pub addrs: Vec<SocketAddr>,
    pub first_seen: i64,
    pub last_seen: Option<i64>,
    pub verified: bool,
    /// A message has gone either way between us (loaded from the store at start).
    pub messaged: bool,
    pub unread: u64,
    /// Where it stands; changed only through [`PeerTable`].
    presence: Presence,
}

impl Contact {
    /// A contact first met now.
    pub fn new(id: NodeId, name: String, now_ms: i64) -> Contact {
        Contact {
            id,
            name,
            addrs: Vec::new(),
            first_seen: now_ms,
            last_seen: None,
            verified: false,
            messaged: false,
            unread: 0,
            presence: Presence::Offline,
        }
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
}

impl PeerTable {
    pub fn get(&self, id: &NodeId) -> Option<&Contact> {
        self.contacts.get(id)
    }

    pub fn get_mut(&mut self, id: &NodeId) -> Option<&mut Contact> {
        self.contacts.get_mut(id)
    }

    /// Adds a contact known from before (the store), offline.
    pub fn insert(&mut self, contact: Contact) {
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

    /// A peer authenticated on a new connection. `own` is this node's id.
    pub fn up(&mut self, own: &NodeId, up: PeerUp, now_ms: i64, at: Instant) -> UpOutcome {
        let contact = self
            .contacts
            .entry(up.id)
            .or_insert_with(|| Contact::new(up.id, up.name.clone(), now_ms));
        if let Some(existing) = contact.link() {
            if keep_existing(own, &up.id, existing.role, up.role) {
                return UpOutcome::Duplicate;
            }
        }
        contact.name = up.name;
        contact.last_seen = Some(now_ms);
        contact.remember_addr(dialable(up.addr, up.port));
        let link = Link {
            conn: up.conn,
            tx: up.tx,
            role: up.role,
            remote: up.addr,
            bulk: up.bulk,
            files: None,
        };
        let why = if contact.is_online() {
            "a newer connection wins"
        } else {
            "authenticated"
        };
        let old = Self::set_presence(
            contact,
            Presence::Online {
                link,
                outbox: Outbox::Idle,
                reads: Reads::AwaitingCaps { since: at },
            },
            why,
        );
        let replaced = match old {
            Presence::Online { link, .. } => {
                self.conns.remove(&link.conn);
                Some(link)
            }
            Presence::Offline => None,
        };
        self.conns.insert(up.conn, up.id);
        UpOutcome::Accepted { replaced }
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
        if let Presence::Online { link, .. } = Self::set_presence(contact, Presence::Offline, why) {
            self.conns.remove(&link.conn);
        }
        contact.last_seen = Some(now_ms);
        true
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
        let Some(link) = self.contacts.get(id).and_then(Contact::link) else {
            return Queued::Offline;
        };
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
                let addrs: Vec<SocketAddr> = c
                    .addrs
                    .iter()
                    .filter(|a| hint_addr_ok(a, to_loopback))
                    .copied()
                    .collect();
                (!addrs.is_empty()).then(|| ListEntry {
                    id: c.id,
                    addrs,
                    name: c.name.clone(),
                })
            })
            .take(MAX_LIST_ENTRIES)
            .collect()
    }

    /// Whether another contact uses the same name (the UI warns).
    fn name_conflict(&self, contact: &Contact) -> bool {
        self.contacts
            .values()
            .any(|o| o.id != contact.id && o.name == contact.name)
    }

    /// The API view of a contact.
    pub fn api(&self, id: &NodeId) -> Option<api::Peer> {
        let c = self.contacts.get(id)?;
        Some(super::view::peer(c, self.name_conflict(c)))
    }

    /// Every contact, online first, then by name.
    pub fn all_api(&self) -> Vec<api::Peer> {
        let mut all: Vec<api::Peer> = self.contacts.keys().filter_map(|id| self.api(id)).collect();
        all.sort_by(|a, b| b.online.cmp(&a.online).then_with(|| a.name.cmp(&b.name)));
        all
    }

    /// Contacts whose name equals `name` (to refresh their `name_conflict`).
    pub fn named(&self, name: &str) -> Vec<NodeId> {
        self.contacts
            .values()
            .filter(|c| c.name == name)
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
    use crossbeam_channel::bounded;

    fn up(conn_peer: u8, role: Role) -> (PeerUp, crossbeam_channel::Receiver<Inner>) {
        let (tx, rx) = bounded(2);
        let up = PeerUp {
            conn: ConnId::for_tests(),
            id: [conn_peer; 32],
            name: format!("peer{conn_peer}"),
            our_name: "us".into(),
            port: 4000,
            role,
            addr: "10.0.0.5:51000".parse().unwrap(),
            tx,
            bulk: bounded(1).0,
        };
        (up, rx)
    }

    #[test]
    fn first_connection_is_accepted_with_the_dialable_address() {
        let mut t = PeerTable::default();
        let (u, _rx) = up(2, Role::Initiator);
        let conn = u.conn;
        assert!(matches!(
            t.up(&[1; 32], u, 10, Instant::now()),
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
        t.up(&[1; 32], u, 200, Instant::now());
        let (r, _rr) = up(9, Role::Responder); // the receiver, not on loopback
        t.up(&[1; 32], r, 200, Instant::now());
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
            at1.up(&[1; 32], a, 0, Instant::now()),
            UpOutcome::Accepted { .. }
        ));
        assert!(matches!(
            at1.up(&[1; 32], b, 0, Instant::now()),
            UpOutcome::Accepted { replaced: Some(_) }
        ));
        assert_eq!(at1.get(&[2; 32]).unwrap().link().unwrap().conn, b_conn);

        let mut at2 = PeerTable::default();
        let (c, _rc) = up(1, Role::Responder); // 1 dialled 2: kept
        let (d, _rd) = up(1, Role::Initiator); // 2 dialled 1: closed
        assert!(matches!(
            at2.up(&[2; 32], c, 0, Instant::now()),
            UpOutcome::Accepted { .. }
        ));
        assert!(matches!(
            at2.up(&[2; 32], d, 0, Instant::now()),
            UpOutcome::Duplicate
        ));
    }

    #[test]
    fn the_old_link_going_down_does_not_take_the_new_one() {
        let mut t = PeerTable::default();
        let (a, _ra) = up(2, Role::Responder);
        let a_conn = a.conn;
        t.up(&[1; 32], a, 0, Instant::now());
        let (b, _rb) = up(2, Role::Initiator);
        t.up(&[1; 32], b, 0, Instant::now());
        assert_eq!(t.down(a_conn, 1), None);
        assert!(t.is_online(&[2; 32]));
    }

    #[test]
    fn a_full_queue_disconnects_and_name_conflicts_show() {
        let mut t = PeerTable::default();
        let (a, _ra) = up(2, Role::Initiator);
        t.up(&[1; 32], a, 0, Instant::now());
        assert_eq!(t.send(&[2; 32], Inner::Ping, 0), Queued::Sent);
        assert_eq!(t.send(&[2; 32], Inner::Ping, 0), Queued::Sent);
        assert_eq!(t.send(&[2; 32], Inner::Ping, 0), Queued::Dropped);
        assert!(!t.is_online(&[2; 32]));

        let (mut b, _rb) = up(3, Role::Initiator);
        b.name = "peer2".into();
        t.up(&[1; 32], b, 0, Instant::now());
        assert!(t.api(&[2; 32]).unwrap().name_conflict);
        assert!(t.api(&[3; 32]).unwrap().name_conflict);
        assert_eq!(t.list_for(&[2; 32], None, &HashSet::new()).len(), 1);
    }
}
