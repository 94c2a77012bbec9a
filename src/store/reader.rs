//! The read side: a read-only connection for the state thread's queries.
//!
//! In WAL mode a reader sees the last committed state and never waits for the writer's
//! fsync, so a history page or an outbox query costs a few index lookups even while a
//! batch commits. It only ever sees committed data: what a [`Committed`] announced, or
//! older.
//!
//! Rows are read defensively: a row holding something purr never writes (an edited or
//! damaged file) is skipped with a warning in list queries and is a
//! [`StoreError::BadRow`] when asked for by id; it never panics.
//!
//! [`Committed`]: super::Committed

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, Params, Row};

use super::{parse_status, schema, Contact, Direction, MsgId, NodeId, StoreError, StoredMessage};

/// Largest history page (SPEC §5: `limit` max 500).
pub const MAX_PAGE: u32 = 500;

/// How long a read waits if the file is locked (only during WAL recovery).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A message's columns, the peer as its id (every message query joins contacts).
const MESSAGE_COLUMNS: &str = "m.seq, m.id, c.id, m.direction, m.text, m.ts, m.status, m.read_sent";
/// The messages of one peer (`?1`, its id), with the columns above.
const PEER_MESSAGES: &str = "messages AS m JOIN contacts AS c ON c.peer = m.peer WHERE c.id = ?1";

/// A read-only connection to `purr.db`.
#[derive(Debug)]
pub struct Reader {
    conn: Connection,
    path: PathBuf,
}

/// Why a row could not be read: SQLite failed, or the row's content is not purr's.
enum RowError {
    Sql(rusqlite::Error),
    Bad(String),
}

impl From<rusqlite::Error> for RowError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::Error as E;
        match e {
            E::InvalidColumnType(..)
            | E::FromSqlConversionFailure(..)
            | E::IntegralValueOutOfRange(..)
            | E::Utf8Error(..) => RowError::Bad(e.to_string()),
            e => RowError::Sql(e),
        }
    }
}

impl Reader {
    /// Gives back the connection's page cache (after the start's full-table reads: an
    /// idle node need not keep those pages).
    pub fn release_memory(&self) {
        let _ = self.conn.execute_batch("PRAGMA shrink_memory");
    }

