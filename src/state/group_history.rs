//! A group's history as the UIs and the API see it (issue 18): messages and the system
//! lines of roster changes in one display order, pages of it, and our read mark.
//!
//! Every item has a display key:
//!
//! ```text
//!   message       (lamport, author, 1, 0)
//!   system line   (roster lamport, signer, 0, index in its roster)   crate::groups::lines
//! ```
//!
//! Messages are paged by the store; system lines (a few per roster, rosters bounded by
//! the membership spans) are derived from the stored rosters and merged into the page.
//! The read mark is a display position `(lamport, author)`: everything at or before it
//! is read, and `unread` counts the messages of others after it.

use crate::api::{self, Event};
use crate::bus::{ApiReply, Refusal};
use crate::groups::lines::{changes, is_leave, line_id, Change};
use crate::identity::NodeId;
use crate::peer::group::{GroupId, GroupMsg, SignedRoster};
use crate::peer::inner::MsgId;
use crate::store::Op;

use super::durable::After;
use super::groups::{DEFAULT_GROUP_PAGE, MAX_GROUP_PAGE};
use super::State;

/// Where an item sits in display order (module docs).
type Key = (u64, NodeId, u8, u8);

fn message_key(lamport: u64, author: NodeId) -> Key {
    (lamport, author, 1, 0)
}

/// The system lines of roster `r` (after `prev`), with their keys; `left` says which
/// removed members had left.
fn lines(
    prev: Option<&SignedRoster>,
    r: &SignedRoster,
    taken: i64,
    left: &dyn Fn(&NodeId) -> bool,
) -> Vec<(Key, api::GroupMessage)> {
    let next = &r.roster;
    changes(prev.map(|p| &p.roster), next)
        .into_iter()
        .map(|change| match change {
            Change::Removed(m) if left(&m) => Change::Left(m),
            other => other,
        })
        .enumerate()
        .map(|(index, change)| {
            let key = (
                next.lamport,
                next.signer,
                0,
                u8::try_from(index).unwrap_or(u8::MAX),
            );
            let item = api::GroupMessage {
                id: crate::hex::encode(&line_id(r, index)),
                group: next.group.to_string(),
                kind: "system".into(),
                author: String::new(),
                seq: 0,
                lamport: next.lamport,
                ts: taken,
                text: String::new(),
                delivered: None,
                read: None,
                change: Some(change.name().into()),
                by: Some(crate::hex::encode(&next.signer)),
                member: change.member().map(|m| crate::hex::encode(m)),
                name: match &change {
                    Change::Renamed(name) => Some(name.clone()),
                    _ => None,
                },
                version: Some(next.version),
            };
            (key, item)
        })
        .collect()
}

impl State {
    /// A group message as the UIs and the API see it; ours with who holds and read it.
    pub(super) fn group_message_api(&self, m: &GroupMsg) -> api::GroupMessage {
        let (delivered, read) = if m.author == self.own_id {
            let receipts = self.groups.map.get(&m.group).map(|g| &g.receipts);
            let who = |pick: fn(&(u64, u64)) -> u64| -> Vec<String> {
                receipts
                    .into_iter()
                    .flatten()
                    .filter(|(member, marks)| **member != self.own_id && pick(marks) >= m.seq)
                    .map(|(member, _)| crate::hex::encode(member))
                    .collect()
            };
            (Some(who(|(d, _)| *d)), Some(who(|(_, r)| *r)))
        } else {
            (None, None)
        };
        api::GroupMessage {
            id: m.id.to_string(),
            group: m.group.to_string(),
            kind: "text".into(),
            author: crate::hex::encode(&m.author),
            seq: m.seq,
            lamport: m.lamport,
            ts: m.ts,
            text: m.text.clone(),
            delivered,
            read,
            change: None,
            by: None,
            member: None,
            name: None,
            version: None,
        }
    }

    /// Tells every UI of the lines a roster just taken adds (`group_message` events).
    pub(super) fn roster_lines(
        &mut self,
        prev: Option<&SignedRoster>,
        r: &SignedRoster,
        taken: i64,
    ) {
        let group = r.roster.group;
        let out = {
            let chain = self.member(&group).ok().map(|m| &m.chain);
            let leaves = self
                .groups
                .map
                .get(&group)
                .map(|g| g.leaves.as_slice())
                .unwrap_or_default();
            let left = |m: &NodeId| {
                let joined = chain.and_then(|c| c.joined(m)).unwrap_or(1);
                is_leave(leaves, m, joined, r.roster.version)
            };
            lines(prev, r, taken, &left)
        };
        for (_, message) in out {
            self.subs.broadcast(&Event::GroupMessage { message });
        }
    }

