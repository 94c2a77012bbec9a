//! File transfers on disk (schema v4): one row per transfer, and the chunk ranges a
//! receiver holds durably.
//!
//! A range is stored only after the chunks' bytes were fdatasync'd into the `.part`
//! file, so a row here is a promise the file keeps: after a `kill -9` the receiver asks
//! again for exactly what has no row (docs/PROTOCOL.md §6, `FREQ`).

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::{Direction, MsgId, NodeId, Reader, StoreError};

/// Where a transfer stands, as stored. The state's finer phases (preparing, receiving,
/// verifying) are all `Accepted` here: after a restart they resume from the ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Offered, not yet accepted (or, for ours, not yet requested).
    Offered,
    /// Accepted: chunks are moving or will be when the peer is back.
    Accepted,
    /// Stored and verified (ours: the peer said so).
    Done,
    /// Declined, cancelled or failed (`reason` says which).
    Ended,
}

impl Phase {
    /// The column value.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Offered => "offered",
            Phase::Accepted => "accepted",
            Phase::Done => "done",
            Phase::Ended => "ended",
        }
    }

    /// Parses a column value.
    pub fn parse(s: &str) -> Option<Phase> {
        match s {
            "offered" => Some(Phase::Offered),
            "accepted" => Some(Phase::Accepted),
            "done" => Some(Phase::Done),
            "ended" => Some(Phase::Ended),
            _ => None,
        }
    }
}

/// A transfer, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTransfer {
    /// The offer's id.
    pub id: MsgId,
    /// The other side.
    pub peer: NodeId,
    /// `Out`: we offered it.
    pub direction: Direction,
    /// Ours: the file's name as offered; theirs: the name after cleaning it up.
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// Media type (a hint).
    pub mime: String,
    /// Chunk size.
    pub chunk: u32,
    /// Optional caption.
    pub caption: Option<String>,
    /// Optional thumbnail.
    pub thumb: Option<Vec<u8>>,
    /// Unix ms when offered or received.
    pub created: i64,
    /// Ours: the source file; theirs: where it was saved, once done.
    pub path: Option<String>,
    /// Ours: the source's mtime (ns) and inode at the offer, checked before each read.
    pub src_mtime: i64,
    /// See `src_mtime`.
    pub src_ino: u64,
    /// SHA-256 over the chunk hashes (ours: from the start; theirs: from `FEND`).
    pub root: Option<[u8; 32]>,
    /// Where it stands.
    pub phase: Phase,
    /// Why it ended, for the user.
    pub reason: Option<String>,
}

const PEER_KEY: &str = "(SELECT peer FROM contacts WHERE id = ?1)";

pub(super) fn insert(conn: &Connection, t: &StoredTransfer) -> rusqlite::Result<usize> {
    conn.prepare_cached(&format!(
        "INSERT INTO transfers (id, peer, direction, name, size, mime, chunk, caption,
             thumb, created, path, src_mtime, src_ino, root, phase, reason)
         VALUES (?2, {PEER_KEY}, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
         ON CONFLICT (id) DO NOTHING"
    ))?
    .execute(params![
        t.peer,
        t.id.0,
        t.direction.as_str(),
        t.name,
        i64::try_from(t.size).unwrap_or(i64::MAX),
        t.mime,
        t.chunk,
        t.caption,
        t.thumb,
        t.created,
        t.path,
        t.src_mtime,
        i64::try_from(t.src_ino).unwrap_or(i64::MAX),
        t.root.map(|r| r.to_vec()),
        t.phase.as_str(),
        t.reason,
    ])
}

pub(super) fn update(
    conn: &Connection,
    id: &MsgId,
    phase: Phase,
    reason: Option<&str>,
    path: Option<&str>,
    root: Option<&[u8; 32]>,
) -> rusqlite::Result<usize> {
    // A finished transfer never moves again; a path or root once set is kept.
    conn.prepare_cached(
        "UPDATE transfers SET phase = ?2, reason = coalesce(?3, reason),
             path = coalesce(?4, path), root = coalesce(?5, root)
         WHERE id = ?1 AND phase IN ('offered', 'accepted')",
    )?
    .execute(params![
        id.0,
        phase.as_str(),
        reason,
        path,
        root.map(|r| r.to_vec())
    ])
}

