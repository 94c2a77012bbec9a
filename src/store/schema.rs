//! Opening `purr.db` and evolving its schema.
//!
//! ```text
//!   open file ─▶ read user_version ─┬─ not a database ─────────▶ NotADatabase
//!                                   ├─ > SCHEMA_VERSION ───────▶ TooNew (file untouched)
//!                                   └─ ≤ SCHEMA_VERSION ─▶ WAL, synchronous=FULL,
//!                                        foreign_keys=ON ─▶ migrations user_version+1 ..
//!                                        SCHEMA_VERSION, all in one transaction
//! ```
//!
//! `PRAGMA user_version` is the schema version: 0 is an empty file, version N is the
//! result of `MIGRATIONS[0..N]`. A released migration is never edited; the schema
//! evolves only by appending one. The pending migrations and the `user_version` bump
//! commit together, so a crash mid-migration leaves the version the file had intact.
//! (One commit, not one per migration: a new database runs all seven, and each commit
//! is a flush of the WAL; a first start made 7 of them.)
//!
//! A **new** database is written beside its name (`purr.db.new`: the empty database of
//! the current schema embedded in the binary, [`NEW_DB_GZ`]), flushed once, renamed
//! into place and the directory flushed: it appears whole or not at all. Made in place,
//! the switch to WAL (a rollback-journal transaction) and the migrations' commit cost
//! 7 flushes (0.5–3 ms on an SD card or a busy disk) and ~1.4 ms of parsing, where
//! this costs 2 flushes.

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use super::StoreError;

/// The schema version this code writes and reads.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// `MIGRATIONS[i]` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5, V6, V7];

/// v1: contacts and messages. STRICT tables make SQLite refuse values of the wrong type;
/// the CHECKs refuse statuses that do not fit the direction.
const V1: &str = "
CREATE TABLE contacts (
    id         TEXT PRIMARY KEY NOT NULL CHECK (length(id) = 64),
    name       TEXT NOT NULL,
    addrs      TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(addrs)),
    first_seen INTEGER NOT NULL,
    last_seen  INTEGER,
    verified   INTEGER NOT NULL DEFAULT 0 CHECK (verified IN (0, 1)),
    pinned_key BLOB NOT NULL CHECK (length(pinned_key) = 32)
) STRICT;
CREATE TABLE messages (
    seq       INTEGER PRIMARY KEY,
    id        TEXT NOT NULL UNIQUE CHECK (length(id) = 32),
    peer      TEXT NOT NULL REFERENCES contacts(id),
    direction TEXT NOT NULL,
    text      TEXT NOT NULL,
    ts        INTEGER NOT NULL,
    status    TEXT NOT NULL,
    CHECK ((direction = 'out' AND status IN ('pending', 'delivered', 'read'))
        OR (direction = 'in' AND status IN ('received', 'read')))
) STRICT;
CREATE INDEX messages_by_peer ON messages (peer, seq);
CREATE INDEX messages_unread ON messages (peer)
    WHERE direction = 'in' AND status = 'received';
CREATE INDEX messages_outbox ON messages (peer, seq)
    WHERE direction = 'out' AND status = 'pending';
";

/// v2: read receipts survive restarts. A message read locally stays `read_sent = 0`
/// until the sender's session has taken our READ, so it is re-sent on reconnect.
/// Messages already read under v1 start at 0 too: whether their READ went out is
/// unknown, and a repeated READ is harmless (statuses only move forward).
const V2: &str = "
ALTER TABLE messages ADD COLUMN read_sent INTEGER NOT NULL DEFAULT 0
    CHECK (read_sent IN (0, 1));
CREATE INDEX messages_unsent_reads ON messages (peer, seq)
    WHERE direction = 'in' AND status = 'read' AND read_sent = 0;
";

/// v3: ids as bytes, peers by an integer key. Every message row and every entry of the
/// id and (peer, seq) indexes held the ids as hex text (32 and 64 characters); the
/// writer's profile (docs/BENCHMARKS.md) is dominated by inserting random ids, whose
/// index pages each commit writes whole. The tables are rebuilt and the data copied;
/// a row whose id is not the hex purr writes (never written by purr: an edited file)
/// cannot become a key and is left behind, as the reader already skipped it.
/// `pinned_key` goes: it was always the id's bytes, which the id now is.
const V3: &str = "
CREATE TABLE contacts_v3 (
    peer       INTEGER PRIMARY KEY,
    id         BLOB NOT NULL UNIQUE CHECK (length(id) = 32),
    name       TEXT NOT NULL,
    addrs      TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(addrs)),
    first_seen INTEGER NOT NULL,
    last_seen  INTEGER,
    verified   INTEGER NOT NULL DEFAULT 0 CHECK (verified IN (0, 1))
) STRICT;
INSERT INTO contacts_v3 (id, name, addrs, first_seen, last_seen, verified)
    SELECT unhex(id), name, addrs, first_seen, last_seen, verified FROM contacts
    WHERE length(unhex(id)) = 32
    ORDER BY first_seen, id;