    /// A leave came after the removal it names was shown: the line again, now `left`
    /// (same id: a UI replaces it).
    pub(super) fn relabel_leave(&mut self, id: &GroupId, member: &NodeId) {
        let hex = crate::hex::encode(member);
        let Ok(items) = self.system_items(id) else {
            return;
        };
        for (_, message) in items {
            if message.change.as_deref() == Some("left") && message.member.as_deref() == Some(&hex)
            {
                self.subs.broadcast(&Event::GroupMessage { message });
            }
        }
    }

    /// Every system line of a group, in display order.
    fn system_items(&self, id: &GroupId) -> Result<Vec<(Key, api::GroupMessage)>, Refusal> {
        let rosters = self
            .durable
            .reader
            .rosters_taken(id)
            .map_err(|e| Refusal::Store(e.to_string()))?;
        let leaves = self
            .groups
            .map
            .get(id)
            .map(|g| g.leaves.as_slice())
            .unwrap_or_default();
        let mut out = Vec::new();
        let mut prev: Option<&SignedRoster> = None;
        // Since which version each member has been in (for which leave names which
        // removal).
        let mut joined: std::collections::HashMap<NodeId, u64> = Default::default();
        for (r, taken) in &rosters {
            // A chain with a hole (an edited file) starts over rather than inventing
            // changes across the hole.
            let follows = prev.is_some_and(|p| p.roster.version + 1 == r.roster.version);
            let version = r.roster.version;
            let left =
                |m: &NodeId| is_leave(leaves, m, joined.get(m).copied().unwrap_or(1), version);
            let these = lines(prev.filter(|_| follows), r, *taken, &left);
            for m in &r.roster.members {
                if !prev.is_some_and(|p| follows && p.roster.has(m)) {
                    joined.insert(*m, version);
                }
            }
            out.extend(these);
            prev = Some(r);
        }
        out.sort_by_key(|a| a.0);
        Ok(out)
    }

    /// The display key of item `item` (a message or a system line id) of a group.
    fn item_key(&self, id: &GroupId, item: &str) -> Result<Key, Refusal> {
        let Ok(mid) = crate::hex::decode_array::<16>(item) else {
            return Err(Refusal::Invalid("a message id is 32 hex characters".into()));
        };
        match self.durable.reader.group_msg_position(id, &MsgId(mid)) {
            Ok(Some((lamport, author))) => return Ok(message_key(lamport, author)),
            Ok(None) => {}
            Err(e) => return Err(Refusal::Store(e.to_string())),
        }
        let wanted = crate::hex::encode(&mid);
        self.system_items(id)?
            .into_iter()
            .find(|(_, item)| item.id == wanted)
            .map(|(key, _)| key)
            .ok_or_else(|| Refusal::NotFound(format!("{item:?} names no message of this group")))
    }

    /// A page of a group's history (messages and system lines), oldest first.
    pub(super) fn group_page(
        &self,
        id: &GroupId,
        before: Option<&str>,
        limit: Option<u32>,
    ) -> ApiReply {
        let limit = limit.unwrap_or(DEFAULT_GROUP_PAGE).clamp(1, MAX_GROUP_PAGE);
        let before = match before.filter(|b| !b.is_empty()) {
            None => None,
            Some(b) => match self.item_key(id, b) {
                Ok(key) => Some(key),
                Err(Refusal::Invalid(_)) => {
                    return ApiReply::Refused(Refusal::Invalid(
                        "`before` must be a message id (32 hex)".into(),
                    ))
                }
                Err(Refusal::NotFound(_)) => {
                    return ApiReply::Refused(Refusal::NotFound(
                        "`before` names no message of this group".into(),
                    ))
                }
                Err(r) => return ApiReply::Refused(r),
            },
        };
        let position = before.map(|(lamport, author, ..)| (lamport, author));
        let (rows, cut) = match self
            .durable
            .reader
            .group_page(id, position, limit, api::PAGE_BYTES)
        {
            Ok(page) => page,
            Err(e) => return ApiReply::Refused(Refusal::Store(e.to_string())),
        };
        let systems = match self.system_items(id) {
            Ok(s) => s,
            Err(r) => return ApiReply::Refused(r),
        };
        // When the store may hold older messages than the page (it stopped at `limit`
        // or at its byte bound), lines older than the page's oldest message belong to a
        // later page: taking them would skip the messages between.
        let more_before = cut || rows.len() >= limit as usize;
        let oldest = rows.first().map(|m| message_key(m.lamport, m.author));
        let mut items: Vec<(Key, api::GroupMessage)> = systems
            .into_iter()
            .filter(|(key, _)| before.is_none_or(|b| *key < b))
            .filter(|(key, _)| !more_before || oldest.is_none_or(|o| *key > o))
            .collect();
        items.extend(
            rows.iter()
                .map(|m| (message_key(m.lamport, m.author), self.group_message_api(m))),
        );
        items.sort_by_key(|a| a.0);
        let skip = items.len().saturating_sub(limit as usize);
        let messages = items.into_iter().skip(skip).map(|(_, m)| m).collect();
        ApiReply::GroupMessages(api::GroupPage::fit(messages, api::PAGE_BYTES, cut))
    }

