//! Messages and contacts on disk (SPEC §8): `<data-dir>/purr.db`, SQLite in WAL mode with
//! `synchronous=FULL`.
//!
//! The state thread owns all mutable state and must never wait for an fsync (SPEC §7,
//! durability rule), so the store is split in two, each with its own connection:
//!
//! ```text
//!            try_submit(token, Op)          ┌──────────── writer thread ──────────────┐
//!   state ──── bounded queue ─────────────▶ │ recv first op; more until MAX_BATCH ops │
//!   thread                                  │ or BATCH_WINDOW; BEGIN IMMEDIATE; apply │
//!     ▲                                     │ the ops; COMMIT (fsync)                 │
//!     │                                     └────────────────────┬────────────────────┘
//!     ├─── Committed { tokens, result, rejected, ◀───────────────┘  only after COMMIT
//!     │               duplicates }
//!     │
//!     └──▶ Reader (read-only connection): startup queries, history pages, outbox;
//!          WAL lets it read while the writer writes, so it never waits on an fsync.
//! ```
//!
//! The caller assigns message `seq` numbers (`max_seq() + 1` at startup, then counting):
//! a received message is shown to UIs before it is committed, so its `seq` must be known
//! before the database has seen it. A [`Committed`] is the signal that the ops behind its
//! tokens are durable: only then may the node tell a UI `pending` or send `ACKN`. Until
//! then the caller keeps its ops: a failed batch, or a full queue
//! ([`SubmitError::Full`]), means submitting them again later.
//!
//! The store speaks domain types: ids are [`NodeId`] and [`MsgId`], statuses the
//! store's own [`Status`]; how they look in the UI's JSON is the state's business.
//!
//! # Schema (version [`SCHEMA_VERSION`], see `schema.rs` for the migrations)
//!
//! ```text
//! contacts(peer INTEGER PK (a local key), id BLOB UNIQUE (32 bytes), name,
//!          addrs (JSON array of "ip:port"), first_seen, last_seen (NULL = never
//!          connected), verified 0|1)
//! messages(seq INTEGER PK (caller-assigned), id BLOB UNIQUE (16 bytes),
//!          peer → contacts(peer), direction 'in'|'out', text, ts,
//!          status: out 'pending'→'delivered'→'read' | in 'received'→'read',
//!          read_sent 0|1 (for incoming 'read' messages, our READ reached the sender))
//! indexes: (peer, seq) paging · unread: in+'received' per peer · outbox: out+'pending'
//!          per peer by seq · unsent reads: in+'read'+read_sent=0 per peer by seq
//! transfers(id BLOB PK (16 bytes), peer → contacts(peer), direction, name, size,
//!           mime, chunk, caption, thumb, created, path, src_mtime, src_ino, root,
//!           phase 'offered'|'accepted'|'done'|'ended', reason)        (v4)
//! transfer_chunks(id → transfers(id), start, end): chunk ranges held durably (v4)
//! groups(id BLOB PK (16 bytes), name, phase 'invited'|'member'|'declined'|'left'|
//!        'removed', owner, inviter, created)                         (v5)
//! group_rosters(grp → groups(id), version, roster (GROS body)): PK (grp, version) (v5)
//! group_messages(id BLOB PK, grp → groups(id), author, seq, lamport, body (GMSG
//!        body, signed)), UNIQUE (grp, author, seq); index (grp, lamport, author) (v5)
//! groups + read_lamport, read_author (our read mark); group_rosters + taken (v6)
//! group_receipts(grp → groups(id), member, delivered, read): PK (grp, member) (v6)
//! group_leaves(grp → groups(id), member, from_v, sig): PK (grp, member, from_v) (v6)
//! ```
//! v3 keeps ids as bytes and peers by an integer key (v1/v2: hex text in every row and
//! index entry): a random message id is a 16-byte index key instead of 32 characters,
//! and the (peer, seq) index holds two small integers instead of 64 characters and one.
//! Times are Unix milliseconds. CHECK constraints keep direction and status consistent,
//! so a bad op is refused by SQLite rather than stored.

pub mod backup;
mod groups;
mod ops;
mod reader;
mod schema;
mod transfers;
pub mod writer;

#[cfg(test)]
mod testutil;

use std::path::{Path, PathBuf};

use crossbeam_channel::Sender;

pub use crate::identity::NodeId;
pub use crate::peer::inner::MsgId;

pub use groups::{GroupPhase, StoredGroup};
pub use ops::Op;
pub use reader::{Reader, MAX_PAGE};
pub use schema::SCHEMA_VERSION;
pub use transfers::{Phase, StoredTransfer};
pub use writer::{Committed, Rejected, SubmitError, Writer, WriterConfig, MAX_BATCH};

/// The database file inside the data dir (SPEC §8).
pub const DB_FILE: &str = "purr.db";

/// The database path for a data dir.
pub fn db_path(data_dir: &Path) -> PathBuf {
    data_dir.join(DB_FILE)
}

