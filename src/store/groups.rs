//! Groups on disk (schema v5, issue 18): one row per group we know, its signed rosters,
//! and its messages as signed (the `GMSG` body), so they can be forwarded to any member
//! and their author checked again by whoever receives them. Since v6 also the receipts
//! members sent for our messages (per member: seq marks) and our own read mark.
//!
//! Rows whose bytes do not parse (an edited file) are skipped with a warning; what the
//! store hands out has passed the same parser as the wire.

use rusqlite::{params, Connection, OptionalExtension};

use super::{NodeId, Reader, StoreError};
use crate::peer::group::{Author, GroupId, GroupMsg, Leave, SignedRoster};

/// Where we stand in a group, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupPhase {
    /// Invited, not answered yet.
    Invited,
    /// A member (we hold its rosters).
    Member,
    /// We declined the invitation.
    Declined,
    /// We left.
    Left,
    /// The owner removed us.
    Removed,
}

impl GroupPhase {
    /// The column value.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupPhase::Invited => "invited",
            GroupPhase::Member => "member",
            GroupPhase::Declined => "declined",
            GroupPhase::Left => "left",
            GroupPhase::Removed => "removed",
        }
    }

    /// Parses a column value.
    pub fn parse(s: &str) -> Option<GroupPhase> {
        Some(match s {
            "invited" => GroupPhase::Invited,
            "member" => GroupPhase::Member,
            "declined" => GroupPhase::Declined,
            "left" => GroupPhase::Left,
            "removed" => GroupPhase::Removed,
            _ => return None,
        })
    }
}

/// A group as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredGroup {
    /// The group.
    pub id: GroupId,
    /// Its name (the latest roster's, or the invitation's).
    pub name: String,
    /// Where we stand.
    pub phase: GroupPhase,
    /// Its owner as we last knew it.
    pub owner: NodeId,
    /// Who invited us (none for a group we created).
    pub inviter: Option<NodeId>,
    /// When we first heard of it, Unix ms.
    pub created: i64,
}

pub(super) fn upsert(conn: &Connection, g: &StoredGroup) -> rusqlite::Result<usize> {
    conn.prepare_cached(
        "INSERT INTO groups (id, name, phase, owner, inviter, created)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (id) DO UPDATE SET
             name = excluded.name, phase = excluded.phase, owner = excluded.owner",
    )?
    .execute(params![
        g.id.0,
        g.name,
        g.phase.as_str(),
        g.owner,
        g.inviter,
        g.created
    ])
}

pub(super) fn insert_roster(
    conn: &Connection,
    r: &SignedRoster,
    taken: i64,
) -> rusqlite::Result<usize> {
    let mut body = Vec::new();
    r.encode(&mut body);
    let version = i64::try_from(r.roster.version).unwrap_or(i64::MAX);
    conn.prepare_cached(
        "INSERT INTO group_rosters (grp, version, roster, taken) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT DO NOTHING",
    )?
    .execute(params![r.roster.group.0, version, body, taken])
}

fn sql_u64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub(super) fn receipt(
    conn: &Connection,
    group: &GroupId,
    member: &NodeId,
    delivered: u64,
    read: u64,
) -> rusqlite::Result<usize> {
    // Marks only rise (a receipt that arrives late changes nothing); read implies
    // delivered, so `delivered` is raised to at least `read`.
    let read = sql_u64(read);
    let delivered = sql_u64(delivered).max(read);
    conn.prepare_cached(
        "INSERT INTO group_receipts (grp, member, delivered, read) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (grp, member) DO UPDATE SET
             delivered = max(delivered, excluded.delivered),
             read = max(read, excluded.read)",
    )?
    .execute(params![group.0, member, delivered, read])
}

pub(super) fn insert_leave(conn: &Connection, l: &Leave) -> rusqlite::Result<usize> {
    conn.prepare_cached(
        "INSERT INTO group_leaves (grp, member, from_v, sig) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT DO NOTHING",
    )?
    .execute(params![l.group.0, l.member.0, sql_u64(l.from), l.sig])
}