pub(super) fn add_held(
    conn: &Connection,
    id: &MsgId,
    ranges: &[(u64, u64)],
) -> rusqlite::Result<usize> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO transfer_chunks (id, start, end) VALUES (?1, ?2, ?3)
         ON CONFLICT (id, start) DO UPDATE SET end = max(end, excluded.end)",
    )?;
    let mut n = 0;
    for &(start, end) in ranges {
        let (Ok(start), Ok(end)) = (i64::try_from(start), i64::try_from(end)) else {
            continue;
        };
        n += stmt.execute(params![id.0, start, end])?;
    }
    Ok(n)
}

pub(super) fn set_cancel_unsent(
    conn: &Connection,
    id: &MsgId,
    unsent: bool,
) -> rusqlite::Result<usize> {
    conn.prepare_cached("UPDATE transfers SET cancel_unsent = ?2 WHERE id = ?1")?
        .execute(params![id.0, i64::from(unsent)])
}

pub(super) fn drop_held(conn: &Connection, id: &MsgId) -> rusqlite::Result<usize> {
    conn.prepare_cached("DELETE FROM transfer_chunks WHERE id = ?1")?
        .execute([id.0])
}

const COLUMNS: &str = "t.id, c.id, t.direction, t.name, t.size, t.mime, t.chunk, t.caption,
    t.thumb, t.created, t.path, t.src_mtime, t.src_ino, t.root, t.phase, t.reason";

fn row(row: &Row<'_>) -> rusqlite::Result<Option<StoredTransfer>> {
    let direction: String = row.get(2)?;
    let phase: String = row.get(14)?;
    let root: Option<Vec<u8>> = row.get(13)?;
    let (Some(direction), Some(phase)) = (Direction::parse(&direction), Phase::parse(&phase))
    else {
        return Ok(None);
    };
    Ok(Some(StoredTransfer {
        id: MsgId(row.get(0)?),
        peer: row.get(1)?,
        direction,
        name: row.get(3)?,
        size: u64::try_from(row.get::<_, i64>(4)?).unwrap_or(0),
        mime: row.get(5)?,
        chunk: row.get(6)?,
        caption: row.get(7)?,
        thumb: row.get(8)?,
        created: row.get(9)?,
        path: row.get(10)?,
        src_mtime: row.get(11)?,
        src_ino: u64::try_from(row.get::<_, i64>(12)?).unwrap_or(0),
        root: root.and_then(|r| r.try_into().ok()),
        phase,
        reason: row.get(15)?,
    }))
}

impl Reader {
    /// Transfers not finished (offered or accepted), oldest first.
    pub fn active_transfers(&self) -> Result<Vec<StoredTransfer>, StoreError> {
        self.transfers_where("t.phase IN ('offered', 'accepted')", [])
    }

    /// Transfers we ended whose `FCAN` is still to be sent (schema v7), oldest first.
    pub fn unsent_cancels(&self) -> Result<Vec<StoredTransfer>, StoreError> {
        self.transfers_where("t.cancel_unsent = 1 AND t.phase = 'ended'", [])
    }

    /// A history page's files: `peer`'s transfers created at `from` or later and, when
    /// `before_seq` names a message, not after that message's time; the newest `limit`
    /// of them, oldest first.
    pub fn transfers_for_page(
        &self,
        peer: &NodeId,
        from: i64,
        before_seq: Option<i64>,
        limit: u32,
    ) -> Result<Vec<StoredTransfer>, StoreError> {
        let mut newest_first = self.transfers_where_ordered(
            "c.id = ?1 AND t.created >= ?2
             AND t.created <= coalesce((SELECT ts FROM messages WHERE seq = ?3), 9223372036854775807)",
            params![peer, from, before_seq, limit],
            "t.created DESC, t.id DESC LIMIT ?4",
        )?;
        newest_first.reverse();
        Ok(newest_first)
    }

    /// One transfer by id.
    pub fn transfer(&self, id: &MsgId) -> Result<Option<StoredTransfer>, StoreError> {
        Ok(self
            .transfers_where("t.id = ?1", [id.0])?
            .into_iter()
            .next())
    }