CREATE TABLE messages_v3 (
    seq       INTEGER PRIMARY KEY,
    id        BLOB NOT NULL UNIQUE CHECK (length(id) = 16),
    peer      INTEGER NOT NULL REFERENCES contacts_v3(peer),
    direction TEXT NOT NULL,
    text      TEXT NOT NULL,
    ts        INTEGER NOT NULL,
    status    TEXT NOT NULL,
    read_sent INTEGER NOT NULL DEFAULT 0 CHECK (read_sent IN (0, 1)),
    CHECK ((direction = 'out' AND status IN ('pending', 'delivered', 'read'))
        OR (direction = 'in' AND status IN ('received', 'read')))
) STRICT;
INSERT INTO messages_v3 (seq, id, peer, direction, text, ts, status, read_sent)
    SELECT m.seq, unhex(m.id), c.peer, m.direction, m.text, m.ts, m.status, m.read_sent
    FROM messages AS m JOIN contacts_v3 AS c ON c.id = unhex(m.peer)
    WHERE length(unhex(m.id)) = 16;
DROP TABLE messages;
DROP TABLE contacts;
ALTER TABLE contacts_v3 RENAME TO contacts;
ALTER TABLE messages_v3 RENAME TO messages;
CREATE INDEX messages_by_peer ON messages (peer, seq);
CREATE INDEX messages_unread ON messages (peer)
    WHERE direction = 'in' AND status = 'received';
CREATE INDEX messages_outbox ON messages (peer, seq)
    WHERE direction = 'out' AND status = 'pending';
CREATE INDEX messages_unsent_reads ON messages (peer, seq)
    WHERE direction = 'in' AND status = 'read' AND read_sent = 0;
";

/// v4: file transfers (issue 17). One row per transfer; `transfer_chunks` holds the
/// chunk ranges a receiver has fdatasync'd into its `.part` file, half-open
/// `[start, end)`, merged by the state as they come (a resumed transfer asks for the
/// rest). Sizes are bytes, times Unix ms, `src_mtime` nanoseconds.
const V4: &str = "
CREATE TABLE transfers (
    id        BLOB PRIMARY KEY CHECK (length(id) = 16),
    peer      INTEGER NOT NULL REFERENCES contacts(peer),
    direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    name      TEXT NOT NULL,
    size      INTEGER NOT NULL CHECK (size >= 0),
    mime      TEXT NOT NULL,
    chunk     INTEGER NOT NULL CHECK (chunk > 0),
    caption   TEXT,
    thumb     BLOB,
    created   INTEGER NOT NULL,
    path      TEXT,
    src_mtime INTEGER NOT NULL DEFAULT 0,
    src_ino   INTEGER NOT NULL DEFAULT 0,
    root      BLOB CHECK (root IS NULL OR length(root) = 32),
    phase     TEXT NOT NULL CHECK (phase IN ('offered', 'accepted', 'done', 'ended')),
    reason    TEXT
) STRICT;
CREATE INDEX transfers_active ON transfers (phase) WHERE phase IN ('offered', 'accepted');
CREATE TABLE transfer_chunks (
    id    BLOB NOT NULL REFERENCES transfers(id),
    start INTEGER NOT NULL CHECK (start >= 0),
    end   INTEGER NOT NULL CHECK (end > start),
    PRIMARY KEY (id, start)
) STRICT, WITHOUT ROWID;
";