    /// Our user has read everything in group `id` up to item `upto` in display order:
    /// the mark moves forward (never back), is stored, the unread count follows, and
    /// the authors are owed our receipts.
    pub(super) fn read_group(&mut self, id: &GroupId, upto: &str) -> Result<(), Refusal> {
        let (lamport, author, ..) = self.item_key(id, upto)?;
        let mark = (lamport, author);
        let Some(g) = self.groups.map.get_mut(id) else {
            return Err(Refusal::NotFound("no such group".into()));
        };
        if g.read.is_some_and(|r| r >= mark) {
            return Ok(());
        }
        g.read = Some(mark);
        log::debug!("group {id}: read up to L{lamport}");
        self.durable.submit(
            Op::GroupRead {
                group: *id,
                lamport,
                author,
            },
            After::Nothing,
        );
        let own = self.own_id;
        if let Ok(m) = self.member(id) {
            let authors: Vec<NodeId> = m
                .chain
                .current()
                .roster
                .members
                .iter()
                .copied()
                .filter(|a| *a != own && m.held_upto(a) > 0)
                .collect();
            self.groups
                .due_receipts
                .extend(authors.into_iter().map(|a| (*id, a)));
        }
        self.groups.dirty.insert(*id);
        Ok(())
    }

    /// Tells every UI to drop messages it may show (purged: written by a member after
    /// its removal), in events of at most [`api::MAX_REMOVED_IDS`] ids. Their unread
    /// count is recounted at the end of the turn.
    pub(super) fn unshow_group_msgs(&mut self, id: &GroupId, ids: &[MsgId]) {
        for chunk in ids.chunks(api::MAX_REMOVED_IDS) {
            let ids = chunk.iter().map(ToString::to_string).collect();
            let group = id.to_string();
            self.subs
                .broadcast(&Event::GroupMessageRemoved { group, ids });
        }
        if !ids.is_empty() {
            self.groups.dirty.insert(*id);
        }
    }

    /// Recounts the unread messages of the groups that need it, and tells every UI of
    /// those and of the groups whose count went up in memory.
    pub(super) fn flush_dirty_groups(&mut self) {
        let dirty = std::mem::take(&mut self.groups.dirty);
        let mut changed = std::mem::take(&mut self.groups.counted);
        let own = self.own_id;
        for id in dirty {
            let Some(read) = self.groups.map.get(&id).map(|g| g.read) else {
                continue;
            };
            match self.durable.reader.group_unread(&id, &own, read) {
                Ok(n) => {
                    if let Some(g) = self.groups.map.get_mut(&id) {
                        g.unread = n;
                    }
                }
                Err(e) => log::warn!("group {id}: unread count failed: {e}"),
            }
            // What is on its way to the store may be committed and counted already
            // (our own messages are never unread).
            let members_storing =
                |m: &super::groups::Membership| m.storing.iter().any(|(author, _)| *author != own);
            if self.member(&id).is_ok_and(members_storing) {
                self.groups.unsure.insert(id);
            } else {
                self.groups.unsure.remove(&id);
            }
            changed.insert(id);
        }
        for id in changed {
            self.push_group(&id);
        }
    }
}
