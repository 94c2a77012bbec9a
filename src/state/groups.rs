//! Groups as the state thread runs them (issue 18): invitations, rosters, fan-out,
//! sync between members. The rules themselves (roster chain, who may write, order)
//! are pure and live in `crate::groups`; this module applies them to peers and disk.
//!
//! Each group we know is in one [`Phase`], changed only by [`State::set_group_phase`],
//! which logs `old => new`:
//!
//! ```text
//!   (GINV from a contact) ──▶ invited ──accept──▶ joining ──roster chain naming us──▶ member
//!                               │ decline                                          │ leave
//!                               ▼                                                  ▼
//!                            declined                       removed ◀──roster without us
//!   create ─────────────────────────────────────────────────────────▶ member       left
//! ```
//!
//! Delivery is pairwise over the sessions we have: the author sends a `GMSG` to every
//! online member of its current roster that announced `groups`. Gaps are filled by
//! sync: on `CAPS` (a session starting) and after a message that leaves a gap, members
//! exchange `GSYN` summaries, and each sends what the other lacks, rosters first, then
//! messages oldest first, at most [`SYNC_BATCH`] a round. A summary counts only what is
//! committed, so what a member says it holds survives a crash.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Instant;

use crate::groups::{Chain, DropReason, RosterError, Verdict};
use crate::identity::NodeId;
use crate::peer::group::{
    valid_group_name, Author, GroupId, GroupMsg, GroupRef, Invite, Leave, Roster, SignedRoster,
    Summary, MAX_GROUP_TEXT, MAX_MEMBERS, MAX_SYNC_AUTHORS,
};
use crate::peer::inner::{Inner, MsgId};
use crate::rules::short_id as short;
use crate::store::{GroupPhase, Op, StoredGroup};

use crossbeam_channel::Sender;
use ed25519_dalek::VerifyingKey;

use crate::api::{self, Event};
use crate::bus::{ApiReply, ApiRequest, GroupAction, Refusal};

use super::durable::{After, GroupCommit};
use super::State;

/// Most groups a node knows (issue 18), whatever their phase.
pub const MAX_GROUPS: usize = 256;
/// Most messages and rosters sent for one `GSYN`.
pub const SYNC_BATCH: u32 = 256;
/// Most messages held per group while the roster they name has not come.
pub const MAX_HELD: usize = 256;
/// Most leave statements kept per group (one per membership span at most is useful).
pub const MAX_LEAVES: usize = crate::groups::MAX_SPANS;
/// Most invitations one contact may have waiting for our answer: without it, one
/// contact's flood of invitations would fill all [`MAX_GROUPS`] (the user could then
/// neither create nor be invited to a group).
pub const MAX_PENDING_INVITES: usize = 16;

/// Where we stand in one group.
#[allow(dead_code)]
#[derive(Debug)]
pub enum Phase {
    /// A contact invited us; the user has not answered.
    Invited { from: NodeId },
    /// We accepted; waiting for the owner's roster chain.
    Joining {
        from: NodeId,
        chain: Option<Box<Chain>>,
    },
    /// A member.
    Member(Box<Membership>),
    /// We declined.
    Declined,
    /// We left.
    Left,
    /// The owner removed us (we keep the history).
    Removed,
}

impl Phase {
    fn name(&self) -> &'static str {
        match self {
            Phase::Invited { .. } => "invited",
            Phase::Joining { .. } => "joining",
            Phase::Member(_) => "member",
            Phase::Declined => "declined",
            Phase::Left => "left",
            Phase::Removed => "removed",
        }
    }

    fn stored(&self) -> GroupPhase {
        match self {
            Phase::Invited { .. } | Phase::Joining { .. } => GroupPhase::Invited,
            Phase::Member(_) => GroupPhase::Member,
            Phase::Declined => GroupPhase::Declined,
            Phase::Left => GroupPhase::Left,
            Phase::Removed => GroupPhase::Removed,
        }
    }
}

/// A member's state of a group.
#[allow(dead_code)]
#[derive(Debug)]
pub struct Membership {
    pub(super) chain: Chain,
    /// Per author: committed messages held (see [`Held`]).
    pub(super) have: BTreeMap<NodeId, Held>,
    /// Our Lamport clock for this group.
    lamport: u64,
    /// Our next own seq.
    pub(super) next_seq: u64,
    /// Messages naming a roster we do not hold yet.
    waiting: Vec<GroupMsg>,
    /// Messages taken (a member's) or written (ours) and on their way to the store, by
    /// (author, seq): shown already, so a second copy is neither stored nor shown
    /// again. Bounded by the store's backlog (a peer is disconnected when the disk is
    /// far behind).
    pub(super) storing: BTreeSet<(NodeId, u64)>,
    /// Members whose `GSYN` lacked some of `storing`: sync offers committed messages
    /// only, so our summary goes to them again once those are committed, and their
    /// answer fetches them. Without it a message written while a member's new session
    /// had not announced `groups` yet reached it only at its next session.
    resync: BTreeMap<NodeId, BTreeSet<(NodeId, u64)>>,
    /// Contacts we (the owner) invited who have not answered.
    invited: BTreeSet<NodeId>,
    /// Gaps in authors' runs and since when we know them (`group_gaps`).
    pub(super) gaps: super::group_gaps::Gaps,
    /// Members' identity keys, decoded once (see [`verify_cached`]): members of some
    /// roster of the chain only, so as bounded as the chain's membership spans.
    keys: HashMap<NodeId, VerifyingKey>,
}

/// One author's messages we hold durably: every seq up to `upto`, and some above.
#[derive(Debug, Default, Clone)]
pub(super) struct Held {
    pub(super) upto: u64,
    pub(super) above: BTreeSet<u64>,
}

impl Held {
    fn add(&mut self, seq: u64) {
        if seq > self.upto {
            self.above.insert(seq);
        }
        while self.above.remove(&(self.upto + 1)) {
            self.upto += 1;
        }
    }
}

/// One group we know.
#[derive(Debug)]
pub struct Group {
    pub name: String,
    pub owner: NodeId,
    pub inviter: Option<NodeId>,
    pub created: i64,
    pub phase: Phase,
    /// Our read mark: the display position read up to (`None`: nothing read).
    pub read: Option<(u64, NodeId)>,
    /// Committed messages of others after `read` (recounted when the group is dirty).
    pub unread: u64,
    /// Per member: how far it holds and has read OUR messages (seq marks).
    pub receipts: BTreeMap<NodeId, (u64, u64)>,
    /// Who removed us (phase `removed`).
    pub removed_by: Option<NodeId>,
    /// Every id seen in a roster of this group (members, signers): `known` in the JSON.
    /// Authors are members, so they are in it too. Bounded by the membership spans.
    pub seen: BTreeSet<NodeId>,
    /// Members' signed leaves (ours too, once we left), at most [`MAX_LEAVES`].
    pub leaves: Vec<Leave>,
}