    /// The chunk ranges held durably for a transfer, sorted by start.
    pub fn held(&self, id: &MsgId) -> Result<Vec<(u64, u64)>, StoreError> {
        let err = |e| StoreError::sqlite(self.path(), e);
        let mut stmt = self
            .conn()
            .prepare_cached("SELECT start, end FROM transfer_chunks WHERE id = ?1 ORDER BY start")
            .map_err(err)?;
        let rows = stmt
            .query_map([id.0], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))
            .map_err(err)?;
        let mut out = Vec::new();
        for r in rows {
            let (s, e) = r.map_err(err)?;
            if let (Ok(s), Ok(e)) = (u64::try_from(s), u64::try_from(e)) {
                out.push((s, e));
            }
        }
        Ok(out)
    }

    fn transfers_where<P: rusqlite::Params>(
        &self,
        filter: &str,
        params: P,
    ) -> Result<Vec<StoredTransfer>, StoreError> {
        self.transfers_where_ordered(filter, params, "t.created, t.id")
    }

    fn transfers_where_ordered<P: rusqlite::Params>(
        &self,
        filter: &str,
        params: P,
        order: &str,
    ) -> Result<Vec<StoredTransfer>, StoreError> {
        let err = |e| StoreError::sqlite(self.path(), e);
        let sql = format!(
            "SELECT {COLUMNS} FROM transfers AS t JOIN contacts AS c ON c.peer = t.peer
             WHERE {filter} ORDER BY {order}"
        );
        let mut stmt = self.conn().prepare_cached(&sql).map_err(err)?;
        let rows = stmt.query_map(params, row).map_err(err)?;
        let mut out = Vec::new();
        for r in rows {
            if let Some(t) = r.map_err(err)? {
                out.push(t);
            }
        }
        Ok(out)
    }

    /// Looks an id up without loading the row (used by tests).
    #[doc(hidden)]
    pub fn has_transfer(&self, id: &MsgId) -> Result<bool, StoreError> {
        self.conn()
            .query_row("SELECT 1 FROM transfers WHERE id = ?1", [id.0], |_| Ok(()))
            .optional()
            .map(|o| o.is_some())
            .map_err(|e| StoreError::sqlite(self.path(), e))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{contact, mid, peer, Db};
    use super::super::Op;
    use super::*;

    fn transfer(id: MsgId, phase: Phase) -> StoredTransfer {
        StoredTransfer {
            id,
            peer: peer(1),
            direction: Direction::In,
            name: "cat.png".into(),
            size: 300_000,
            mime: "image/png".into(),
            chunk: 131_072,
            caption: Some("look".into()),
            thumb: None,
            created: 5,
            path: None,
            src_mtime: 0,
            src_ino: 0,
            root: None,
            phase,
            reason: None,
        }
    }

    #[test]
    fn a_transfer_its_ranges_and_its_end_round_trip() {
        let db = Db::new();
        let id = mid(1);
        db.apply([
            Op::UpsertContact(contact(&peer(1))),
            Op::InsertTransfer(transfer(id, Phase::Offered)),
            // An offer received again changes nothing.
            Op::InsertTransfer(StoredTransfer {
                name: "other".into(),
                ..transfer(id, Phase::Offered)
            }),
            Op::UpdateTransfer {
                id,
                phase: Phase::Accepted,
                reason: None,
                path: None,
                root: Some([7; 32]),
            },
            Op::AddHeld {
                id,
                ranges: vec![(0, 2)],
            },
            Op::AddHeld {
                id,
                ranges: vec![(0, 3), (5, 6)],
            },
        ]);
        let reader = db.reader();
        let t = reader.transfer(&id).unwrap().unwrap();
        assert_eq!(t.name, "cat.png");
        assert_eq!(t.phase, Phase::Accepted);
        assert_eq!(t.root, Some([7; 32]));
        assert_eq!(reader.held(&id).unwrap(), vec![(0, 3), (5, 6)]);
        assert_eq!(reader.active_transfers().unwrap().len(), 1);

        db.apply([
            Op::UpdateTransfer {
                id,
                phase: Phase::Done,
                reason: None,
                path: Some("/tmp/cat.png".into()),
                root: None,
            },
            Op::DropHeld { id },
            // Finished is final.
            Op::UpdateTransfer {
                id,
                phase: Phase::Ended,
                reason: Some("late".into()),
                path: None,
                root: None,
            },
        ]);
        let t = reader.transfer(&id).unwrap().unwrap();
        assert_eq!(
            (t.phase, t.path.as_deref()),
            (Phase::Done, Some("/tmp/cat.png"))
        );
        assert_eq!(t.root, Some([7; 32]));
        assert!(reader.held(&id).unwrap().is_empty());
        assert!(reader.active_transfers().unwrap().is_empty());
    }
}
