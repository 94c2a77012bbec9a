//! The writer's vocabulary: every change to the database is one [`Op`].
//!
//! Each op is a single SQL statement (or, for [`Op::SetStatus`] and [`Op::SetReadSent`],
//! independent idempotent ones), so when SQLite refuses one for its content (a
//! constraint: unknown peer, a `seq` already taken, a status that does not fit the
//! direction) only that statement is undone and the rest of the batch still commits. Ops are idempotent where the protocol
//! repeats itself: a message received twice is stored once, a late ACKN after a READ
//! changes nothing.
//!
//! Status moves only forward:
//!
//! ```text
//!   out:  pending ──▶ delivered ──▶ read        (pending ──▶ read also: READ before ACKN)
//!   in:   received ──────────────▶ read
//! ```

use rusqlite::{params, Connection};

use super::{status_str, Contact, MsgId, NodeId, Status, StoredMessage};

/// A contact's integer key, from its id (a subquery: the contacts' id index is small and
/// stays cached). NULL for an unknown id, which a NOT NULL column refuses.
const PEER_KEY: &str = "(SELECT peer FROM contacts WHERE id = ?1)";

/// A change to the database, submitted to the writer with a token.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Inserts a contact, or updates `name`, `addrs` and `last_seen` (forward only) of a
    /// known one; `first_seen` and `verified` of a known contact are kept.
    UpsertContact(Contact),
    /// The user compared fingerprints (or took that back).
    SetVerified { peer: NodeId, verified: bool },
    /// Stores a message. A known `id` is ignored (stored once), so a re-sent message can
    /// simply be inserted and acknowledged again. The peer must be a contact (upsert it
    /// first, in the same or an earlier batch).
    InsertMessage(StoredMessage),
    /// Moves these messages' status forward; never backwards, and only to a status that
    /// fits the direction. Anything else changes nothing. By `seq` (the rowid: no descent
    /// of the random id index) and one op per receipt, which names up to 4,096 ids.
    SetStatus { seqs: Vec<i64>, status: Status },
    /// The user has seen the conversation: this peer's incoming messages with
    /// `seq <= up_to_seq` go from `received` to `read` (their READ is then unsent).
    MarkRead { peer: NodeId, up_to_seq: i64 },
    /// Our READ for these incoming messages reached the sender.
    SetReadSent { ids: Vec<MsgId> },
    /// Stores a transfer; a known id is left as it is (an offer received again).
    InsertTransfer(super::transfers::StoredTransfer),
    /// Moves an unfinished transfer on; `None` fields keep their value.
    UpdateTransfer {
        id: MsgId,
        phase: super::transfers::Phase,
        reason: Option<String>,
        path: Option<String>,
        root: Option<[u8; 32]>,
    },
    /// Chunk ranges whose bytes are fdatasync'd into the receiver's `.part` file.
    AddHeld { id: MsgId, ranges: Vec<(u64, u64)> },
    /// Forgets a finished transfer's ranges.
    DropHeld { id: MsgId },
    /// Deletes these contacts if they are strangers: not verified and without a single
    /// message (rows nodes before issue 16 stored for every peer that handshook). A
    /// contact with messages or verified is never deleted, whatever the caller thought.
    ForgetContacts { ids: Vec<NodeId> },
    /// Inserts a group, or updates its name, phase and owner.
    UpsertGroup(super::groups::StoredGroup),
    /// Stores a signed roster and when we took it (Unix ms); a version already stored
    /// is left as it is.
    InsertRoster(Box<crate::peer::group::SignedRoster>, i64),
    /// Stores a group message as signed; a known id (or author and seq) is ignored.
    InsertGroupMsg(Box<crate::peer::group::GroupMsg>),
    /// Raises what `member` holds (`delivered`) and has read of our messages in
    /// `group` (seq marks; never lowered; `read` ≤ `delivered`).
    GroupReceipt {
        group: crate::peer::group::GroupId,
        member: NodeId,
        delivered: u64,
        read: u64,
    },
    /// Stores a member's signed leave; a repeat is ignored.
    InsertLeave(Box<crate::peer::group::Leave>),
    /// Moves our read mark in `group` to this display position (never back).
    GroupRead {
        group: crate::peer::group::GroupId,
        lamport: u64,
        author: NodeId,
    },
    /// Deletes what a removed member wrote at or after the Lamport clock of the roster
    /// that removed it: copies taken before that roster arrived (docs/PROTOCOL.md §12.2).
    PurgeGroupMsgs {
        group: crate::peer::group::GroupId,
        author: NodeId,
        from_lamport: u64,
    },
}