impl Group {
    fn new(
        name: String,
        owner: NodeId,
        inviter: Option<NodeId>,
        created: i64,
        phase: Phase,
    ) -> Group {
        Group {
            name,
            owner,
            inviter,
            created,
            phase,
            read: None,
            unread: 0,
            receipts: BTreeMap::new(),
            removed_by: None,
            seen: BTreeSet::from([owner]),
            leaves: Vec::new(),
        }
    }

    /// Notes every id a roster names.
    fn saw(&mut self, r: &Roster) {
        saw(&mut self.seen, r);
    }
}

/// Checks a member's signature on `msg` with its key decoded once and kept in `keys`.
fn verify_cached(keys: &mut HashMap<NodeId, VerifyingKey>, msg: &GroupMsg) -> bool {
    let key = match keys.get(&msg.author) {
        Some(key) => *key,
        None => match crate::peer::hand::identity_key(&msg.author) {
            Ok(key) => *keys.entry(msg.author).or_insert(key),
            Err(_) => return false,
        },
    };
    msg.verify_with(&key)
}

/// Notes every id roster `r` names in `seen`.
fn saw(seen: &mut BTreeSet<NodeId>, r: &Roster) {
    seen.extend(r.members.iter().copied());
    seen.insert(r.signer);
    seen.insert(r.owner);
}

/// What was dropped, by reason (hostile or broken members; the session goes on): the
/// counters `GET /api/v1/diag` shows as they are.
pub use crate::diag::GroupDrops as Dropped;

/// Every group we know, and the drop counters.
#[derive(Debug, Default)]
pub struct Groups {
    pub map: HashMap<GroupId, Group>,
    pub dropped: Dropped,
    /// (group, author): our receipt for that author's messages is due (sent at the end
    /// of the turn, so a batch of stored messages makes one `GRCP`).
    pub due_receipts: BTreeSet<(GroupId, NodeId)>,
    /// Groups whose unread count must be recounted from the store (our read mark moved,
    /// messages were deleted or stored twice): recounted and pushed to the UIs at the
    /// end of the turn.
    pub dirty: BTreeSet<GroupId>,
    /// Groups whose unread count went up in memory this turn (a member's message
    /// committed after our read mark): pushed to the UIs at the end of the turn. A
    /// count over the store after every commit cost each member a scan of everything
    /// unread per message (a fifth of its state thread in the groups bench).
    pub counted: BTreeSet<GroupId>,
    /// Groups last recounted while some of their messages were on their way to the
    /// store: the recount may have seen some of them committed already, so each of
    /// their commits recounts too, until a recount runs with none in flight.
    pub unsure: BTreeSet<GroupId>,
    /// Groups where an author's run may have a gap: the tick looks at these only
    /// (`group_gaps`).
    pub gappy: BTreeSet<GroupId>,
}

/// Why a group command was refused (the user's words come from `Display`).
#[allow(dead_code)]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupError {
    /// No such group.
    #[error("no such group")]
    Unknown,
    /// Not a member.
    #[error("not a member of this group")]
    NotMember,
    /// Only the owner changes the roster.
    #[error("only the group's owner can do that")]
    NotOwner,
    /// Name out of its rules.
    #[error("a group name is 1 to 64 characters")]
    BadName,
    /// Text out of its limits.
    #[error("a message is 1 to 65536 bytes")]
    BadText,
    /// Full.
    #[error("a group has at most 64 members")]
    Full,
    /// Too many groups.
    #[error("at most 256 groups")]
    TooManyGroups,
    /// Invitations go to contacts only.
    #[error("invitations go to contacts only")]
    NotContact,
    /// Not in the phase the command needs.
    #[error("the group is {0}")]
    Phase(&'static str),
    /// No randomness for an id.
    #[error("no randomness for a group id")]
    Rng,
}

// The commands below (create, invite, accept, decline, leave, remove, rename, send) are
// driven by the state tests for now; the JSON API and WebSocket commands that call them
// are the next step of issue 18.
#[allow(dead_code)]
impl State {
    /// The one place a group's phase changes; logged.
    fn set_group_phase(&mut self, id: &GroupId, new: Phase) {
        let Some(g) = self.groups.map.get_mut(id) else {
            return;
        };
        log::debug!("group {id}: {} => {}", g.phase.name(), new.name());
        g.phase = new;
        self.save_group(id);
    }

    fn save_group(&mut self, id: &GroupId) {
        let Some(g) = self.groups.map.get(id) else {
            return;
        };
        let op = Op::UpsertGroup(StoredGroup {
            id: *id,
            name: g.name.clone(),
            phase: g.phase.stored(),
            owner: g.owner,
            inviter: g.inviter,
            created: g.created,
        });
        self.durable.submit(op, After::Nothing);
        self.push_group(id);
    }

    pub(super) fn member(&self, id: &GroupId) -> Result<&Membership, GroupError> {
        match &self.groups.map.get(id).ok_or(GroupError::Unknown)?.phase {
            Phase::Member(m) => Ok(m),
            p => Err(GroupError::Phase(p.name())),
        }
    }

    fn member_mut(&mut self, id: &GroupId) -> Option<&mut Membership> {
        match &mut self.groups.map.get_mut(id)?.phase {
            Phase::Member(m) => Some(m),
            _ => None,
        }
    }

    /// Creates a group with us as owner and only member.
    pub(super) fn create_group(&mut self, name: &str) -> Result<GroupId, GroupError> {
        let name = name.trim();
        if !valid_group_name(name) {
            return Err(GroupError::BadName);
        }
        if self.groups.map.len() >= MAX_GROUPS {
            return Err(GroupError::TooManyGroups);
        }
        let id = GroupId(crate::rng::bytes::<16>().map_err(|_| GroupError::Rng)?);
        let genesis = Roster {
            group: id,
            version: 1,
            lamport: 1,
            signer: self.own_id,
            owner: self.own_id,
            prev: [0; 32],
            name: name.to_string(),
            members: vec![self.own_id],
        }
        .sign(self.identity.signing_key());
        let chain = Chain::start(genesis.clone()).map_err(|_| GroupError::Rng)?;
        let now = self.clock.now_ms();
        let mut group = Group::new(
            name.to_string(),
            self.own_id,
            None,
            now,
            Phase::Member(Box::new(Membership::new(chain, 1, 1))),
        );
        group.saw(&genesis.roster);
        self.groups.map.insert(id, group);
        log::info!("group {id} created");
        self.save_group(&id);
        self.roster_lines(None, &genesis, now);
        self.durable
            .submit(Op::InsertRoster(Box::new(genesis), now), After::Nothing);
        Ok(id)
    }

    /// Invites a contact (owner only).
    pub(super) fn invite_to_group(&mut self, id: &GroupId, peer: NodeId) -> Result<(), GroupError> {
        let own = self.own_id;
        let is_contact = self.peers.get(&peer).is_some_and(|c| !c.is_stranger());
        let name = self.groups.map.get(id).map(|g| g.name.clone());
        let m = self.member(id)?;
        if m.chain.current().roster.owner != own {
            return Err(GroupError::NotOwner);
        }
        if !is_contact {
            return Err(GroupError::NotContact);
        }
        if m.chain.is_member(&peer) {
            return Ok(());
        }
        if m.chain.current().roster.members.len() + m.invited.len() >= MAX_MEMBERS {
            return Err(GroupError::Full);
        }
        if let Some(m) = self.member_mut(id) {
            m.invited.insert(peer);
        }
        if self.peers.takes_groups(&peer) {
            let invite = Inner::GroupInvite(Invite {
                group: *id,
                name: name.unwrap_or_default(),
                owner: Author(own),
            });
            self.send_group_inner(&peer, invite);
        }
        Ok(())
    }