    /// Opens the database the writer has created and migrated.
    pub fn open(path: &Path) -> Result<Reader, StoreError> {
        let conn = schema::open_reader(path, BUSY_TIMEOUT)?;
        Ok(Reader {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// The connection, for queries of sibling modules (`transfers`).
    pub(super) fn conn(&self) -> &Connection {
        &self.conn
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every contact, in the order they were first stored.
    pub fn contacts(&self) -> Result<Vec<Contact>, StoreError> {
        self.list(
            "contacts",
            "SELECT id, name, addrs, first_seen, last_seen, verified
             FROM contacts ORDER BY peer",
            [],
            contact_row,
        )
    }

    /// The highest message `seq`, 0 when there are no messages: the caller's next
    /// `seq` is this plus one.
    pub fn max_seq(&self) -> Result<i64, StoreError> {
        self.conn
            .query_row("SELECT coalesce(max(seq), 0) FROM messages", [], |r| {
                r.get(0)
            })
            .map_err(|e| StoreError::sqlite(&self.path, e))
    }

    /// One message by id.
    pub fn message(&self, id: &MsgId) -> Result<Option<StoredMessage>, StoreError> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages AS m
             JOIN contacts AS c ON c.peer = m.peer WHERE m.id = ?1"
        );
        let mut stmt = self.prepare(&sql)?;
        let row = stmt
            .query_row([id.0], |row| Ok(message_row(row)))
            .optional()
            .map_err(|e| StoreError::sqlite(&self.path, e))?;
        match row {
            None => Ok(None),
            Some(Ok(m)) => Ok(Some(m)),
            Some(Err(RowError::Bad(why))) => Err(StoreError::BadRow {
                path: self.path.clone(),
                table: "messages",
                why,
            }),
            Some(Err(RowError::Sql(e))) => Err(StoreError::sqlite(&self.path, e)),
        }
    }

    /// A page of the conversation with `peer`, oldest first: the `limit` newest messages
    /// with `seq < before` (all of them when `before` is `None`). `limit` is clamped to
    /// `1..=MAX_PAGE`; the caller applies the API's default of 50.
    pub fn history(
        &self,
        peer: &NodeId,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let (rows, _) = self.history_within(peer, before, limit, usize::MAX)?;
        Ok(rows)
    }

    /// [`Reader::history`], read newest first (walking the (peer, seq) index backwards)
    /// and stopped once the texts read reach `text_bytes` (the row that reaches it
    /// included, so never empty while rows exist): a page of long texts is never read
    /// whole into memory only to be cut later. The flag says that it stopped early, so
    /// older rows within `limit` remain.
    pub fn history_within(
        &self,
        peer: &NodeId,
        before: Option<i64>,
        limit: u32,
        text_bytes: usize,
    ) -> Result<(Vec<StoredMessage>, bool), StoreError> {
        let limit = limit.clamp(1, MAX_PAGE);
        let before = before.unwrap_or(i64::MAX);
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM {PEER_MESSAGES} AND m.seq < ?2
             ORDER BY m.seq DESC LIMIT ?3"
        );
        let mut read = 0usize;
        let mut rows = self.list_until(
            "messages",
            &sql,
            params![peer, before, limit],
            message_row,
            |m| {
                read = read.saturating_add(m.text.len());
                read >= text_bytes
            },
        )?;
        let cut = read >= text_bytes && rows.len() < limit as usize;
        rows.reverse();
        Ok((rows, cut))
    }

    /// Unread incoming messages (`received`) per peer; peers with none are absent.
    pub fn unread_counts(&self) -> Result<HashMap<NodeId, u64>, StoreError> {
        let rows = self.list(
            "messages",
            "SELECT c.id, count(*) FROM messages AS m JOIN contacts AS c ON c.peer = m.peer
             WHERE m.direction = 'in' AND m.status = 'received' GROUP BY m.peer",
            [],
            |row| {
                let count: i64 = row.get(1)?;
                Ok((row.get(0)?, u64::try_from(count).unwrap_or(0)))
            },
        )?;
        Ok(rows.into_iter().collect())
    }

    /// Peers with at least one message or file either way: the contacts a user has
    /// talked to, as opposed to strangers who only ever handshook (a conversation of
    /// files only is one too: it must survive a restart).
    pub fn peers_with_messages(&self) -> Result<HashSet<NodeId>, StoreError> {
        let rows = self.list(
            "contacts",
            "SELECT c.id FROM contacts AS c
             WHERE EXISTS (SELECT 1 FROM messages AS m WHERE m.peer = c.peer)
                OR EXISTS (SELECT 1 FROM transfers AS t WHERE t.peer = c.peer)",
            [],
            |row| Ok(row.get(0)?),
        )?;
        Ok(rows.into_iter().collect())
    }

    /// The outbox for `peer`: outgoing messages still `pending`, oldest first, to be
    /// (re-)sent when the peer is connected.
    pub fn outbox(&self, peer: &NodeId) -> Result<Vec<StoredMessage>, StoreError> {
        self.outbox_after(peer, 0, u32::MAX)
    }

    /// At most `limit` messages of the outbox for `peer` with `seq > after`, oldest first:
    /// the outbox a window at a time, so a long one is never all in memory or all queued.
    pub fn outbox_after(
        &self,
        peer: &NodeId,
        after: i64,
        limit: u32,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM {PEER_MESSAGES}
               AND m.direction = 'out' AND m.status = 'pending' AND m.seq > ?2
             ORDER BY m.seq LIMIT ?3"
        );
        self.list("messages", &sql, params![peer, after, limit], message_row)
    }