impl Op {
    /// The op's name, for logs (which must not carry message text).
    pub fn kind(&self) -> &'static str {
        match self {
            Op::UpsertContact(_) => "UpsertContact",
            Op::SetVerified { .. } => "SetVerified",
            Op::InsertMessage(_) => "InsertMessage",
            Op::SetStatus { .. } => "SetStatus",
            Op::MarkRead { .. } => "MarkRead",
            Op::SetReadSent { .. } => "SetReadSent",
            Op::InsertTransfer(_) => "InsertTransfer",
            Op::UpdateTransfer { .. } => "UpdateTransfer",
            Op::AddHeld { .. } => "AddHeld",
            Op::DropHeld { .. } => "DropHeld",
            Op::ForgetContacts { .. } => "ForgetContacts",
            Op::UpsertGroup(_) => "UpsertGroup",
            Op::InsertRoster(..) => "InsertRoster",
            Op::InsertGroupMsg(_) => "InsertGroupMsg",
            Op::GroupReceipt { .. } => "GroupReceipt",
            Op::GroupRead { .. } => "GroupRead",
            Op::InsertLeave(_) => "InsertLeave",
            Op::PurgeGroupMsgs { .. } => "PurgeGroupMsgs",
        }
    }

    /// Runs the op inside the writer's open transaction; returns the rows changed.
    pub(crate) fn apply(&self, conn: &Connection) -> rusqlite::Result<usize> {
        match self {
            Op::UpsertContact(c) => upsert_contact(conn, c),
            Op::SetVerified { peer, verified } => conn
                .prepare_cached("UPDATE contacts SET verified = ?2 WHERE id = ?1")?
                .execute(params![peer, verified]),
            Op::InsertMessage(m) => insert_message(conn, m),
            Op::SetStatus { seqs, status } => set_status(conn, seqs, *status),
            Op::MarkRead { peer, up_to_seq } => conn
                .prepare_cached(&format!(
                    "UPDATE messages SET status = 'read'
                         WHERE peer = {PEER_KEY} AND direction = 'in' AND status = 'received'
                           AND seq <= ?2"
                ))?
                .execute(params![peer, up_to_seq]),
            Op::SetReadSent { ids } => {
                let mut stmt = conn.prepare_cached(
                    "UPDATE messages SET read_sent = 1 WHERE id = ?1 AND read_sent = 0",
                )?;
                let mut changed = 0;
                for id in ids {
                    changed += stmt.execute([id.0])?;
                }
                Ok(changed)
            }
            Op::InsertTransfer(t) => super::transfers::insert(conn, t),
            Op::UpdateTransfer {
                id,
                phase,
                reason,
                path,
                root,
            } => super::transfers::update(
                conn,
                id,
                *phase,
                reason.as_deref(),
                path.as_deref(),
                root.as_ref(),
            ),
            Op::AddHeld { id, ranges } => super::transfers::add_held(conn, id, ranges),
            Op::DropHeld { id } => super::transfers::drop_held(conn, id),
            Op::UpsertGroup(g) => super::groups::upsert(conn, g),
            Op::InsertRoster(r, taken) => super::groups::insert_roster(conn, r, *taken),
            Op::InsertGroupMsg(m) => super::groups::insert_message(conn, m),
            Op::GroupReceipt {
                group,
                member,
                delivered,
                read,
            } => super::groups::receipt(conn, group, member, *delivered, *read),
            Op::GroupRead {
                group,
                lamport,
                author,
            } => super::groups::read_mark(conn, group, *lamport, author),
            Op::InsertLeave(l) => super::groups::insert_leave(conn, l),
            Op::PurgeGroupMsgs {
                group,
                author,
                from_lamport,
            } => super::groups::purge_messages(conn, group, author, *from_lamport),
            Op::ForgetContacts { ids } => {
                let mut stmt = conn.prepare_cached(
                    "DELETE FROM contacts WHERE id = ?1 AND verified = 0
                         AND NOT EXISTS (SELECT 1 FROM messages WHERE messages.peer = contacts.peer)
                         AND NOT EXISTS (SELECT 1 FROM transfers WHERE transfers.peer = contacts.peer)",
                )?;
                let mut changed = 0;
                for id in ids {
                    changed += stmt.execute([id])?;
                }
                Ok(changed)
            }
        }
    }
}