/// Opens the store of `data_dir`: creates or migrates `purr.db`, starts the writer thread
/// (completions go to `done`) and opens the reader. The writer goes first because it is
/// the one that may create the file and migrate it.
pub fn open(
    data_dir: &Path,
    config: WriterConfig,
    done: Sender<Committed>,
) -> Result<(Writer, Reader), StoreError> {
    let path = db_path(data_dir);
    let writer = Writer::spawn(&path, config, done)?;
    let reader = Reader::open(&path)?;
    Ok((writer, reader))
}

/// What went wrong with the database. Opening errors are fatal for a node (exit 1 with
/// this message, which names the file); query errors are reported and the node goes on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file is not an SQLite database: the user must move it away (it is never
    /// replaced automatically, like `identity.key`).
    #[error(
        "{path} is not a purr database (move it away to start over; it is never replaced automatically)"
    )]
    NotADatabase { path: PathBuf },
    /// SQLite found the file damaged (a torn write on a failing card, an edit): the user
    /// must move it aside and start again or restore a backup; it is never replaced.
    #[error(
        "{path} is damaged (SQLite: database disk image is malformed): move it aside \
         (mv {path} {path}.damaged) and start again, or put a backup back with purr restore"
    )]
    Corrupt { path: PathBuf },
    /// The file was written by a newer purr: run that version (or move the file away).
    #[error(
        "{path} has schema version {found}, but this purr supports up to version {supported}: run a newer purr"
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    /// A reader was opened on a file the writer has not migrated: open the writer first.
    #[error("{path} has schema version {found}, expected {expected} (open the writer first)")]
    NotMigrated {
        path: PathBuf,
        found: i64,
        expected: i64,
    },
    /// The file system cannot do WAL (no shared memory, e.g. some network file systems):
    /// put the data dir on a local disk.
    #[error("cannot use WAL on {path} (journal mode stays {mode}): use a local file system")]
    NoWal { path: PathBuf, mode: String },
    /// A schema migration failed and was rolled back: the file is unchanged; fix the
    /// cause (disk full, permissions) and start again.
    #[error("cannot migrate {path} to schema version {version}: {source}")]
    Migrate {
        path: PathBuf,
        version: i64,
        source: rusqlite::Error,
    },
    /// The database file cannot be created (missing directory, permissions).
    #[error("cannot create {path}: {source}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    /// SQLite failed (cannot open, I/O, busy for longer than the busy timeout).
    #[error("database {path}: {source}")]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    /// A row holds something purr never writes (the file was edited or damaged).
    #[error("{path}: unreadable row in {table}: {why}")]
    BadRow {
        path: PathBuf,
        table: &'static str,
        why: String,
    },
    /// The writer thread has stopped (the node is shutting down): drop the op.
    #[error("the database writer has stopped")]
    WriterGone,
    /// `purr restore` was given a file that is not a purr database this version opens.
    #[error("{path} cannot be restored: {why}")]
    NotRestorable { path: PathBuf, why: String },
    /// The OS refused to start the writer thread.
    #[error("cannot start the database writer thread: {0}")]
    Spawn(std::io::Error),
}

impl StoreError {
    /// Wraps a SQLite error, recognising "not a database" so the message says what to do.
    pub(crate) fn sqlite(path: &Path, source: rusqlite::Error) -> StoreError {
        match source.sqlite_error_code() {
            Some(rusqlite::ErrorCode::NotADatabase) => StoreError::NotADatabase {
                path: path.to_path_buf(),
            },
            Some(rusqlite::ErrorCode::DatabaseCorrupt) => StoreError::Corrupt {
                path: path.to_path_buf(),
            },
            _ => StoreError::Sqlite {
                path: path.to_path_buf(),
                source,
            },
        }
    }
}

/// Why a batch did not commit. Cloneable (unlike `rusqlite::Error`) because it travels in
/// a [`Committed`]; nothing of the batch was stored, and the writer tries it again.
/// `Display` is a sentence for the user (it goes to the UI): what is wrong, then SQLite's
/// words in parentheses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct CommitError {
    /// The class of failure.
    pub kind: CommitFailure,
    /// SQLite's description, and for [`CommitFailure::ReadOnly`] the file that is.
    pub message: String,
}

/// Classes of commit failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitFailure {
    /// Another connection (another program) held the write lock past the busy timeout.
    Busy,
    /// The disk is full: the user must free space.
    DiskFull,
    /// The file, its directory or the file system became read-only (or the files'
    /// permissions no longer let us write).
    ReadOnly,
    /// An I/O error: the disk may be failing.
    Io,
    /// Anything else SQLite reports.
    Other,
}

impl From<&rusqlite::Error> for CommitError {
    fn from(e: &rusqlite::Error) -> Self {
        use rusqlite::ErrorCode as C;
        let kind = match e.sqlite_error_code() {
            Some(C::DatabaseBusy | C::DatabaseLocked) => CommitFailure::Busy,
            Some(C::DiskFull) => CommitFailure::DiskFull,
            Some(C::ReadOnly | C::PermissionDenied) => CommitFailure::ReadOnly,
            Some(C::SystemIoFailure | C::CannotOpen) => CommitFailure::Io,
            _ => CommitFailure::Other,
        };
        CommitError {
            kind,
            message: e.to_string(),
        }
    }
}