    /// `peer`'s messages read here whose READ has not reached the sender yet, as
    /// (`seq`, id), oldest first.
    pub fn unsent_reads(&self, peer: &NodeId) -> Result<Vec<(i64, MsgId)>, StoreError> {
        let sql = format!(
            "SELECT m.seq, m.id FROM {PEER_MESSAGES}
               AND m.direction = 'in' AND m.status = 'read' AND m.read_sent = 0
             ORDER BY m.seq"
        );
        self.list("messages", &sql, [peer], |row| {
            Ok((row.get(0)?, MsgId(row.get(1)?)))
        })
    }

    /// The newest message time per peer (to order the peer list); peers without
    /// messages are absent.
    pub fn last_message_ts(&self) -> Result<HashMap<NodeId, i64>, StoreError> {
        let rows = self.list(
            "messages",
            "SELECT c.id, max(m.ts) FROM messages AS m JOIN contacts AS c ON c.peer = m.peer
             GROUP BY m.peer",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
        Ok(rows.into_iter().collect())
    }

    fn prepare(&self, sql: &str) -> Result<rusqlite::CachedStatement<'_>, StoreError> {
        self.conn
            .prepare_cached(sql)
            .map_err(|e| StoreError::sqlite(&self.path, e))
    }

    /// Runs a query and converts its rows, skipping (with a warning) rows whose content
    /// is not what purr writes.
    fn list<T, P: Params>(
        &self,
        table: &str,
        sql: &str,
        params: P,
        convert: impl Fn(&Row<'_>) -> Result<T, RowError>,
    ) -> Result<Vec<T>, StoreError> {
        self.list_until(table, sql, params, convert, |_| false)
    }

    /// [`Reader::list`], stopping after the first row for which `enough` is true.
    fn list_until<T, P: Params>(
        &self,
        table: &str,
        sql: &str,
        params: P,
        convert: impl Fn(&Row<'_>) -> Result<T, RowError>,
        mut enough: impl FnMut(&T) -> bool,
    ) -> Result<Vec<T>, StoreError> {
        let err = |e| StoreError::sqlite(&self.path, e);
        let mut stmt = self.prepare(sql)?;
        let mut rows = stmt.query(params).map_err(err)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(err)? {
            match convert(row) {
                Ok(value) => {
                    let stop = enough(&value);
                    out.push(value);
                    if stop {
                        break;
                    }
                }
                Err(RowError::Bad(why)) => log::warn!(
                    "{}: skipping an unreadable row in {table}: {why}",
                    self.path.display()
                ),
                Err(RowError::Sql(e)) => return Err(err(e)),
            }
        }
        Ok(out)
    }
}

fn message_row(row: &Row<'_>) -> Result<StoredMessage, RowError> {
    let direction: String = row.get(3)?;
    let status: String = row.get(6)?;
    let direction = Direction::parse(&direction)
        .ok_or_else(|| RowError::Bad(format!("unknown direction {direction:?}")))?;
    let status =
        parse_status(&status).ok_or_else(|| RowError::Bad(format!("unknown status {status:?}")))?;
    Ok(StoredMessage {
        seq: row.get(0)?,
        id: MsgId(row.get(1)?),
        peer: row.get(2)?,
        direction,
        text: row.get(4)?,
        ts: row.get(5)?,
        status,
        read_sent: row.get(7)?,
    })
}

fn contact_row(row: &Row<'_>) -> Result<Contact, RowError> {
    let id: NodeId = row.get(0)?;
    let addrs: String = row.get(2)?;
    // Addresses are only hints for dialing: a contact with unreadable ones is still a
    // contact (its messages stay reachable), so they are dropped rather than the row.
    let addrs: Vec<String> = serde_json::from_str(&addrs).unwrap_or_else(|e| {
        log::warn!(
            "contact {}: ignoring unreadable addresses: {e}",
            crate::rules::short_id(&id)
        );
        Vec::new()
    });
    Ok(Contact {
        name: row.get(1)?,
        addrs: addrs.iter().filter_map(|a| a.parse().ok()).collect(),
        first_seen: row.get(3)?,
        last_seen: row.get(4)?,
        verified: row.get(5)?,
        id,
    })
}

#[cfg(test)]
#[path = "reader_tests.rs"]
mod tests;