/// v5: groups (issue 18). A group we know (invited, member, or no longer), its signed
/// rosters (the `GROS` body: canonical roster `||` signature) and its messages as
/// signed (the `GMSG` body), so that any member can forward them and the receiver can
/// check the author again. `(grp, author, seq)` is unique: an author's numbers are
/// gapless per group. Messages are read in display order through `group_messages_order`.
const V5: &str = "
CREATE TABLE groups (
    id      BLOB PRIMARY KEY CHECK (length(id) = 16),
    name    TEXT NOT NULL,
    phase   TEXT NOT NULL
            CHECK (phase IN ('invited', 'member', 'declined', 'left', 'removed')),
    owner   BLOB NOT NULL CHECK (length(owner) = 32),
    inviter BLOB CHECK (inviter IS NULL OR length(inviter) = 32),
    created INTEGER NOT NULL
) STRICT;
CREATE TABLE group_rosters (
    grp     BLOB NOT NULL REFERENCES groups(id),
    version INTEGER NOT NULL CHECK (version >= 1),
    roster  BLOB NOT NULL,
    PRIMARY KEY (grp, version)
) STRICT, WITHOUT ROWID;
CREATE TABLE group_messages (
    id      BLOB PRIMARY KEY CHECK (length(id) = 16),
    grp     BLOB NOT NULL REFERENCES groups(id),
    author  BLOB NOT NULL CHECK (length(author) = 32),
    seq     INTEGER NOT NULL CHECK (seq >= 1),
    lamport INTEGER NOT NULL CHECK (lamport >= 1),
    body    BLOB NOT NULL,
    UNIQUE (grp, author, seq)
) STRICT;
CREATE INDEX group_messages_order ON group_messages (grp, lamport, author);
";

/// v6: receipts and read marks in groups (issue 18). `group_receipts` holds, per group
/// and member, how far that member has told us it holds (`delivered`) and has read
/// (`read`) OUR messages there: high-water marks of our per-group seq, never lowered.
/// `groups.read_lamport`/`read_author` is our own read mark, a display position (0:
/// nothing read). `group_rosters.taken` is when this node took a roster (Unix ms, 0 for
/// rosters stored before v6): the time its system line shows (rosters carry no clock).
/// `group_leaves` holds members' signed leave statements (`GLEV`): the removal that
/// follows one is shown as `left`, and they are forwarded with the rosters.
const V6: &str = "
CREATE TABLE group_leaves (
    grp    BLOB NOT NULL REFERENCES groups(id),
    member BLOB NOT NULL CHECK (length(member) = 32),
    from_v INTEGER NOT NULL CHECK (from_v >= 1),
    sig    BLOB NOT NULL CHECK (length(sig) = 64),
    PRIMARY KEY (grp, member, from_v)
) STRICT, WITHOUT ROWID;
CREATE TABLE group_receipts (
    grp       BLOB NOT NULL REFERENCES groups(id),
    member    BLOB NOT NULL CHECK (length(member) = 32),
    delivered INTEGER NOT NULL CHECK (delivered >= 0),
    read      INTEGER NOT NULL CHECK (read >= 0 AND read <= delivered),
    PRIMARY KEY (grp, member)
) STRICT, WITHOUT ROWID;
ALTER TABLE groups ADD COLUMN read_lamport INTEGER NOT NULL DEFAULT 0 CHECK (read_lamport >= 0);
ALTER TABLE groups ADD COLUMN read_author BLOB
    CHECK (read_author IS NULL OR length(read_author) = 32);
ALTER TABLE group_rosters ADD COLUMN taken INTEGER NOT NULL DEFAULT 0;
";

/// v7: files in a conversation's history, and ends the peer has not heard of (issue 17).
/// `cancel_unsent` marks a transfer we ended (declined, cancelled, expired, failed)
/// whose `FCAN` could not be queued to the peer: it goes out when the peer is back, and
/// the flag is cleared once it is queued. `transfers_by_peer` serves the history page's
/// files (a peer's transfers by time).
const V7: &str = "
ALTER TABLE transfers ADD COLUMN cancel_unsent INTEGER NOT NULL DEFAULT 0
    CHECK (cancel_unsent IN (0, 1));
CREATE INDEX transfers_unsent_cancel ON transfers (peer) WHERE cancel_unsent = 1;
CREATE INDEX transfers_by_peer ON transfers (peer, created);
";

/// The writer's page cache, in KiB (as SQLite takes it: negative).
const WRITER_CACHE_KIB: i64 = -4 * 1024;
/// The reader's page cache, in KiB (SQLite's default is 2,000). Its queries are small
/// (a history page, a part of an outbox, one id), and in WAL mode each read after one
/// of the writer's commits starts from an empty cache anyway, so a large one only
/// churns the heap while the node is busy.
const READER_CACHE_KIB: i64 = -512;
/// WAL pages after which a commit checkpoints them into the database (SQLite's default
/// is 1,000). Under load a batch touches ~1,000 pages of the random id index, so with
/// the default nearly every commit also checkpointed, rewriting the same hot pages
/// each time (13 % of the writer's CPU). At 8,192 (32 MiB of WAL at 4 KiB pages) a
/// checkpoint writes each hot page once for several commits; the WAL file is cut back
/// to `journal_size_limit` after each one.
const CHECKPOINT_PAGES: i64 = 8192;