    /// The user accepts an invitation: ask the owner for the roster.
    pub(super) fn accept_group(&mut self, id: &GroupId) -> Result<(), GroupError> {
        let g = self.groups.map.get(id).ok_or(GroupError::Unknown)?;
        let Phase::Invited { from } = g.phase else {
            return Err(GroupError::Phase(g.phase.name()));
        };
        self.set_group_phase(id, Phase::Joining { from, chain: None });
        self.send_group_inner(&from, Inner::GroupAccept(GroupRef { group: *id }));
        Ok(())
    }

    /// The user declines an invitation.
    pub(super) fn decline_group(&mut self, id: &GroupId) -> Result<(), GroupError> {
        let g = self.groups.map.get(id).ok_or(GroupError::Unknown)?;
        let Phase::Invited { from } = g.phase else {
            return Err(GroupError::Phase(g.phase.name()));
        };
        self.set_group_phase(id, Phase::Declined);
        self.send_group_inner(&from, Inner::GroupDecline(GroupRef { group: *id }));
        Ok(())
    }

    /// We leave (the owner cannot: it hands ownership over first).
    pub(super) fn leave_group(&mut self, id: &GroupId) -> Result<(), GroupError> {
        let owner = self.member(id)?.chain.current().roster.owner;
        if owner == self.own_id {
            return Err(GroupError::Phase("owned by you: hand it over first"));
        }
        // Signed, so that every member can show it as a leave and not a removal; kept,
        // so that it goes again with the GDEC if the owner is not there now.
        let from = self.member(id)?.version();
        let leave = Leave::sign(*id, self.own_id, from, self.identity.signing_key());
        if let Some(g) = self.groups.map.get_mut(id) {
            g.leaves.push(leave.clone());
        }
        self.durable
            .submit(Op::InsertLeave(Box::new(leave.clone())), After::Nothing);
        self.set_group_phase(id, Phase::Left);
        self.send_group_inner(&owner, Inner::GroupLeave(Box::new(leave)));
        self.send_group_inner(&owner, Inner::GroupDecline(GroupRef { group: *id }));
        Ok(())
    }

    /// The owner signs the next roster: `members` changed, a new `name` or `owner`.
    pub(super) fn change_roster(
        &mut self,
        id: &GroupId,
        change: impl FnOnce(&mut Roster),
    ) -> Result<(), GroupError> {
        let own = self.own_id;
        let m = self.member(id)?;
        let cur = m.chain.current();
        if cur.roster.owner != own {
            return Err(GroupError::NotOwner);
        }
        let mut next = cur.roster.clone();
        next.version += 1;
        next.lamport = m.lamport + 1;
        next.signer = own;
        next.prev = cur.hash();
        change(&mut next);
        next.members.sort();
        next.members.dedup();
        if !valid_group_name(&next.name) {
            return Err(GroupError::BadName);
        }
        if next.members.len() > MAX_MEMBERS {
            return Err(GroupError::Full);
        }
        let signed = next.sign(self.identity.signing_key());
        if signed.validate().is_err() {
            return Err(GroupError::NotMember);
        }
        let before: Vec<NodeId> = cur.roster.members.clone();
        let from = self.own_id;
        if let Err(e) = self.take_roster(id, signed.clone(), &from) {
            log::warn!("group {id}: our own roster refused: {e:?}");
            return Err(GroupError::NotMember);
        }
        // Everyone in the old roster hears of it (a removed member learns that it was
        // removed, and nothing after); a newcomer gets the whole chain from `on_accept`.
        let mut to: BTreeSet<NodeId> = before.into_iter().collect();
        to.remove(&self.own_id);
        for peer in to {
            if self.peers.takes_groups(&peer) {
                self.send_group_inner(&peer, Inner::GroupRoster(Box::new(signed.clone())));
            }
        }
        Ok(())
    }

    /// Removes a member (owner only).
    pub(super) fn remove_from_group(
        &mut self,
        id: &GroupId,
        peer: NodeId,
    ) -> Result<(), GroupError> {
        if peer == self.own_id {
            return Err(GroupError::Phase("owned by you: hand it over first"));
        }
        self.change_roster(id, |r| r.members.retain(|m| *m != peer))
    }

    /// Renames a group (owner only).
    pub(super) fn rename_group(&mut self, id: &GroupId, name: &str) -> Result<(), GroupError> {
        let name = name.trim().to_string();
        self.change_roster(id, |r| r.name = name)
    }

    /// Writes a message to a group: signed, stored, sent to every online member.
    pub(super) fn send_group(&mut self, id: &GroupId, text: String) -> Result<MsgId, GroupError> {
        self.send_group_replying(id, text, None)
    }

    /// [`State::send_group`], answering `reply` once the message is committed.
    pub(super) fn send_group_replying(
        &mut self,
        id: &GroupId,
        text: String,
        reply: Option<Sender<ApiReply>>,
    ) -> Result<MsgId, GroupError> {
        if text.is_empty() || text.len() > MAX_GROUP_TEXT {
            return Err(GroupError::BadText);
        }
        let msg_id = MsgId(crate::rng::bytes::<16>().map_err(|_| GroupError::Rng)?);
        let ts = self.clock.now_ms();
        let own = self.own_id;
        let identity = self.identity.clone();
        let m = self.member_mut(id).ok_or(GroupError::NotMember)?;
        m.lamport += 1;
        let msg = GroupMsg {
            group: *id,
            id: msg_id,
            author: own,
            seq: m.next_seq,
            lamport: m.lamport,
            roster: m.chain.version(),
            ts,
            text,
            sig: [0; 64],
        }
        .sign(identity.signing_key());
        m.next_seq += 1;
        m.storing.insert((own, msg.seq));
        let to: Vec<NodeId> = m.chain.current().roster.members.clone();
        // On the wire first, then to the store, as a 1:1 message goes (SPEC §7): the
        // members' writers start before the store writer is woken.
        for peer in to.iter().filter(|p| **p != own) {
            if self.peers.takes_groups(peer) {
                self.send_group_inner(peer, Inner::GroupMsg(Box::new(msg.clone())));
            }
        }
        let seq = msg.seq;
        self.durable.submit(
            Op::InsertGroupMsg(Box::new(msg)),
            After::GroupMsgStored(GroupCommit {
                group: *id,
                author: own,
                seq,
                from: None,
                reply,
            }),
        );
        Ok(msg_id)
    }

    pub(super) fn send_group_inner(&mut self, peer: &NodeId, inner: Inner) {
        let now = self.clock.now_ms();
        self.peers.send(peer, inner, now);
    }