pub(super) fn read_mark(
    conn: &Connection,
    group: &GroupId,
    lamport: u64,
    author: &NodeId,
) -> rusqlite::Result<usize> {
    let lamport = sql_u64(lamport);
    conn.prepare_cached(
        "UPDATE groups SET read_lamport = ?2, read_author = ?3 WHERE id = ?1
         AND (read_lamport < ?2 OR (read_lamport = ?2
              AND (read_author IS NULL OR read_author < ?3)))",
    )?
    .execute(params![group.0, lamport, author])
}

pub(super) fn insert_message(conn: &Connection, m: &GroupMsg) -> rusqlite::Result<usize> {
    let mut body = Vec::new();
    m.encode(&mut body);
    let seq = i64::try_from(m.seq).unwrap_or(i64::MAX);
    let lamport = i64::try_from(m.lamport).unwrap_or(i64::MAX);
    // A repeat (same id, or the same author and seq) is the sync repeating itself.
    conn.prepare_cached(
        "INSERT INTO group_messages (id, grp, author, seq, lamport, body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
    )?
    .execute(params![m.id.0, m.group.0, m.author, seq, lamport, body])
}

pub(super) fn purge_messages(
    conn: &Connection,
    group: &GroupId,
    author: &NodeId,
    from_lamport: u64,
) -> rusqlite::Result<usize> {
    let from = i64::try_from(from_lamport).unwrap_or(i64::MAX);
    conn.prepare_cached(
        "DELETE FROM group_messages WHERE grp = ?1 AND author = ?2 AND lamport >= ?3",
    )?
    .execute(params![group.0, author, from])
}

impl Reader {
    /// Every group we know, by creation time.
    pub fn groups(&self) -> Result<Vec<StoredGroup>, StoreError> {
        let err = |e| StoreError::sqlite(self.path(), e);
        let mut stmt = self
            .conn()
            .prepare_cached(
                "SELECT id, name, phase, owner, inviter, created FROM groups ORDER BY created, id",
            )
            .map_err(err)?;
        let rows = stmt
            .query_map([], |r| {
                let id: Vec<u8> = r.get(0)?;
                let phase: String = r.get(2)?;
                let owner: Vec<u8> = r.get(3)?;
                let inviter: Option<Vec<u8>> = r.get(4)?;
                Ok((id, r.get::<_, String>(1)?, phase, owner, inviter, r.get(5)?))
            })
            .map_err(err)?;
        let mut out = Vec::new();
        for row in rows {
            let (id, name, phase, owner, inviter, created) = row.map_err(err)?;
            let parsed = (
                id.try_into().ok(),
                GroupPhase::parse(&phase),
                owner.try_into().ok(),
            );
            let (Some(id), Some(phase), Some(owner)) = parsed else {
                log::warn!(
                    "{}: skipping an unreadable group row",
                    self.path().display()
                );
                continue;
            };
            out.push(StoredGroup {
                id: GroupId(id),
                name,
                phase,
                owner,
                inviter: inviter.and_then(|i| i.try_into().ok()),
                created,
            });
        }
        Ok(out)
    }

    /// A group's rosters with version > `after`, in order, at most `limit`.
    pub fn rosters(
        &self,
        group: &GroupId,
        after: u64,
        limit: u32,
    ) -> Result<Vec<SignedRoster>, StoreError> {
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        self.blobs(
            "SELECT roster FROM group_rosters WHERE grp = ?1 AND version > ?2
             ORDER BY version LIMIT ?3",
            params![group.0, after, limit],
            |b| SignedRoster::parse(b).ok(),
        )
    }