fn upsert_contact(conn: &Connection, c: &Contact) -> rusqlite::Result<usize> {
    let addrs: Vec<String> = c.addrs.iter().map(ToString::to_string).collect();
    let addrs = serde_json::to_string(&addrs)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    // In DO UPDATE, bare column names are the stored row, `excluded.` the new values.
    // SQLite's max() is NULL if either side is, hence the CASE.
    conn.prepare_cached(
        "INSERT INTO contacts (id, name, addrs, first_seen, last_seen, verified)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (id) DO UPDATE SET
             name = excluded.name,
             addrs = excluded.addrs,
             last_seen = CASE
                 WHEN excluded.last_seen IS NULL THEN last_seen
                 WHEN last_seen IS NULL THEN excluded.last_seen
                 ELSE max(last_seen, excluded.last_seen) END",
    )?
    .execute(params![
        c.id,
        c.name,
        addrs,
        c.first_seen,
        c.last_seen,
        c.verified,
    ])
}

fn insert_message(conn: &Connection, m: &StoredMessage) -> rusqlite::Result<usize> {
    // ON CONFLICT (id) only: a duplicate id is the protocol repeating itself, but a taken
    // `seq` is a caller bug and must be refused, not silently dropped.
    conn.prepare_cached(
        "INSERT INTO messages (seq, id, peer, direction, text, ts, status, read_sent)
         VALUES (?2, ?3, (SELECT peer FROM contacts WHERE id = ?1), ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (id) DO NOTHING",
    )?
    .execute(params![
        m.peer,
        m.seq,
        m.id.0,
        m.direction.as_str(),
        m.text,
        m.ts,
        status_str(m.status),
        m.read_sent
    ])
}

fn set_status(conn: &Connection, seqs: &[i64], status: Status) -> rusqlite::Result<usize> {
    // The `status IN (...)` lists are the states each target may be reached from; the
    // schema's CHECK already ties statuses to directions, so 'read' needs no direction test.
    let sql = match status {
        Status::Delivered => {
            "UPDATE messages SET status = 'delivered'
             WHERE seq = ?1 AND direction = 'out' AND status = 'pending'"
        }
        Status::Read => {
            "UPDATE messages SET status = 'read'
             WHERE seq = ?1 AND status IN ('pending', 'delivered', 'received')"
        }
        // Initial states: nothing moves to them.
        Status::Pending | Status::Received => {
            log::debug!("ignoring a status change back to {status:?}");
            return Ok(0);
        }
    };
    let mut stmt = conn.prepare_cached(sql)?;
    let mut changed = 0;
    for seq in seqs {
        changed += stmt.execute([seq])?;
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testutil::{contact, mid, msg, peer, Db};
    use crate::store::Direction::{In, Out};
    use crate::store::Status;

    fn status_of(db: &Db, seq: i64) -> Status {
        db.reader().message(&mid(seq)).unwrap().unwrap().status
    }

    fn set(db: &Db, seq: i64, status: Status) -> usize {
        Op::SetStatus {
            seqs: vec![seq],
            status,
        }
        .apply(&db.conn)
        .unwrap()
    }

    #[test]
    fn outgoing_status_only_moves_forward() {
        let db = Db::new();
        let a = peer(0xa);
        db.apply([
            Op::UpsertContact(contact(&a)),
            Op::InsertMessage(msg(1, &a, Out, Status::Pending)),
            Op::InsertMessage(msg(2, &a, Out, Status::Pending)),
        ]);
        assert_eq!(set(&db, 1, Status::Delivered), 1);
        assert_eq!(status_of(&db, 1), Status::Delivered);
        assert_eq!(set(&db, 1, Status::Pending), 0, "never back to pending");
        assert_eq!(set(&db, 1, Status::Read), 1);
        // A late ACKN after READ must not downgrade.
        assert_eq!(set(&db, 1, Status::Delivered), 0);
        assert_eq!(status_of(&db, 1), Status::Read);
        assert_eq!(set(&db, 1, Status::Received), 0, "not an outgoing status");
        assert_eq!(status_of(&db, 1), Status::Read);
        // READ may arrive before ACKN.
        assert_eq!(set(&db, 2, Status::Read), 1);
        assert_eq!(status_of(&db, 2), Status::Read);
        // Unknown seq: nothing, no error.
        assert_eq!(set(&db, 3, Status::Read), 0);
    }

    #[test]
    fn one_status_op_moves_each_of_its_messages_that_may_move() {
        let db = Db::new();
        let a = peer(0xa);
        db.apply([Op::UpsertContact(contact(&a))]);
        db.apply((1..=3).map(|s| Op::InsertMessage(msg(s, &a, Out, Status::Pending))));
        db.apply([Op::InsertMessage(msg(4, &a, In, Status::Received))]);
        assert_eq!(set(&db, 2, Status::Read), 1);
        let op = Op::SetStatus {
            seqs: vec![1, 2, 3, 4, 99],
            status: Status::Delivered,
        };
        // 2 is read already, 4 is incoming, 99 does not exist: two rows move.
        assert_eq!(op.apply(&db.conn).unwrap(), 2);
        let statuses: Vec<Status> = (1..=4).map(|s| status_of(&db, s)).collect();
        use Status::{Delivered, Read, Received};
        assert_eq!(statuses, [Delivered, Read, Delivered, Received]);
    }

    #[test]
    fn incoming_status_only_received_to_read() {
        let db = Db::new();
        let a = peer(0xa);
        db.apply([
            Op::UpsertContact(contact(&a)),
            Op::InsertMessage(msg(1, &a, In, Status::Received)),
        ]);
        assert_eq!(set(&db, 1, Status::Delivered), 0, "not an incoming status");
        assert_eq!(status_of(&db, 1), Status::Received);
        assert_eq!(set(&db, 1, Status::Read), 1);
        assert_eq!(set(&db, 1, Status::Received), 0);
        assert_eq!(status_of(&db, 1), Status::Read);
    }

    #[test]
    fn mark_read_respects_the_seq_bound_and_the_peer() {
        let db = Db::new();
        let (a, b) = (peer(0xa), peer(0xb));
        db.apply([
            Op::UpsertContact(contact(&a)),
            Op::UpsertContact(contact(&b)),
        ]);
        db.apply((1..=3).map(|s| Op::InsertMessage(msg(s, &a, In, Status::Received))));
        db.apply([Op::InsertMessage(msg(4, &b, In, Status::Received))]);
        let op = Op::MarkRead {
            peer: a,
            up_to_seq: 2,
        };
        assert_eq!(op.apply(&db.conn).unwrap(), 2);
        let statuses: Vec<Status> = (1..=4).map(|s| status_of(&db, s)).collect();
        use Status::{Read, Received};
        assert_eq!(statuses, [Read, Read, Received, Received]);
    }

    #[test]
    fn upsert_keeps_first_seen_and_verified_and_last_seen_moves_forward() {
        let db = Db::new();
        let a = peer(0xa);
        db.apply([
            Op::UpsertContact(contact(&a)),
            Op::SetVerified {
                peer: a,
                verified: true,
            },
        ]);
        let mut update = contact(&a);
        update.name = "renamed".into();
        update.addrs = vec!["10.9.9.9:1".parse().unwrap()];
        update.first_seen = 5_000;
        update.verified = false;
        update.last_seen = Some(1_500); // older than stored 2_000
        db.apply([Op::UpsertContact(update.clone())]);
        let stored = db.reader().contacts().unwrap().remove(0);
        let mut expected = contact(&a);
        expected.name = "renamed".into();
        expected.addrs = update.addrs.clone();
        expected.verified = true;
        assert_eq!(stored, expected);
        update.last_seen = None;
        db.apply([Op::UpsertContact(update.clone())]);
        assert_eq!(db.reader().contacts().unwrap()[0].last_seen, Some(2_000));
        update.last_seen = Some(9_000);
        db.apply([Op::UpsertContact(update)]);
        assert_eq!(db.reader().contacts().unwrap()[0].last_seen, Some(9_000));
    }

    #[test]
    fn content_the_schema_refuses_is_a_constraint_error() {
        let db = Db::new();
        let a = peer(0xa);
        let constraint = |op: Op| {
            let e = op.apply(&db.conn).unwrap_err();
            assert_eq!(
                e.sqlite_error_code(),
                Some(rusqlite::ErrorCode::ConstraintViolation),
                "{e}"
            );
        };
        // Unknown peer (foreign key).
        constraint(Op::InsertMessage(msg(1, &a, In, Status::Received)));
        db.apply([Op::UpsertContact(contact(&a))]);
        // A status that does not fit the direction.
        constraint(Op::InsertMessage(msg(1, &a, In, Status::Pending)));
        // A seq already taken by another id.
        db.apply([Op::InsertMessage(msg(1, &a, In, Status::Received))]);
        let mut taken = msg(1, &a, In, Status::Received);
        taken.id = mid(77);
        constraint(Op::InsertMessage(taken));
    }
}