    /// A peer announced (or not) `groups`: sync every group we share with it, and
    /// repeat what it may have missed (an invitation, an acceptance).
    pub(super) fn groups_cap_known(&mut self, peer: NodeId, takes: bool) {
        self.peers.set_groups_cap(&peer, takes);
        if !takes {
            return;
        }
        let own = self.own_id;
        let mut out = Vec::new();
        let mut due = Vec::new();
        for (id, g) in &self.groups.map {
            match &g.phase {
                Phase::Member(m) if m.chain.is_member(&peer) => {
                    out.push(Inner::GroupSync(m.summary(id)));
                    if m.held_upto(&peer) > 0 {
                        // What it may have missed of our receipts (they are marks:
                        // repeating one is harmless).
                        due.push((*id, peer));
                    }
                }
                Phase::Member(m) if m.invited.contains(&peer) => {
                    out.push(Inner::GroupInvite(Invite {
                        group: *id,
                        name: g.name.clone(),
                        owner: Author(own),
                    }));
                }
                Phase::Joining { from, .. } if *from == peer => {
                    out.push(Inner::GroupAccept(GroupRef { group: *id }));
                }
                // We left: the owner hears it again (it may have been away); repeats
                // are harmless (a GDEC from a non-member changes nothing).
                Phase::Left if g.owner == peer => {
                    let ours = g.leaves.iter().filter(|l| l.member.0 == own);
                    out.extend(ours.map(|l| Inner::GroupLeave(Box::new(l.clone()))));
                    out.push(Inner::GroupDecline(GroupRef { group: *id }));
                }
                _ => {}
            }
        }
        for inner in out {
            self.send_group_inner(&peer, inner);
        }
        self.groups.due_receipts.extend(due);
    }

    /// A group kind from `from`.
    pub(super) fn on_group_msg(&mut self, from: NodeId, inner: Inner, _now: Instant) {
        match inner {
            Inner::GroupInvite(inv) => self.on_invite(from, inv),
            Inner::GroupAccept(r) => self.on_accept(from, r.group),
            Inner::GroupDecline(r) => self.on_decline(from, r.group),
            Inner::GroupRoster(r) => self.on_roster(from, *r),
            Inner::GroupMsg(m) => self.on_gmsg(from, *m),
            Inner::GroupSync(s) => self.on_sync(from, s),
            Inner::GroupReceipt(r) => self.on_group_receipt(from, r),
            Inner::GroupLeave(l) => self.on_group_leave(from, *l),
            _ => {}
        }
    }

    fn on_invite(&mut self, from: NodeId, inv: Invite) {
        let contact = self.peers.get(&from).is_some_and(|c| !c.is_stranger());
        if !contact || inv.owner.0 != from {
            log::debug!(
                "invitation from {} ignored (not a contact, or not the owner)",
                short(&from)
            );
            self.groups.dropped.invitations += 1;
            return;
        }
        if self.groups.map.contains_key(&inv.group) {
            return; // a repeat (the owner sends it again on every session)
        }
        let pending = self
            .groups
            .map
            .values()
            .filter(|g| matches!(g.phase, Phase::Invited { from: f } if f == from))
            .count();
        if pending >= MAX_PENDING_INVITES || self.groups.map.len() >= MAX_GROUPS {
            log::debug!(
                "invitation from {} dropped: {pending} pending, {} groups",
                short(&from),
                self.groups.map.len()
            );
            self.groups.dropped.invitations += 1;
            return;
        }
        let now = self.clock.now_ms();
        self.groups.map.insert(
            inv.group,
            Group::new(inv.name, from, Some(from), now, Phase::Invited { from }),
        );
        log::debug!("group {}: invited by {}", inv.group, short(&from));
        self.save_group(&inv.group);
    }

    fn on_accept(&mut self, from: NodeId, id: GroupId) {
        let Some(m) = self.member_mut(&id) else {
            return;
        };
        let invited = m.invited.remove(&from);
        // A member accepting again never got the chain we sent it (it went down with a
        // connection the member had replaced already): it gets it again, unchanged.
        let again = !invited && m.chain.is_member(&from);
        if !invited && !again {
            return;
        }
        if invited {
            if let Err(e) = self.change_roster(&id, |r| r.members.push(from)) {
                log::debug!("group {id}: could not add {}: {e}", short(&from));
                return;
            }
        } else {
            log::debug!(
                "group {id}: {} accepted again: its chain once more",
                short(&from)
            );
        }
        // The newcomer checks the whole chain from the first roster: the stored ones,
        // those on their way to the store (a reader does not see them yet: a group just
        // created may not have its first roster committed), then the one just signed.
        let Ok(current) = self.member(&id).map(|m| m.chain.current().clone()) else {
            return;
        };
        let version = current.roster.version;
        let mut chain = self
            .durable
            .reader
            .rosters(&id, 0, u32::MAX)
            .unwrap_or_default();
        chain.extend(self.durable.uncommitted_rosters(&id));
        chain.retain(|r| r.roster.version < version);
        chain.sort_by_key(|r| r.roster.version);
        chain.dedup_by_key(|r| r.roster.version);
        chain.push(current);
        for r in chain {
            self.send_group_inner(&from, Inner::GroupRoster(Box::new(r)));
        }
        self.send_leaves(&id, &from);
        if let Ok(m) = self.member(&id) {
            let summary = m.summary(&id);
            self.send_group_inner(&from, Inner::GroupSync(summary));
        }
    }

    fn on_decline(&mut self, from: NodeId, id: GroupId) {
        let (invited, member) = match self.member_mut(&id) {
            Some(m) => (m.invited.remove(&from), m.chain.is_member(&from)),
            None => return,
        };
        if invited {
            log::debug!("group {id}: {} declined", short(&from));
        } else if member {
            // Leaving is a roster change the owner signs, naming who made it.
            let _ = self.remove_from_group(&id, from);
        }
    }