    /// Every roster of a group in version order, with when we took it (Unix ms).
    pub fn rosters_taken(&self, group: &GroupId) -> Result<Vec<(SignedRoster, i64)>, StoreError> {
        let err = |e| StoreError::sqlite(self.path(), e);
        let mut stmt = self
            .conn()
            .prepare_cached(
                "SELECT roster, taken FROM group_rosters WHERE grp = ?1 ORDER BY version",
            )
            .map_err(err)?;
        let rows = stmt
            .query_map([group.0], |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get(1)?)))
            .map_err(err)?;
        let mut out = Vec::new();
        for row in rows {
            let (body, taken) = row.map_err(err)?;
            match SignedRoster::parse(&body) {
                Ok(r) => out.push((r, taken)),
                Err(_) => log::warn!(
                    "{}: skipping an unreadable group row",
                    self.path().display()
                ),
            }
        }
        Ok(out)
    }

    /// Members' signed leaves in a group, by member and version.
    pub fn group_leaves(&self, group: &GroupId) -> Result<Vec<Leave>, StoreError> {
        let err = |e| StoreError::sqlite(self.path(), e);
        let mut stmt = self
            .conn()
            .prepare_cached(
                "SELECT member, from_v, sig FROM group_leaves WHERE grp = ?1
                 ORDER BY member, from_v",
            )
            .map_err(err)?;
        let rows = stmt
            .query_map([group.0], |r| {
                Ok((
                    r.get::<_, Vec<u8>>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                ))
            })
            .map_err(err)?;
        let mut out = Vec::new();
        for row in rows {
            let (member, from, sig) = row.map_err(err)?;
            if let (Ok(member), Ok(from), Ok(sig)) =
                (member.try_into(), u64::try_from(from), sig.try_into())
            {
                out.push(Leave {
                    group: *group,
                    member: Author(member),
                    from,
                    sig,
                });
            }
        }
        Ok(out)
    }

    /// Per member: how far it holds and has read our messages in a group (seq marks).
    pub fn group_receipts(&self, group: &GroupId) -> Result<Vec<(NodeId, u64, u64)>, StoreError> {
        let err = |e| StoreError::sqlite(self.path(), e);
        let mut stmt = self
            .conn()
            .prepare_cached(
                "SELECT member, delivered, read FROM group_receipts WHERE grp = ?1
                 ORDER BY member",
            )
            .map_err(err)?;
        let rows = stmt
            .query_map([group.0], |r| {
                Ok((
                    r.get::<_, Vec<u8>>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
            .map_err(err)?;
        let mut out = Vec::new();
        for row in rows {
            let (member, d, r) = row.map_err(err)?;
            if let (Ok(m), Ok(d), Ok(r)) = (member.try_into(), u64::try_from(d), u64::try_from(r)) {
                out.push((m, d, r));
            }
        }
        Ok(out)
    }

    /// Our read mark in a group: the display position read up to (none: nothing read).
    pub fn group_read_mark(&self, group: &GroupId) -> Result<Option<(u64, NodeId)>, StoreError> {
        self.conn()
            .query_row(
                "SELECT read_lamport, read_author FROM groups WHERE id = ?1",
                [group.0],
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Option<Vec<u8>>>(1)?)),
            )
            .optional()
            .map(|row| row.and_then(|(l, a)| Some((u64::try_from(l).ok()?, a?.try_into().ok()?))))
            .map_err(|e| StoreError::sqlite(self.path(), e))
    }

    /// Messages of others than `own` after the display position `mark` (unread).
    pub fn group_unread(
        &self,
        group: &GroupId,
        own: &NodeId,
        mark: Option<(u64, NodeId)>,
    ) -> Result<u64, StoreError> {
        let (lamport, author) = mark.unwrap_or((0, [0; 32]));
        self.one_u64(
            "SELECT count(*) FROM group_messages WHERE grp = ?1 AND author != ?2
             AND (lamport > ?3 OR (lamport = ?3 AND author > ?4))",
            params![group.0, own, sql_u64(lamport), author],
        )
    }

    /// The one integer a query answers (a count, a max), never negative. The statement
    /// is cached: these run after every commit of a group message (the unread count)
    /// and for every receipt we send, and parsing the SQL each time was ~12 % of a
    /// member's state thread.
    fn one_u64(&self, sql: &str, args: impl rusqlite::Params) -> Result<u64, StoreError> {
        let err = |e| StoreError::sqlite(self.path(), e);
        self.conn()
            .prepare_cached(sql)
            .map_err(err)?
            .query_row(args, |r| r.get::<_, i64>(0))
            .map(|n| u64::try_from(n).unwrap_or(0))
            .map_err(err)
    }

    /// The highest seq of `author`'s messages at or before the display position `mark`
    /// (0 when none). An author's clock rises with its seq, so these are a seq prefix
    /// of what we hold.
    pub fn group_seq_upto(
        &self,
        group: &GroupId,
        author: &NodeId,
        mark: (u64, NodeId),
    ) -> Result<u64, StoreError> {
        let (lamport, by) = mark;
        self.one_u64(
            "SELECT coalesce(max(seq), 0) FROM group_messages WHERE grp = ?1
             AND author = ?2 AND (lamport < ?3 OR (lamport = ?3 AND author <= ?4))",
            params![group.0, author, sql_u64(lamport), by],
        )
    }

    /// Ids of `author`'s messages with `after < seq ≤ upto`, newest `limit` of them.
    pub fn group_ids_by_seq(
        &self,
        group: &GroupId,
        author: &NodeId,
        after: u64,
        upto: u64,
        limit: u32,
    ) -> Result<Vec<(u64, crate::peer::inner::MsgId)>, StoreError> {
        let err = |e| StoreError::sqlite(self.path(), e);
        let mut stmt = self
            .conn()
            .prepare_cached(
                "SELECT seq, id FROM group_messages WHERE grp = ?1 AND author = ?2
                 AND seq > ?3 AND seq <= ?4 ORDER BY seq DESC LIMIT ?5",
            )
            .map_err(err)?;
        let rows = stmt
            .query_map(
                params![group.0, author, sql_u64(after), sql_u64(upto), limit],
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)),
            )
            .map_err(err)?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, id) = row.map_err(err)?;
            if let (Ok(seq), Ok(id)) = (u64::try_from(seq), id.try_into()) {
                out.push((seq, crate::peer::inner::MsgId(id)));
            }
        }
        out.reverse();
        Ok(out)
    }

    /// An author's messages in a group with `seq > after`, by seq, at most `limit`.
    pub fn group_messages_after(
        &self,
        group: &GroupId,
        author: &NodeId,
        after: u64,
        limit: u32,
    ) -> Result<Vec<GroupMsg>, StoreError> {
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        self.blobs(
            "SELECT body FROM group_messages WHERE grp = ?1 AND author = ?2 AND seq > ?3
             ORDER BY seq LIMIT ?4",
            params![group.0, author, after, limit],
            |b| GroupMsg::parse(b).ok(),
        )
    }

    /// The `limit` latest messages of a group, in display order (Lamport clock, then
    /// author), oldest first.
    pub fn group_history(&self, group: &GroupId, limit: u32) -> Result<Vec<GroupMsg>, StoreError> {
        let mut rows = self.blobs(
            "SELECT body FROM group_messages WHERE grp = ?1
             ORDER BY lamport DESC, author DESC LIMIT ?2",
            params![group.0, limit],
            |b| GroupMsg::parse(b).ok(),
        )?;
        rows.reverse();
        Ok(rows)
    }

    /// Where a group message sits in display order: its (Lamport, author).
    pub fn group_msg_position(
        &self,
        group: &GroupId,
        id: &crate::peer::inner::MsgId,
    ) -> Result<Option<(u64, NodeId)>, StoreError> {
        self.conn()
            .query_row(
                "SELECT lamport, author FROM group_messages WHERE grp = ?1 AND id = ?2",
                params![group.0, id.0],
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)),
            )
            .optional()
            .map(|row| row.and_then(|(l, a)| Some((u64::try_from(l).ok()?, a.try_into().ok()?))))
            .map_err(|e| StoreError::sqlite(self.path(), e))
    }

    /// A page of a group's history in display order (Lamport, then author), oldest
    /// first: the newest `limit` before `before` (a position), stopping once the bodies
    /// read pass `budget` bytes (at least one is kept). True when the bytes cut it short.
    pub fn group_page(
        &self,
        group: &GroupId,
        before: Option<(u64, NodeId)>,
        limit: u32,
        budget: usize,
    ) -> Result<(Vec<GroupMsg>, bool), StoreError> {
        let err = |e| StoreError::sqlite(self.path(), e);
        let (lamport, author) = match before {
            Some((l, a)) => (i64::try_from(l).unwrap_or(i64::MAX), a.to_vec()),
            None => (i64::MAX, vec![0xff; 33]),
        };
        let mut stmt = self
            .conn()
            .prepare_cached(
                "SELECT body FROM group_messages WHERE grp = ?1
                 AND (lamport < ?2 OR (lamport = ?2 AND author < ?3))
                 ORDER BY lamport DESC, author DESC LIMIT ?4",
            )
            .map_err(err)?;
        let mut rows = stmt
            .query(params![group.0, lamport, author, limit])
            .map_err(err)?;
        let (mut out, mut used, mut cut) = (Vec::new(), 0usize, false);
        while let Some(row) = rows.next().map_err(err)? {
            let body: Vec<u8> = row.get(0).map_err(err)?;
            used += body.len();
            if !out.is_empty() && used > budget {
                cut = true;
                break;
            }
            match GroupMsg::parse(&body) {
                Ok(m) => out.push(m),
                Err(_) => log::warn!(
                    "{}: skipping an unreadable group row",
                    self.path().display()
                ),
            }
        }
        out.reverse();
        Ok((out, cut))
    }

    /// Per author: the seqs held in a group, ascending (to find the contiguous prefix
    /// and what is held above it at start).
    pub fn group_seqs(&self, group: &GroupId) -> Result<Vec<(NodeId, u64)>, StoreError> {
        let err = |e| StoreError::sqlite(self.path(), e);
        let mut stmt = self
            .conn()
            .prepare_cached(
                "SELECT author, seq FROM group_messages WHERE grp = ?1 ORDER BY author, seq",
            )
            .map_err(err)?;
        let rows = stmt
            .query_map([group.0], |r| {
                Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)?))
            })
            .map_err(err)?;
        let mut out = Vec::new();
        for row in rows {
            let (author, seq) = row.map_err(err)?;
            if let (Ok(a), Ok(s)) = (author.try_into(), u64::try_from(seq)) {
                out.push((a, s));
            }
        }
        Ok(out)
    }

    /// The highest Lamport clock of a group's messages (0 when none).
    pub fn group_max_lamport(&self, group: &GroupId) -> Result<u64, StoreError> {
        self.conn()
            .query_row(
                "SELECT max(lamport) FROM group_messages WHERE grp = ?1",
                [group.0],
                |r| r.get::<_, Option<i64>>(0),
            )
            .optional()
            .map(|v| v.flatten().and_then(|l| u64::try_from(l).ok()).unwrap_or(0))
            .map_err(|e| StoreError::sqlite(self.path(), e))
    }

    fn blobs<T, P: rusqlite::Params>(
        &self,
        sql: &str,
        params: P,
        parse: impl Fn(&[u8]) -> Option<T>,
    ) -> Result<Vec<T>, StoreError> {
        let err = |e| StoreError::sqlite(self.path(), e);
        let mut stmt = self.conn().prepare_cached(sql).map_err(err)?;
        let rows = stmt
            .query_map(params, |r| r.get::<_, Vec<u8>>(0))
            .map_err(err)?;
        let mut out = Vec::new();
        for row in rows {
            match parse(&row.map_err(err)?) {
                Some(v) => out.push(v),
                None => log::warn!(
                    "{}: skipping an unreadable group row",
                    self.path().display()
                ),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::Db;
    use super::super::Op;
    use super::*;
    use crate::identity::Identity;
    use crate::peer::group::Roster;
    use crate::peer::inner::MsgId;

    #[test]
    fn a_group_its_rosters_and_messages_round_trip_and_repeats_are_stored_once() {
        let a = Identity::from_secret(&[1; 32]);
        let g = GroupId([5; 16]);
        let roster = Roster {
            group: g,
            version: 1,
            lamport: 1,
            signer: a.id(),
            owner: a.id(),
            prev: [0; 32],
            name: "cats".into(),
            members: vec![a.id()],
        }
        .sign(a.signing_key());
        let msg = |seq: u64, lamport: u64| {
            GroupMsg {
                group: g,
                id: MsgId([seq as u8; 16]),
                author: a.id(),
                seq,
                lamport,
                roster: 1,
                ts: 0,
                text: format!("m{seq}"),
                sig: [0; 64],
            }
            .sign(a.signing_key())
        };
        let group = StoredGroup {
            id: g,
            name: "cats".into(),
            phase: GroupPhase::Member,
            owner: a.id(),
            inviter: None,
            created: 7,
        };
        let db = Db::new();
        db.apply([
            Op::UpsertGroup(group.clone()),
            Op::InsertRoster(Box::new(roster.clone()), 11),
            Op::InsertRoster(Box::new(roster.clone()), 12),
            Op::InsertGroupMsg(Box::new(msg(2, 5))),
            Op::InsertGroupMsg(Box::new(msg(1, 3))),
            Op::InsertGroupMsg(Box::new(msg(1, 3))),
        ]);
        let r = db.reader();
        assert_eq!(r.groups().unwrap(), vec![group]);
        assert_eq!(r.rosters(&g, 0, 10).unwrap(), vec![roster.clone()]);
        assert!(r.rosters(&g, 1, 10).unwrap().is_empty());
        let after = r.group_messages_after(&g, &a.id(), 0, 10).unwrap();
        assert_eq!(after, vec![msg(1, 3), msg(2, 5)]);
        assert_eq!(r.group_history(&g, 1).unwrap(), vec![msg(2, 5)]);
        assert_eq!(r.group_seqs(&g).unwrap(), vec![(a.id(), 1), (a.id(), 2)]);
        assert_eq!(r.group_max_lamport(&g).unwrap(), 5);
        // The first insert's time is kept.
        assert_eq!(r.rosters_taken(&g).unwrap(), vec![(roster, 11)]);
    }

    #[test]
    fn receipts_and_the_read_mark_only_rise_and_leaves_are_kept_once() {
        let (a, b) = ([1u8; 32], [2u8; 32]);
        let g = GroupId([5; 16]);
        let db = Db::new();
        let receipt = |delivered, read| Op::GroupReceipt {
            group: g,
            member: b,
            delivered,
            read,
        };
        db.apply([
            Op::UpsertGroup(StoredGroup {
                id: g,
                name: "cats".into(),
                phase: GroupPhase::Member,
                owner: a,
                inviter: None,
                created: 7,
            }),
            receipt(3, 1),
            // Late and lower: changes nothing.
            receipt(2, 0),
            // Read above delivered raises both.
            receipt(3, 5),
            Op::GroupRead {
                group: g,
                lamport: 9,
                author: b,
            },
            Op::GroupRead {
                group: g,
                lamport: 4,
                author: b,
            },
        ]);
        let leave = Leave {
            group: g,
            member: Author(b),
            from: 2,
            sig: [9; 64],
        };
        db.apply([
            Op::InsertLeave(Box::new(leave.clone())),
            Op::InsertLeave(Box::new(leave.clone())),
        ]);
        let r = db.reader();
        assert_eq!(r.group_leaves(&g).unwrap(), vec![leave]);
        assert_eq!(r.group_receipts(&g).unwrap(), vec![(b, 5, 5)]);
        assert_eq!(r.group_read_mark(&g).unwrap(), Some((9, b)));
        // The group row's own fields are untouched by an upsert after.
        db.apply([Op::UpsertGroup(StoredGroup {
            id: g,
            name: "dogs".into(),
            phase: GroupPhase::Member,
            owner: a,
            inviter: None,
            created: 7,
        })]);
        assert_eq!(db.reader().group_read_mark(&g).unwrap(), Some((9, b)));
    }
}