/// Opens (creating if missing) the write connection, checks and migrates the schema.
pub(crate) fn open_writer(path: &Path, busy_timeout: Duration) -> Result<Connection, StoreError> {
    let err = |e| StoreError::sqlite(path, e);
    if !path.exists() {
        create_new(path)?;
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = Connection::open_with_flags(path, flags).map_err(err)?;
    conn.busy_timeout(busy_timeout).map_err(err)?;
    stable_plans(&conn).map_err(err)?;
    let found = user_version(&conn, path)?;
    // A negative version is no purr's either; refuse it the same way, untouched.
    if !(0..=SCHEMA_VERSION).contains(&found) {
        return Err(StoreError::TooNew {
            path: path.to_path_buf(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    to_wal(&conn, path)?;
    // FULL: a commit is on disk when COMMIT returns, which is what a Committed promises.
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(err)?;
    conn.pragma_update(None, "foreign_keys", true)
        .map_err(err)?;
    // Room for a full batch's dirty pages (ids are random, so each insert dirties its own
    // index leaf), so a batch does not spill to the WAL mid-transaction. Kept small: the
    // cache stays as full as the busiest moment made it, and it is resident memory.
    conn.pragma_update(None, "cache_size", WRITER_CACHE_KIB)
        .map_err(err)?;
    conn.pragma_update(None, "wal_autocheckpoint", CHECKPOINT_PAGES)
        .map_err(err)?;
    // After a checkpoint, cut the WAL back to 4 MiB instead of keeping its largest size:
    // small boxes have small disks.
    conn.pragma_update(None, "journal_size_limit", 4 << 20)
        .map_err(err)?;
    migrate(&mut conn, path, found)?;
    // A migration (every one of them, on a new database) fills the page cache; an idle
    // node need not keep those pages (the cache refills from what the load touches).
    let _ = conn.execute_batch("PRAGMA shrink_memory");
    Ok(conn)
}

/// Opens a read-only connection on a database the writer has already migrated.
pub(crate) fn open_reader(path: &Path, busy_timeout: Duration) -> Result<Connection, StoreError> {
    let err = |e| StoreError::sqlite(path, e);
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(err)?;
    conn.busy_timeout(busy_timeout).map_err(err)?;
    stable_plans(&conn).map_err(err)?;
    conn.pragma_update(None, "cache_size", READER_CACHE_KIB)
        .map_err(err)?;
    let found = user_version(&conn, path)?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            path: path.to_path_buf(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    if found != SCHEMA_VERSION {
        return Err(StoreError::NotMigrated {
            path: path.to_path_buf(),
            found,
            expected: SCHEMA_VERSION,
        });
    }
    Ok(conn)
}

/// Turns on SQLite's query planner stability guarantee (QPSG): a statement's plan no
/// longer depends on the values bound to it, so a cached statement is never prepared
/// again because a parameter changed. Without it the bundled SQLite re-prepares (parses
/// and plans anew) every statement with a `LIMIT ?N` each time it runs with a new value
/// bound: that was ~40 % of a group author's state thread, one receipt query per `GRCP`
/// (`group_ids_by_seq`). Our queries name their index by their `WHERE`, and no
/// database is ever `ANALYZE`d, so no plan is lost.
fn stable_plans(conn: &Connection) -> rusqlite::Result<()> {
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )
    .map(|_| ())
}

/// Creates an empty file with mode 0600 if there is none: messages are private, and
/// SQLite gives its `-wal` and `-shm` files the database file's mode. (An empty file is
/// a valid empty database.)
fn create_private(path: &Path) -> Result<(), StoreError> {
    let created = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
    match created {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(StoreError::Create {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// The database [`MIGRATIONS`] make from nothing, gzipped (`new.db.gz` beside this
/// file, ~3 KB for ~100 KB of pages): a first start writes it instead of running them,
/// which cost ~1.4 ms of SQLite parsing and schema rewrites, a quarter of a first
/// start. A test checks it against the migrations and writes it again when
/// `PURR_WRITE_NEW_DB` is set; one older than the migrations is still correct (the
/// rest of them run on it at once).
const NEW_DB_GZ: &[u8] = include_bytes!("new.db.gz");

/// [`NEW_DB_GZ`] inflated, if it is an SQLite database.
fn embedded_new_db() -> Option<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(NEW_DB_GZ)
        .read_to_end(&mut out)
        .ok()?;
    out.starts_with(b"SQLite format 3\0").then_some(out)
}

/// Makes a new database at `path` (which does not exist): written at `<path>.new`
/// (from [`NEW_DB_GZ`], or built by the migrations without a journal or flushes; a
/// crash leaves only that file, which the next start replaces), then one flush of the
/// file, the rename, and one flush of the directory.
fn create_new(path: &Path) -> Result<(), StoreError> {
    let mut aside = path.as_os_str().to_owned();
    aside.push(".new");
    let aside = std::path::PathBuf::from(aside);
    let io = |source| StoreError::Create {
        path: aside.clone(),
        source,
    };
    // What a crash during an earlier first start left.
    for stale in ["", "-journal", "-wal", "-shm"] {
        let mut p = aside.as_os_str().to_owned();
        p.push(stale);
        match std::fs::remove_file(&p) {
            Ok(()) => log::info!(
                "removed {} (a first start that did not finish)",
                p.to_string_lossy()
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
    }
    create_private(&aside)?;
    match embedded_new_db() {
        Some(bytes) => std::fs::write(&aside, bytes).map_err(io)?,
        None => build_new(&aside, path)?,
    }
    std::fs::File::open(&aside)
        .and_then(|f| f.sync_all())
        .map_err(io)?;
    std::fs::rename(&aside, path).map_err(io)?;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    std::fs::File::open(dir.unwrap_or(Path::new(".")))
        .and_then(|d| d.sync_all())
        .map_err(|source| StoreError::Create {
            path: path.to_path_buf(),
            source,
        })
}

/// Runs every migration on the empty file `aside` without a journal or flushes and
/// leaves it in WAL mode, its WAL moved in (`path`, the final name, for messages).
fn build_new(aside: &Path, path: &Path) -> Result<(), StoreError> {
    let err = |e| StoreError::sqlite(aside, e);
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = Connection::open_with_flags(aside, flags).map_err(err)?;
    // Nothing to protect until the rename: no journal, no flushes.
    conn.query_row("PRAGMA journal_mode = OFF", [], |_| Ok(()))
        .map_err(err)?;
    conn.pragma_update(None, "synchronous", "OFF")
        .map_err(err)?;
    migrate(&mut conn, path, 0)?;
    to_wal(&conn, path)?;
    // Closing the last connection moves the WAL into the file and removes it.
    conn.close().map_err(|(_, e)| err(e))
}

/// Puts the database in WAL mode (a no-op if it is already), or says which mode SQLite
/// kept (a file system without shared memory, say). `path` names it in the error.
fn to_wal(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(|e| StoreError::sqlite(path, e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::NoWal {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

/// The schema version. This is the first read of the file, so it is also where a file
/// that is not a database shows itself.
fn user_version(conn: &Connection, path: &Path) -> Result<i64, StoreError> {
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(|e| StoreError::sqlite(path, e))
}

/// Applies the migrations after `from` in one transaction.
fn migrate(conn: &mut Connection, path: &Path, from: i64) -> Result<(), StoreError> {
    if from >= SCHEMA_VERSION {
        return Ok(());
    }
    let fail = |version: i64| {
        move |source| StoreError::Migrate {
            path: path.to_path_buf(),
            version,
            source,
        }
    };
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(fail(from + 1))?;
    // The data dir lock keeps other nodes out, but re-reading under the write lock
    // costs nothing and makes a concurrent migration impossible to apply twice.
    let current: i64 = tx
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(fail(from + 1))?;
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current.max(0) as usize) {
        let version = index as i64 + 1;
        tx.execute_batch(sql).map_err(fail(version))?;
        tx.pragma_update(None, "user_version", version)
            .map_err(fail(version))?;
    }
    tx.commit().map_err(fail(SCHEMA_VERSION))?;
    if current < SCHEMA_VERSION {
        log::info!(
            "{}: schema migrated from version {current} to {SCHEMA_VERSION}",
            path.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUSY: Duration = Duration::from_millis(100);

    /// Whether the schema holds a table, index or trigger of that name.
    fn has_object(conn: &Connection, name: &str) -> bool {
        conn.query_row(
            "SELECT count(*) FROM sqlite_master WHERE name = ?1",
            [name],
            |r| r.get::<_, i64>(0),
        )
        .unwrap()
            == 1
    }

    fn version(conn: &Connection) -> i64 {
        conn.pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn fresh_database_gets_current_version_and_pragmas() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("purr.db");
        let conn = open_writer(&path, BUSY).unwrap();
        assert_eq!(version(&conn), SCHEMA_VERSION);
        assert_eq!(SCHEMA_VERSION, 7);
        let mode: String = conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        // synchronous: 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA.
        let sync: i64 = conn
            .pragma_query_value(None, "synchronous", |r| r.get(0))
            .unwrap();
        assert_eq!(sync, 2);
        let fk: i64 = conn
            .pragma_query_value(None, "foreign_keys", |r| r.get(0))
            .unwrap();
        assert_eq!(fk, 1);
        let busy: i64 = conn
            .pragma_query_value(None, "busy_timeout", |r| r.get(0))
            .unwrap();
        assert_eq!(busy, 100);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // Opening again is a no-op migration.
        drop(conn);
        assert_eq!(version(&open_writer(&path, BUSY).unwrap()), SCHEMA_VERSION);
    }

    /// A cached statement with a bound `LIMIT` runs again with another limit without
    /// being prepared again (QPSG: `stable_plans`). Without it SQLite re-prepares it at
    /// every run (each bind of the limit expires it), and the count below is not 0.
    #[test]
    fn a_cached_statement_with_a_bound_limit_is_not_prepared_again() {
        use rusqlite::StatementStatus;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("purr.db");
        let writer = open_writer(&path, BUSY).unwrap();
        let reader = open_reader(&path, BUSY).unwrap();
        let sql = "SELECT seq, id FROM group_messages WHERE grp = ?1 AND author = ?2
                   AND seq > ?3 AND seq <= ?4 ORDER BY seq DESC LIMIT ?5";
        for conn in [&writer, &reader] {
            for limit in [500, 1, 7] {
                let mut stmt = conn.prepare_cached(sql).unwrap();
                let rows = stmt
                    .query_map(rusqlite::params![[0u8; 16], [0u8; 32], 0, 9, limit], |_| {
                        Ok(())
                    })
                    .unwrap()
                    .count();
                assert_eq!(rows, 0);
                assert_eq!(stmt.get_status(StatementStatus::RePrepare), 0);
            }
        }
    }

    /// A new database appears whole: built aside and renamed into place, already in WAL
    /// mode, with nothing left beside it and nothing waiting in its WAL (made in place,
    /// its creation went through a rollback journal and the WAL: 7 flushes, now 2).
    #[test]
    fn a_new_database_is_built_aside_and_renamed_into_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("purr.db");
        let conn = open_writer(&path, BUSY).unwrap();
        let frames: i64 = conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(1))
            .unwrap();
        assert_eq!(frames, 0, "the schema is in the file, not the WAL");
        let header = std::fs::read(&path).unwrap();
        assert_eq!(&header[18..20], &[2, 2], "WAL mode is in the file's header");
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["purr.db", "purr.db-shm", "purr.db-wal"]);
    }

    /// The embedded new database is what the migrations make: the same tables,
    /// indexes and triggers, the same version, WAL mode in its header. When a migration
    /// is added this fails until `new.db.gz` is written again:
    /// `PURR_WRITE_NEW_DB=1 cargo test --lib the_embedded_new_database`.
    #[test]
    fn the_embedded_new_database_is_what_the_migrations_make() {
        let dir = tempfile::tempdir().unwrap();
        let built = dir.path().join("built.db");
        create_private(&built).unwrap();
        build_new(&built, &built).unwrap();
        if std::env::var_os("PURR_WRITE_NEW_DB").is_some() {
            use std::io::Write;
            let out = concat!(env!("CARGO_MANIFEST_DIR"), "/src/store/new.db.gz");
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            gz.write_all(&std::fs::read(&built).unwrap()).unwrap();
            std::fs::write(out, gz.finish().unwrap()).unwrap();
            eprintln!("wrote {out}: rebuild to embed it");
        }
        let embedded = dir.path().join("embedded.db");
        let bytes = embedded_new_db().expect("new.db.gz is a gzipped SQLite database");
        assert_eq!(&bytes[18..20], &[2, 2], "WAL mode in the header");
        std::fs::write(&embedded, bytes).unwrap();
        let describe = |path: &Path| {
            let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
            let ok: String = conn
                .query_row("PRAGMA integrity_check", [], |r| r.get(0))
                .unwrap();
            assert_eq!(ok, "ok");
            let mut rows: Vec<String> = conn
                .prepare("SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_master")
                .unwrap()
                .query_map([], |r| {
                    Ok(format!(
                        "{} {} on {}: {}",
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?
                    ))
                })
                .unwrap()
                .map(Result::unwrap)
                .collect();
            rows.sort();
            (version(&conn), rows)
        };
        assert_eq!(
            describe(&embedded),
            describe(&built),
            "src/store/new.db.gz is not what the migrations make: \
             PURR_WRITE_NEW_DB=1 cargo test --lib the_embedded_new_database"
        );
    }

    /// What a crash during a first start leaves (a half-built `purr.db.new` and its
    /// journal files) is replaced by the next start; an existing `purr.db` is never
    /// touched by that path.
    #[test]
    fn a_half_built_new_database_is_replaced_at_the_next_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("purr.db");
        let aside = dir.path().join("purr.db.new");
        std::fs::write(&aside, b"half a database").unwrap();
        std::fs::write(dir.path().join("purr.db.new-wal"), b"junk").unwrap();
        let conn = open_writer(&path, BUSY).unwrap();
        assert_eq!(version(&conn), SCHEMA_VERSION);
        assert!(!aside.exists());
        assert!(!dir.path().join("purr.db.new-wal").exists());
        conn.execute_batch("CREATE TABLE kept (x)").unwrap();
        drop(conn);
        // A stray `.new` beside a database that exists is not the database.
        std::fs::write(&aside, b"stray").unwrap();
        let conn = open_writer(&path, BUSY).unwrap();
        assert!(has_object(&conn, "kept"));
    }

    /// A database as purr schema v1 wrote it, built by hand (not through `open_writer`),
    /// so this keeps testing the upgrade path real users take.
    fn make_v1(path: &Path) {
        let conn = Connection::open(path).unwrap();
        conn.execute_batch(
            "CREATE TABLE contacts (
                id TEXT PRIMARY KEY NOT NULL CHECK (length(id) = 64), name TEXT NOT NULL,
                addrs TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(addrs)),
                first_seen INTEGER NOT NULL, last_seen INTEGER,
                verified INTEGER NOT NULL DEFAULT 0 CHECK (verified IN (0, 1)),
                pinned_key BLOB NOT NULL CHECK (length(pinned_key) = 32)) STRICT;
             CREATE TABLE messages (
                seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE CHECK (length(id) = 32),
                peer TEXT NOT NULL REFERENCES contacts(id), direction TEXT NOT NULL,
                text TEXT NOT NULL, ts INTEGER NOT NULL, status TEXT NOT NULL,
                CHECK ((direction = 'out' AND status IN ('pending', 'delivered', 'read'))
                    OR (direction = 'in' AND status IN ('received', 'read')))) STRICT;
             CREATE INDEX messages_by_peer ON messages (peer, seq);
             CREATE INDEX messages_unread ON messages (peer)
                WHERE direction = 'in' AND status = 'received';
             CREATE INDEX messages_outbox ON messages (peer, seq)
                WHERE direction = 'out' AND status = 'pending';
             PRAGMA user_version = 1;",
        )
        .unwrap();
        let peer = "a".repeat(64);
        conn.execute(
            "INSERT INTO contacts VALUES (?1, 'alice', '[\"10.0.0.2:35035\"]', 1, 2, 1, ?2)",
            rusqlite::params![peer, [7u8; 32]],
        )
        .unwrap();
        for (seq, dir, status) in [
            (1, "in", "read"),
            (2, "out", "pending"),
            (3, "in", "received"),
        ] {
            conn.execute(
                "INSERT INTO messages VALUES (?1, ?2, ?3, ?4, 'text', 100, ?5)",
                rusqlite::params![seq, format!("{seq:032}"), peer, dir, status],
            )
            .unwrap();
        }
    }

    #[test]
    fn v1_database_migrates_keeping_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("purr.db");
        make_v1(&path);
        let conn = open_writer(&path, BUSY).unwrap();
        assert_eq!(version(&conn), SCHEMA_VERSION);
        let rows: Vec<(i64, String, i64)> = conn
            .prepare("SELECT seq, status, read_sent FROM messages ORDER BY seq")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            rows,
            vec![
                (1, "read".into(), 0),
                (2, "pending".into(), 0),
                (3, "received".into(), 0)
            ]
        );
        let (name, verified): (String, i64) = conn
            .query_row("SELECT name, verified FROM contacts", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((name.as_str(), verified), ("alice", 1));
        // v3: ids are bytes, the peer an integer key.
        let (id, peer): (Vec<u8>, i64) = conn
            .query_row("SELECT id, peer FROM messages WHERE seq = 2", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!(
            id,
            crate::hex::decode_array::<16>(&format!("{:032}", 2)).unwrap()
        );
        let key: (i64, Vec<u8>) = conn
            .query_row("SELECT peer, id FROM contacts", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!(key, (peer, vec![0xaa; 32]));
        assert!(has_object(&conn, "messages_unsent_reads"));
    }

    /// v5 → v6: a group, its roster and its message are kept; the roster's time is
    /// unknown (0), nothing is read, no receipts.
    #[test]
    fn v5_groups_migrate_to_v6_with_receipts_and_read_marks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("purr.db");
        let mut conn = Connection::open(&path).unwrap();
        let tx = conn.transaction().unwrap();
        for sql in &MIGRATIONS[..5] {
            tx.execute_batch(sql).unwrap();
        }
        tx.execute_batch(
            "INSERT INTO groups VALUES (x'00112233445566778899aabbccddeeff', 'cats', 'member',
                 zeroblob(32), NULL, 5);
             INSERT INTO group_rosters VALUES (x'00112233445566778899aabbccddeeff', 1, x'01');
             INSERT INTO group_messages VALUES (zeroblob(16),
                 x'00112233445566778899aabbccddeeff', zeroblob(32), 1, 2, x'02');
             PRAGMA user_version = 5;",
        )
        .unwrap();
        tx.commit().unwrap();
        drop(conn);
        let conn = open_writer(&path, BUSY).unwrap();
        // Migrated through v6 (and any later version).
        assert_eq!(version(&conn), SCHEMA_VERSION);
        let row: (String, i64, Option<Vec<u8>>) = conn
            .query_row(
                "SELECT name, read_lamport, read_author FROM groups",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(row, ("cats".into(), 0, None));
        let taken: i64 = conn
            .query_row("SELECT taken FROM group_rosters", [], |r| r.get(0))
            .unwrap();
        assert_eq!(taken, 0);
        let counts: (i64, i64) = conn
            .query_row(
                "SELECT (SELECT count(*) FROM group_messages),
                        (SELECT count(*) FROM group_receipts) + (SELECT count(*) FROM group_leaves)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(counts, (1, 0));
        // The marks' rule holds in the table itself.
        assert!(conn
            .execute(
                "INSERT INTO group_receipts VALUES (x'00112233445566778899aabbccddeeff', zeroblob(32), 1, 2)",
                [],
            )
            .is_err());
    }

    #[test]
    fn newer_version_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("purr.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch("CREATE TABLE future (x); PRAGMA user_version = 99;")
            .unwrap();
        let err = open_writer(&path, BUSY).unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::TooNew {
                    found: 99,
                    supported: SCHEMA_VERSION,
                    ..
                }
            ),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains("purr.db") && msg.contains("99"), "{msg}");
        // Nothing was changed: still version 99, still not WAL.
        let conn = Connection::open(&path).unwrap();
        assert_eq!(version(&conn), 99);
        let mode: String = conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "delete");
        assert!(matches!(
            open_reader(&path, BUSY),
            Err(StoreError::TooNew { .. })
        ));
    }

    #[test]
    fn a_file_that_is_not_a_database_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("purr.db");
        let junk = "this is a text file, not SQLite\n".repeat(100);
        std::fs::write(&path, &junk).unwrap();
        let err = open_writer(&path, BUSY).unwrap_err();
        assert!(matches!(err, StoreError::NotADatabase { .. }), "{err:?}");
        assert!(err.to_string().contains(&path.display().to_string()));
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            junk,
            "never replaced"
        );
    }

    #[test]
    fn reader_refuses_an_unmigrated_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("purr.db");
        make_v1(&path);
        assert!(matches!(
            open_reader(&path, BUSY),
            Err(StoreError::NotMigrated { found: 1, .. })
        ));
        let missing = dir.path().join("missing.db");
        assert!(matches!(
            open_reader(&missing, BUSY),
            Err(StoreError::Sqlite { .. })
        ));
    }

    /// v6 → v7: a transfer is kept, with no `FCAN` owed; the history's index is there.
    #[test]
    fn v6_transfers_migrate_to_v7_with_nothing_owed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("purr.db");
        let mut conn = Connection::open(&path).unwrap();
        let tx = conn.transaction().unwrap();
        for sql in &MIGRATIONS[..6] {
            tx.execute_batch(sql).unwrap();
        }
        tx.execute_batch(
            "INSERT INTO contacts (peer, id, name, first_seen) VALUES (1, zeroblob(32), 'bob', 1);
             INSERT INTO transfers (id, peer, direction, name, size, mime, chunk, created, phase,
                 reason)
                 VALUES (zeroblob(16), 1, 'in', 'a.bin', 3, 'x/y', 131072, 7, 'ended',
                     'declined');
             PRAGMA user_version = 6;",
        )
        .unwrap();
        tx.commit().unwrap();
        drop(conn);
        let conn = open_writer(&path, BUSY).unwrap();
        assert_eq!(version(&conn), 7);
        let row: (String, i64) = conn
            .query_row("SELECT reason, cancel_unsent FROM transfers", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!(row, ("declined".into(), 0));
        assert!(has_object(&conn, "transfers_by_peer"));
    }
}