    fn on_roster(&mut self, from: NodeId, r: SignedRoster) {
        let id = r.roster.group;
        let Some(g) = self.groups.map.get_mut(&id) else {
            self.groups.dropped.unknown_group += 1;
            return;
        };
        // A joiner takes its chain from the one who invited it.
        if let Phase::Joining {
            from: inviter,
            chain,
        } = &mut g.phase
        {
            if *inviter != from {
                return;
            }
            let step = match chain {
                None => Chain::start(r.clone()).map(|c| *chain = Some(Box::new(c))),
                Some(c) => c.apply(r.clone()),
            };
            if step.is_err() {
                self.groups.dropped.bad_roster += 1;
                return;
            }
            saw(&mut g.seen, &r.roster);
            let now = self.clock.now_ms();
            self.durable
                .submit(Op::InsertRoster(Box::new(r), now), After::Nothing);
            let joined = chain.as_ref().is_some_and(|c| c.is_member(&self.own_id));
            if joined {
                if let Phase::Joining { chain: Some(c), .. } =
                    std::mem::replace(&mut g.phase, Phase::Declined)
                {
                    let lamport = c.current().roster.lamport;
                    g.name = c.current().roster.name.clone();
                    g.owner = c.current().roster.owner;
                    self.set_group_phase(
                        &id,
                        Phase::Member(Box::new(Membership::new(*c, lamport, 1))),
                    );
                }
            }
            return;
        }
        // Otherwise only from a member of our roster (or its new owner's).
        let Phase::Member(m) = &g.phase else {
            return;
        };
        if !m.chain.is_member(&from) {
            self.groups.dropped.not_member += 1;
            return;
        }
        let hash = r.hash();
        match self.take_roster(&id, r, &from) {
            Ok(()) => {}
            Err(RosterError::Stale { got, .. }) => {
                // A repeat of a roster we hold is harmless (two members' syncs cross);
                // another roster at a version we passed is a rollback, counted.
                let ours = self
                    .durable
                    .reader
                    .rosters(&id, got.saturating_sub(1), 1)
                    .ok()
                    .and_then(|rs| rs.into_iter().next())
                    .filter(|o| o.roster.version == got)
                    .or_else(|| {
                        self.durable
                            .uncommitted_rosters(&id)
                            .into_iter()
                            .find(|o| o.roster.version == got)
                    });
                if ours.is_none_or(|o| o.hash() != hash) {
                    log::debug!("group {id}: rollback to v{got} from {}", short(&from));
                    self.groups.dropped.rollback += 1;
                }
            }
            Err(RosterError::Gap { .. }) => {
                // Ask for what is between: the peer answers our summary with rosters.
                if let Ok(m) = self.member(&id) {
                    let s = m.summary(&id);
                    self.send_group_inner(&from, Inner::GroupSync(s));
                }
            }
            Err(e) => {
                log::debug!("group {id}: roster from {} refused: {e:?}", short(&from));
                self.groups.dropped.bad_roster += 1;
            }
        }
    }

    /// Applies a roster to a group we are a member of; stores it; takes what waited.
    fn take_roster(
        &mut self,
        id: &GroupId,
        r: SignedRoster,
        from: &NodeId,
    ) -> Result<(), RosterError> {
        let own = self.own_id;
        let Some(g) = self.groups.map.get_mut(id) else {
            return Err(RosterError::WrongGroup);
        };
        let Phase::Member(m) = &mut g.phase else {
            return Err(RosterError::WrongGroup);
        };
        let before = m.chain.current().clone();
        m.chain.apply(r.clone())?;
        m.lamport = m.lamport.max(r.roster.lamport);
        g.name = r.roster.name.clone();
        g.owner = r.roster.owner;
        saw(&mut g.seen, &r.roster);
        log::info!(
            "group {id}: roster v{} by {}: {} members",
            r.roster.version,
            short(&r.roster.signer),
            r.roster.members.len()
        );
        let still = r.roster.has(&own);
        let (r_members, r_lamport) = (r.roster.members.clone(), r.roster.lamport);
        let waiting = std::mem::take(&mut m.waiting);
        if !still {
            g.removed_by = Some(r.roster.signer);
        }
        let now = self.clock.now_ms();
        self.roster_lines(Some(&before), &r, now);
        self.durable
            .submit(Op::InsertRoster(Box::new(r), now), After::Nothing);
        self.save_group(id);
        if !still {
            self.set_group_phase(id, Phase::Removed);
            return Ok(());
        }
        for gone in before
            .roster
            .members
            .iter()
            .filter(|b| !r_members.contains(b))
        {
            self.purge_removed(id, *gone, r_lamport);
        }
        for msg in waiting {
            self.on_gmsg(*from, msg);
        }
        Ok(())
    }

    /// A roster removed `author` at Lamport clock `lamport`: what it wrote from then on
    /// is not the group's ([`Chain::judge`] drops it), but copies may have come in
    /// before the roster did (a member in a partition with it, holding the old roster).
    /// They are deleted, so every member ends with the same messages, and `have` is
    /// recounted from what stays (the summary must not offer what we no longer hold).
    fn purge_removed(&mut self, id: &GroupId, author: NodeId, lamport: u64) {
        let held = match self
            .durable
            .reader
            .group_messages_after(id, &author, 0, u32::MAX)
        {
            Ok(msgs) => msgs,
            Err(e) => {
                log::warn!(
                    "group {id}: reading {}'s messages failed: {e}",
                    short(&author)
                );
                return;
            }
        };
        let (late, kept): (Vec<GroupMsg>, Vec<GroupMsg>) =
            held.into_iter().partition(|m| m.lamport >= lamport);
        if late.is_empty() {
            return;
        }
        log::info!(
            "group {id}: {} messages of {} written after its removal deleted",
            late.len(),
            short(&author)
        );
        self.durable.submit(
            Op::PurgeGroupMsgs {
                group: *id,
                author,
                from_lamport: lamport,
            },
            After::GroupPurged(*id),
        );
        // The screens showing them drop them now, not at their next reload.
        let ids: Vec<MsgId> = late.iter().map(|m| m.id).collect();
        self.unshow_group_msgs(id, &ids);
        if let Some(m) = self.member_mut(id) {
            let mut h = Held::default();
            for msg in &kept {
                h.add(msg.seq);
            }
            m.have.insert(author, h);
        }
        // The recount may open or close a gap of that author's.
        self.groups.gappy.insert(*id);
    }

    fn on_gmsg(&mut self, from: NodeId, msg: GroupMsg) {
        let id = msg.group;
        let groups = &mut self.groups;
        let Some(Phase::Member(m)) = groups.map.get_mut(&id).map(|g| &mut g.phase) else {
            groups.dropped.unknown_group += 1;
            return;
        };
        // Only members of our roster may hand us group messages.
        if !m.chain.is_member(&from) {
            groups.dropped.not_member += 1;
            return;
        }
        let held = m.have.get(&msg.author);
        if held.is_some_and(|h| msg.seq <= h.upto || h.above.contains(&msg.seq))
            || m.storing.contains(&(msg.author, msg.seq))
        {
            return; // held already, or on its way to the store
        }
        let keys = &mut m.keys;
        match m.chain.judge_with(&msg, |msg| verify_cached(keys, msg)) {
            Verdict::Hold => {
                if m.waiting.len() >= MAX_HELD {
                    groups.dropped.overflow += 1;
                } else {
                    m.waiting.push(msg);
                }
                let s = m.summary(&id);
                self.send_group_inner(&from, Inner::GroupSync(s));
            }
            Verdict::Drop(reason) => {
                log::debug!(
                    "group {id}: {msg:?} from {} dropped: {reason:?}",
                    short(&from)
                );
                let d = &mut groups.dropped;
                match reason {
                    DropReason::BadSignature => d.bad_signature += 1,
                    DropReason::NotMember => d.not_member += 1,
                    DropReason::UnknownGroup => d.unknown_group += 1,
                }
            }
            Verdict::Accept => {
                m.lamport = m.lamport.max(msg.lamport);
                let (author, seq) = (msg.author, msg.seq);
                m.storing.insert((author, seq));
                // On the screens as soon as it is verified, as a 1:1 message is (SPEC
                // §7): waiting for the commit cost every member a disk sync. It counts
                // as held (`have`, what sync offers) only once committed.
                let message = self.group_message_api(&msg);
                self.subs.broadcast(&Event::GroupMessage { message });
                self.durable.submit(
                    Op::InsertGroupMsg(Box::new(msg)),
                    After::GroupMsgStored(GroupCommit {
                        group: id,
                        author,
                        seq,
                        from: Some(from),
                        reply: None,
                    }),
                );
            }
        }
    }