impl CommitError {
    /// Classifies a failed commit of the database at `db`. SQLite reports a write refused
    /// through a descriptor it already holds (an immutable file, a file system gone
    /// read-only under us) as a plain "disk I/O error"; `access(2)` on the files says
    /// which one cannot be written and why, so the user is told what to fix.
    pub(crate) fn classify(e: &rusqlite::Error, db: &Path) -> CommitError {
        let mut error = CommitError::from(e);
        if matches!(
            error.kind,
            CommitFailure::Io | CommitFailure::ReadOnly | CommitFailure::Other
        ) {
            if let Some(why) = read_only_reason(db) {
                error.kind = CommitFailure::ReadOnly;
                error.message = format!("{why}; {}", error.message);
            }
        }
        error
    }

    fn describe(&self) -> String {
        let what = match self.kind {
            CommitFailure::Busy => "the database is locked by another program",
            CommitFailure::DiskFull => "the disk is full",
            CommitFailure::ReadOnly => "the data dir is read-only",
            CommitFailure::Io => "disk I/O error",
            CommitFailure::Other => "database error",
        };
        format!("{what} ({})", self.message)
    }
}

/// The first of the data dir, `db` and its `-wal`/`-shm` files that this process may not
/// write, and why. Only `access(2)`: opening one of SQLite's files and closing it again
/// would drop the POSIX locks SQLite holds on it.
fn read_only_reason(db: &Path) -> Option<String> {
    let with_suffix = |suffix: &str| {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    let candidates = [
        db.parent().map(Path::to_path_buf),
        Some(db.to_path_buf()),
        Some(with_suffix("-wal")),
        Some(with_suffix("-shm")),
    ];
    candidates.into_iter().flatten().find_map(|path| {
        match rustix::fs::access(&path, rustix::fs::Access::WRITE_OK) {
            Ok(()) | Err(rustix::io::Errno::NOENT) => None,
            Err(e) => Some(format!(
                "{} cannot be written: {}",
                path.display(),
                std::io::Error::from(e)
            )),
        }
    })
}

/// Which way a message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Received from the peer.
    In,
    /// Sent to the peer.
    Out,
}

impl Direction {
    /// The column value.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
        }
    }

    /// Parses a column value.
    pub fn parse(s: &str) -> Option<Direction> {
        match s {
            "in" => Some(Direction::In),
            "out" => Some(Direction::Out),
            _ => None,
        }
    }
}

/// Delivery state of a message, as stored (the UI's words are the same, SPEC §5; the
/// state's `view` maps one to the other).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Ours, not yet acknowledged by the peer.
    Pending,
    /// Ours, stored by the peer (`ACKN`).
    Delivered,
    /// Ours read by the peer's user (`READ`), or theirs read by ours.
    Read,
    /// Theirs, not yet read here.
    Received,
}

/// The column value of a status.
pub fn status_str(status: Status) -> &'static str {
    match status {
        Status::Pending => "pending",
        Status::Delivered => "delivered",
        Status::Read => "read",
        Status::Received => "received",
    }
}

/// Parses a status column value.
pub fn parse_status(s: &str) -> Option<Status> {
    match s {
        "pending" => Some(Status::Pending),
        "delivered" => Some(Status::Delivered),
        "read" => Some(Status::Read),
        "received" => Some(Status::Received),
        _ => None,
    }
}

/// A known peer, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    /// The Ed25519 identity key.
    pub id: NodeId,
    /// Its display name, as it last told us.
    pub name: String,
    /// Addresses it was reached on or announced with, best first.
    pub addrs: Vec<std::net::SocketAddr>,
    /// Unix ms when first stored; kept by upserts.
    pub first_seen: i64,
    /// Unix ms of the last traffic; `None` when never connected. Only moves forward.
    pub last_seen: Option<i64>,
    /// The user compared fingerprints. Only [`Op::SetVerified`] changes it.
    pub verified: bool,
}

/// A message, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// Position in this node's history, assigned by the caller (unique, increasing).
    pub seq: i64,
    /// The message id (SPEC §5).
    pub id: MsgId,
    /// The other side's id.
    pub peer: NodeId,
    /// Which way it went.
    pub direction: Direction,
    /// The text.
    pub text: String,
    /// Unix ms, as the sender stamped it.
    pub ts: i64,
    /// Delivery state; must fit the direction (out: pending/delivered/read, in:
    /// received/read), which the schema enforces.
    pub status: Status,
    /// For incoming messages read here: our READ has reached the sender.
    pub read_sent: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_move_to_the_state_thread() {
        fn send<T: Send>() {}
        send::<Writer>();
        send::<Reader>();
        send::<Committed>();
    }

    #[test]
    fn words_round_trip() {
        for d in [Direction::In, Direction::Out] {
            assert_eq!(Direction::parse(d.as_str()), Some(d));
        }
        for s in [
            Status::Pending,
            Status::Delivered,
            Status::Read,
            Status::Received,
        ] {
            assert_eq!(parse_status(status_str(s)), Some(s));
        }
        assert_eq!(parse_status("Pending"), None);
        assert_eq!(Direction::parse("sideways"), None);
    }
}