    /// A group message is committed: it counts as held; a gap left asks for a sync
    /// (and is shown as missing if it lasts: `group_gaps`); members that lacked it
    /// while it was on its way hear our summary again.
    pub(super) fn group_msg_stored(
        &mut self,
        commit: GroupCommit,
        msg: Option<Box<GroupMsg>>,
        now: Instant,
    ) {
        let (id, key) = (commit.group, (commit.author, commit.seq));
        let mut resync = Vec::new();
        if let Some(m) = self.member_mut(&id) {
            m.storing.remove(&key);
            for (peer, lacked) in &mut m.resync {
                if lacked.remove(&key) && lacked.is_empty() {
                    resync.push(*peer);
                }
            }
            m.resync.retain(|_, lacked| !lacked.is_empty());
        }
        self.take_group_commit(commit, msg, now);
        if resync.is_empty() {
            return;
        }
        if let Ok(m) = self.member(&id) {
            let summary = m.summary(&id);
            for peer in resync {
                self.send_group_inner(&peer, Inner::GroupSync(summary.clone()));
            }
        }
    }

    /// What a commit means for the group: ours is answered and shown, a member's is
    /// counted (unread, our receipt due), and it counts as held, a gap asking for a sync.
    fn take_group_commit(&mut self, commit: GroupCommit, msg: Option<Box<GroupMsg>>, now: Instant) {
        let GroupCommit {
            group: id,
            author,
            seq,
            from,
            reply,
        } = commit;
        // Stored before a roster removing its author came: the purge that roster
        // queued deletes it after this commit; it is not counted.
        let void = msg.as_deref().is_some_and(|msg| {
            self.member(&id).is_ok_and(|m| {
                msg.roster <= m.chain.version()
                    && !m.chain.member_at(&msg.author, msg.roster, msg.lamport)
            })
        });
        if void {
            // It was on the screens since it came (`on_gmsg`): off them now.
            if let Some(msg) = &msg {
                self.unshow_group_msgs(&id, &[msg.id]);
            }
            return;
        }
        // Ours is shown once committed (the API answers then); a member's was shown
        // when it came (`on_gmsg`).
        if let (Some(msg), None) = (&msg, from) {
            let message = self.group_message_api(msg);
            if let Some(reply) = reply {
                let _ = reply.try_send(ApiReply::GroupSent(message.clone()));
            }
            self.subs.broadcast(&Event::GroupMessage { message });
        }
        if author != self.own_id && self.groups.map.contains_key(&id) {
            // Unread may have grown; the author is owed our receipt.
            match msg.as_deref() {
                Some(msg) if !self.groups.unsure.contains(&id) => self.count_unread(&id, msg),
                // Stored before (counted then), or the count is not sure: recounted.
                _ => {
                    self.groups.dirty.insert(id);
                }
            }
            self.groups.due_receipts.insert((id, author));
        }
        let Some(m) = self.member_mut(&id) else {
            return;
        };
        let held = m.have.entry(author).or_default();
        held.add(seq);
        let gap = !held.above.is_empty();
        if let (true, Some(from)) = (gap, from) {
            let s = m.summary(&id);
            self.send_group_inner(&from, Inner::GroupSync(s));
        }
        // A gap opened or filled: noted now (a filled one leaves the screens at once).
        if gap || self.groups.gappy.contains(&id) {
            self.refresh_gaps(&id, now);
        }
    }

    /// A member's message just committed: one more unread if it is after our read mark
    /// (the order of [`crate::groups::order_key`], as the store's count has it).
    fn count_unread(&mut self, id: &GroupId, msg: &GroupMsg) {
        let Some(g) = self.groups.map.get_mut(id) else {
            return;
        };
        let key = crate::groups::order_key(msg.lamport, &msg.author);
        if g.read.is_none_or(|mark| key > mark) {
            g.unread += 1;
            self.groups.counted.insert(*id);
        }
    }

    fn on_sync(&mut self, from: NodeId, s: Summary) {
        let id = s.group;
        let Ok(m) = self.member(&id) else {
            self.groups.dropped.unknown_group += 1;
            return;
        };
        if !m.chain.is_member(&from) {
            self.groups.dropped.not_member += 1;
            return;
        }
        let theirs: HashMap<NodeId, u64> = s.have.iter().map(|(a, n)| (a.0, *n)).collect();
        let ours: Vec<(NodeId, u64)> = m.have.iter().map(|(a, h)| (*a, h.upto)).collect();
        let we_lack = s.v > m.chain.version()
            || theirs
                .iter()
                .any(|(a, n)| *n > m.have.get(a).map_or(0, |h| h.upto));
        let our_v = m.chain.version();
        let mut out = Vec::new();
        let mut budget = SYNC_BATCH;
        // Rosters first: messages may name them.
        if s.v < our_v {
            if let Ok(rs) = self.durable.reader.rosters(&id, s.v, budget) {
                budget = budget.saturating_sub(rs.len() as u32);
                out.extend(rs.into_iter().map(|r| Inner::GroupRoster(Box::new(r))));
            }
        }
        for (author, upto) in ours {
            let have = theirs.get(&author).copied().unwrap_or(0);
            if upto <= have || budget == 0 {
                continue;
            }
            match self
                .durable
                .reader
                .group_messages_after(&id, &author, have, budget)
            {
                Ok(msgs) => {
                    budget = budget.saturating_sub(msgs.len() as u32);
                    out.extend(msgs.into_iter().map(|m| Inner::GroupMsg(Box::new(m))));
                }
                Err(e) => log::warn!("group {id}: sync read failed: {e}"),
            }
        }
        if let Some(m) = self.member_mut(&id) {
            let lacked: BTreeSet<(NodeId, u64)> = m
                .storing
                .iter()
                .filter(|(a, seq)| *seq > theirs.get(a).copied().unwrap_or(0))
                .copied()
                .collect();
            if !lacked.is_empty() {
                m.resync.entry(from).or_default().extend(lacked);
            }
        }
        let sent = !out.is_empty();
        let rosters_sent = s.v < our_v;
        for inner in out {
            self.send_group_inner(&from, inner);
        }
        if rosters_sent {
            // Leaves go with the rosters: they say which removals were leaves.
            self.send_leaves(&id, &from);
        }
        if sent || we_lack {
            if let Ok(m) = self.member(&id) {
                let summary = m.summary(&id);
                self.send_group_inner(&from, Inner::GroupSync(summary));
            }
        }
    }

    /// Sends `peer` every leave we hold of group `id` (with rosters: they say which
    /// removals were leaves).
    fn send_leaves(&mut self, id: &GroupId, peer: &NodeId) {
        let leaves = self
            .groups
            .map
            .get(id)
            .map(|g| g.leaves.clone())
            .unwrap_or_default();
        for l in leaves {
            self.send_group_inner(peer, Inner::GroupLeave(Box::new(l)));
        }
    }

    /// A member's signed leave, from itself or forwarded by a member: kept, passed on
    /// once to the members online, and its removal line now says `left`.
    fn on_group_leave(&mut self, from: NodeId, l: Leave) {
        let id = l.group;
        let own = self.own_id;
        let Some(g) = self.groups.map.get_mut(&id) else {
            self.groups.dropped.unknown_group += 1;
            return;
        };
        let Phase::Member(m) = &g.phase else {
            return;
        };
        let member = l.member.0;
        // From a member, or from the one leaving (it may be out of the roster already);
        // about someone who was a member at the version it names.
        let sender_ok = m.chain.is_member(&from) || from == member;
        if !sender_ok || l.from > m.version() || !m.chain.member_at(&member, l.from, 0) {
            self.groups.dropped.not_member += 1;
            return;
        }
        if g.leaves
            .iter()
            .any(|k| k.member == l.member && k.from == l.from)
        {
            return;
        }
        if !l.verify() {
            self.groups.dropped.bad_signature += 1;
            return;
        }
        if g.leaves.len() >= MAX_LEAVES {
            self.groups.dropped.overflow += 1;
            return;
        }
        log::debug!("group {id}: {} leaves (from v{})", short(&member), l.from);
        g.leaves.push(l.clone());
        let to: Vec<NodeId> = m
            .members()
            .iter()
            .copied()
            .filter(|p| *p != own && *p != from && *p != member)
            .collect();
        self.durable
            .submit(Op::InsertLeave(Box::new(l.clone())), After::Nothing);
        for peer in to {
            if self.peers.takes_groups(&peer) {
                self.send_group_inner(&peer, Inner::GroupLeave(Box::new(l.clone())));
            }
        }
        // A removal we already show turns into a leave (same line id).
        self.relabel_leave(&id, &member);
    }

    /// Loads the groups from the store (at start).
    pub(super) fn load_groups(&mut self) -> Result<(), crate::store::StoreError> {
        let reader = &self.durable.reader;
        let own = self.own_id;
        for g in reader.groups()? {
            let rosters = reader.rosters(&g.id, 0, u32::MAX)?;
            let phase = match g.phase {
                GroupPhase::Invited => match g.inviter {
                    Some(from) => Phase::Invited { from },
                    None => continue,
                },
                GroupPhase::Member => {
                    let mut it = rosters.iter().cloned();
                    let Some(Ok(mut chain)) = it.next().map(Chain::start) else {
                        log::warn!("group {}: no valid first roster stored; skipped", g.id);
                        continue;
                    };
                    for r in it {
                        if chain.apply(r).is_err() {
                            break;
                        }
                    }
                    let mut have: BTreeMap<NodeId, Held> = BTreeMap::new();
                    for (author, seq) in reader.group_seqs(&g.id)? {
                        have.entry(author).or_default().add(seq);
                    }
                    let lamport = reader
                        .group_max_lamport(&g.id)?
                        .max(chain.current().roster.lamport);
                    let next_seq = have.get(&self.own_id).map_or(0, |h| h.upto) + 1;
                    if have.values().any(|h| !h.above.is_empty()) {
                        // A gap left when we stopped: the tick notes it.
                        self.groups.gappy.insert(g.id);
                    }
                    let mut m = Membership::new(chain, lamport, next_seq);
                    m.have = have;
                    Phase::Member(Box::new(m))
                }
                GroupPhase::Declined => Phase::Declined,
                GroupPhase::Left => Phase::Left,
                GroupPhase::Removed => Phase::Removed,
            };
            let mut group = Group::new(g.name, g.owner, g.inviter, g.created, phase);
            for r in &rosters {
                group.saw(&r.roster);
            }
            if matches!(group.phase, Phase::Removed) {
                // The last roster we took is the one without us.
                group.removed_by = rosters.last().map(|r| r.roster.signer);
            }
            group.leaves = reader.group_leaves(&g.id)?;
            group.leaves.truncate(MAX_LEAVES);
            group.read = reader.group_read_mark(&g.id)?;
            group.unread = reader.group_unread(&g.id, &own, group.read)?;
            group.receipts = reader
                .group_receipts(&g.id)?
                .into_iter()
                .map(|(m, d, r)| (m, (d, r)))
                .collect();
            self.groups.map.insert(g.id, group);
        }
        Ok(())
    }
}

#[allow(dead_code)]
impl Membership {
    fn new(chain: Chain, lamport: u64, next_seq: u64) -> Membership {
        Membership {
            chain,
            have: BTreeMap::new(),
            lamport,
            next_seq,
            waiting: Vec::new(),
            storing: BTreeSet::new(),
            resync: BTreeMap::new(),
            invited: BTreeSet::new(),
            gaps: Default::default(),
            keys: HashMap::new(),
        }
    }

    /// Our `GSYN` for this group (the authors with the most held first if over the cap).
    pub(super) fn summary(&self, id: &GroupId) -> Summary {
        let mut have: Vec<(Author, u64)> = self
            .have
            .iter()
            .filter(|(_, h)| h.upto > 0)
            .map(|(a, h)| (Author(*a), h.upto))
            .collect();
        have.truncate(MAX_SYNC_AUTHORS);
        Summary {
            group: *id,
            v: self.chain.version(),
            have,
        }
    }

    /// Highest seq of `author` held with every one before it.
    pub fn held_upto(&self, author: &NodeId) -> u64 {
        self.have.get(author).map_or(0, |h| h.upto)
    }

    /// Current members.
    pub fn members(&self) -> &[NodeId] {
        &self.chain.current().roster.members
    }

    /// Roster version.
    pub fn version(&self) -> u64 {
        self.chain.version()
    }
}

/// Most messages in one page of a group's history (as for 1:1 history).
pub const MAX_GROUP_PAGE: u32 = 500;
/// Messages in a page when the asker names no `limit`.
pub const DEFAULT_GROUP_PAGE: u32 = 50;

impl From<GroupError> for Refusal {
    fn from(e: GroupError) -> Refusal {
        let why = e.to_string();
        match e {
            GroupError::Unknown => Refusal::NotFound(why),
            GroupError::NotOwner => Refusal::Forbidden(why),
            GroupError::BadName | GroupError::BadText | GroupError::NotContact => {
                Refusal::Invalid(why)
            }
            GroupError::NotMember
            | GroupError::Phase(_)
            | GroupError::Full
            | GroupError::TooManyGroups => Refusal::Conflict(why),
            GroupError::Rng => Refusal::Store(why),
        }
    }
}

/// The JSON API and the WebSocket commands for groups (issue 18): one entry point, so
/// both check and refuse alike.
impl State {
    /// A group as the UI and the API see it.
    fn group_api(&self, id: &GroupId, g: &Group) -> api::Group {
        let (members, version, missing) = match &g.phase {
            Phase::Member(m) => (
                m.members()
                    .iter()
                    .map(|peer| self.group_member_api(peer))
                    .collect(),
                m.version(),
                m.gaps
                    .shown()
                    .iter()
                    .map(|gap| api::MissingRun {
                        author: crate::hex::encode(&gap.author),
                        count: gap.count,
                        since: gap.since,
                    })
                    .collect(),
            ),
            _ => (Vec::new(), 0, Vec::new()),
        };
        let known = g
            .seen
            .iter()
            .map(|peer| api::KnownMember {
                id: crate::hex::encode(peer),
                name: self.group_member_api(peer).name,
            })
            .collect();
        api::Group {
            id: id.to_string(),
            name: g.name.clone(),
            owner: crate::hex::encode(&g.owner),
            phase: g.phase.name().to_string(),
            members,
            version,
            created: g.created,
            unread: g.unread,
            removed_by: g.removed_by.map(|r| crate::hex::encode(&r)),
            known,
            missing,
        }
    }

    fn group_member_api(&self, peer: &NodeId) -> api::GroupMember {
        if *peer == self.own_id {
            return api::GroupMember {
                id: crate::hex::encode(peer),
                name: self.name.clone(),
                online: true,
            };
        }
        api::GroupMember {
            id: crate::hex::encode(peer),
            name: self
                .peers
                .get(peer)
                .map(|c| c.name.clone())
                .unwrap_or_default(),
            online: self.peers.is_online(peer),
        }
    }

    /// Every group, oldest first.
    pub(super) fn groups_list(&self) -> Vec<api::Group> {
        let mut out: Vec<(&GroupId, &Group)> = self.groups.map.iter().collect();
        out.sort_by_key(|(id, g)| (g.created, **id));
        out.into_iter()
            .map(|(id, g)| self.group_api(id, g))
            .collect()
    }

    /// Tells every UI that a group changed.
    pub(super) fn push_group(&mut self, id: &GroupId) {
        if let Some(g) = self.groups.map.get(id) {
            let group = self.group_api(id, g);
            self.subs.broadcast(&Event::Group { group });
        }
    }

    fn parse_group(&self, group: &str) -> Result<GroupId, Refusal> {
        crate::hex::decode_array::<16>(group)
            .ok()
            .map(GroupId)
            .filter(|id| self.groups.map.contains_key(id))
            .ok_or_else(|| Refusal::NotFound(format!("no such group {group:?}")))
    }

    fn parse_contact(&self, peer: &str) -> Result<NodeId, Refusal> {
        crate::hex::decode_array::<32>(peer)
            .ok()
            .filter(|id| self.peers.get(id).is_some())
            .ok_or_else(|| Refusal::UnknownPeer(peer.to_string()))
    }

    /// A group request of the JSON API or a UI. `None`: the answer goes to `reply`
    /// later (a message, once committed).
    pub(super) fn group_request(
        &mut self,
        req: ApiRequest,
        reply: Option<Sender<ApiReply>>,
    ) -> Option<ApiReply> {
        let refused = |r: Refusal| Some(ApiReply::Refused(r));
        match req {
            ApiRequest::Groups => Some(ApiReply::Groups(self.groups_list())),
            ApiRequest::GroupCreate { name, members } => {
                if members.len() >= MAX_MEMBERS {
                    return refused(GroupError::Full.into());
                }
                // Every member checked before anything is created.
                let mut ids = Vec::new();
                for m in &members {
                    match self.parse_contact(m) {
                        Ok(id) if self.peers.get(&id).is_some_and(|c| !c.is_stranger()) => {
                            ids.push(id)
                        }
                        Ok(_) => return refused(GroupError::NotContact.into()),
                        Err(r) => return refused(r),
                    }
                }
                let id = match self.create_group(&name) {
                    Ok(id) => id,
                    Err(e) => return refused(e.into()),
                };
                let own = self.own_id;
                for peer in ids.into_iter().filter(|p| *p != own) {
                    if let Err(e) = self.invite_to_group(&id, peer) {
                        log::debug!("group {id}: invitation to {} failed: {e}", short(&peer));
                    }
                }
                let g = self.groups.map.get(&id)?;
                Some(ApiReply::Group(self.group_api(&id, g)))
            }
            ApiRequest::GroupAct { group, action } => {
                let id = match self.parse_group(&group) {
                    Ok(id) => id,
                    Err(r) => return refused(r),
                };
                let done = match action {
                    GroupAction::Invite(peer) => match self.parse_contact(&peer) {
                        Ok(p) => self.invite_to_group(&id, p),
                        Err(r) => return refused(r),
                    },
                    GroupAction::Remove(peer) => match crate::hex::decode_array::<32>(&peer) {
                        Ok(p) if self.member(&id).is_ok_and(|m| m.chain.is_member(&p)) => {
                            self.remove_from_group(&id, p)
                        }
                        _ => {
                            return refused(Refusal::NotFound(format!(
                                "{peer:?} is not a member of this group"
                            )))
                        }
                    },
                    GroupAction::Accept => self.accept_group(&id),
                    GroupAction::Decline => self.decline_group(&id),
                    GroupAction::Leave => self.leave_group(&id),
                    GroupAction::Rename(name) => self.rename_group(&id, &name),
                };
                match done {
                    Ok(()) => {
                        self.push_group(&id);
                        let g = self.groups.map.get(&id)?;
                        Some(ApiReply::Group(self.group_api(&id, g)))
                    }
                    Err(e) => refused(e.into()),
                }
            }
            ApiRequest::GroupSend { group, text } => {
                let id = match self.parse_group(&group) {
                    Ok(id) => id,
                    Err(r) => return refused(r),
                };
                if text.len() > MAX_GROUP_TEXT {
                    return refused(Refusal::TooLong(GroupError::BadText.to_string()));
                }
                if self.durable.unstored() >= super::messages::MAX_UNSTORED
                    || self.durable.unstored_bytes() >= super::messages::MAX_UNSTORED_BYTES
                {
                    return refused(Refusal::Busy(
                        "the disk is not keeping up; try again in a moment".into(),
                    ));
                }
                // Answered once committed (After::GroupMsgStored); a UI hears of it
                // by the `group_message` event.
                match self.send_group_replying(&id, text, reply) {
                    Ok(_) => None,
                    Err(e) => refused(e.into()),
                }
            }
            ApiRequest::GroupMessages {
                group,
                before,
                limit,
            } => {
                let id = match self.parse_group(&group) {
                    Ok(id) => id,
                    Err(r) => return refused(r),
                };
                Some(self.group_page(&id, before.as_deref(), limit))
            }
            ApiRequest::GroupRead { group, upto } => {
                let id = match self.parse_group(&group) {
                    Ok(id) => id,
                    Err(r) => return refused(r),
                };
                match self.read_group(&id, &upto) {
                    Ok(()) => Some(ApiReply::Done),
                    Err(r) => refused(r),
                }
            }
            _ => None,
        }
    }
}
