//! Copies of `purr.db` that a user can keep: `purr backup FILE` while the node runs, and
//! `purr restore FILE` while it does not.
//!
//! A backup goes through SQLite's online backup API from a read-only connection, so it
//! is one self-contained file (no `-wal` beside it), a consistent snapshot even while the
//! node commits, with contacts, history and the outbox. A restore checks that the file is
//! a purr database this version can open, moves the current database aside (never
//! deletes it) and puts the copy in its place; the node migrates it at its next start.

use std::fs::{self, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::{schema::SCHEMA_VERSION, StoreError};

/// Pages copied per step of the backup: small steps let the node's writer commit in
/// between (the backup restarts a step the writer changed under it).
const PAGES_PER_STEP: std::ffi::c_int = 256;
/// Pause between steps.
const STEP_PAUSE: Duration = Duration::from_millis(5);

/// What a backup or restore did, for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    /// Where the database went.
    pub to: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// Messages in it.
    pub messages: i64,
    /// Contacts in it.
    pub contacts: i64,
    /// For a restore: where the database that was there went.
    pub moved_aside: Option<PathBuf>,
}

/// Copies the database `db` into a new file `to` (mode 0600), which must not exist.
pub fn backup(db: &Path, to: &Path) -> Result<Copied, StoreError> {
    let err = |e| StoreError::sqlite(db, e);
    let src = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(err)?;
    src.busy_timeout(Duration::from_secs(5)).map_err(err)?;
    // Created here, empty and private, so SQLite writes into a file no one else can read
    // and an existing file is never overwritten.
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(to)
        .map_err(|source| StoreError::Create {
            path: to.to_path_buf(),
            source,
        })?;
    let mut dst = Connection::open(to).map_err(|e| StoreError::sqlite(to, e))?;
    {
        let copy = rusqlite::backup::Backup::new(&src, &mut dst).map_err(err)?;
        copy.run_to_completion(PAGES_PER_STEP, STEP_PAUSE, None)
            .map_err(err)?;
    }
    // The copy is a rollback-journal file on its own, whatever the source's mode.
    dst.pragma_update(None, "journal_mode", "DELETE")
        .map_err(|e| StoreError::sqlite(to, e))?;
    let (messages, contacts) = counts(&dst, to)?;
    drop(dst);
    let bytes = fs::metadata(to).map(|m| m.len()).unwrap_or(0);
    Ok(Copied {
        to: to.to_path_buf(),
        bytes,
        messages,
        contacts,
        moved_aside: None,
    })
}

/// Puts the database in `from` at `db`: checks it first (a purr database of a schema
/// version this build opens), moves what is at `db` (with its `-wal`, `-shm`) aside to
/// `<db>.before-restore-<n>` (the first free n), then copies `from` in through a temporary file
/// and a rename. The caller holds the data dir's lock (no node runs).
pub fn restore(from: &Path, db: &Path) -> Result<Copied, StoreError> {
    let err = |e| StoreError::sqlite(from, e);
    let check = Connection::open_with_flags(from, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(err)?;
    let version: i64 = check
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(err)?;
    if !(1..=SCHEMA_VERSION).contains(&version) {
        return Err(StoreError::NotRestorable {
            path: from.to_path_buf(),
            why: format!("schema version {version}, this purr opens 1..={SCHEMA_VERSION}"),
        });
    }
    let ok: String = check
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .map_err(err)?;
    if ok != "ok" {
        return Err(StoreError::NotRestorable {
            path: from.to_path_buf(),
            why: format!("SQLite's check failed: {ok}"),
        });
    }
    let (messages, contacts) = counts(&check, from)?;
    drop(check);

    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| StoreError::Create { path, source }
    };
    let moved_aside = if db.exists() {
        // The first free `.before-restore-N`: a second restore never overwrites the
        // database an earlier one moved aside.
        let free = |n: &u32| !with_suffix(db, &format!(".before-restore-{n}")).exists();
        let n = (1..u32::MAX).find(free).unwrap_or(u32::MAX);
        let aside = with_suffix(db, &format!(".before-restore-{n}"));
        for suffix in ["", "-wal", "-shm"] {
            let file = with_suffix(db, suffix);
            if file.exists() {
                fs::rename(&file, with_suffix(&aside, suffix)).map_err(io(&file))?;
            }
        }
        Some(aside)
    } else {
        None
    };
    let tmp = with_suffix(db, ".restoring");
    let _ = fs::remove_file(&tmp);
    let mut out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io(&tmp))?;
    let mut input = fs::File::open(from).map_err(io(from))?;
    std::io::copy(&mut input, &mut out).map_err(io(&tmp))?;
    out.sync_all().map_err(io(&tmp))?;
    drop(out);
    fs::rename(&tmp, db).map_err(io(db))?;
    if let Some(dir) = db.parent() {
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    let bytes = fs::metadata(db).map(|m| m.len()).unwrap_or(0);
    Ok(Copied {
        to: db.to_path_buf(),
        bytes,
        messages,
        contacts,
        moved_aside,
    })
}

fn counts(conn: &Connection, path: &Path) -> Result<(i64, i64), StoreError> {
    let count = |table: &str| -> Result<i64, StoreError> {
        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .map_err(|e| StoreError::sqlite(path, e))
    };
    Ok((count("messages")?, count("contacts")?))
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testutil::{contact, msg, peer, Db};
    use crate::store::{Direction, Op, Status};

    fn filled() -> Db {
        let db = Db::new();
        let a = peer(0xa);
        db.apply([Op::UpsertContact(contact(&a))]);
        db.apply((1..=5).map(|s| Op::InsertMessage(msg(s, &a, Direction::Out, Status::Pending))));
        db
    }

    #[test]
    fn a_backup_is_one_private_file_with_everything_and_never_overwrites() {
        let db = filled();
        let to = db.dir.path().join("backup.db");
        let copied = backup(&db.path(), &to).unwrap();
        assert_eq!((copied.messages, copied.contacts), (5, 1));
        assert!(!with_suffix(&to, "-wal").exists());
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(&to).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(matches!(
            backup(&db.path(), &to),
            Err(StoreError::Create { .. })
        ));
    }

    #[test]
    fn a_restore_moves_the_old_database_aside_and_refuses_what_is_not_purr() {
        let db = filled();
        let saved = db.dir.path().join("saved.db");
        backup(&db.path(), &saved).unwrap();
        let target_dir = tempfile::tempdir().unwrap();
        let target = target_dir.path().join("purr.db");
        fs::write(&target, b"old").unwrap();
        let done = restore(&saved, &target).unwrap();
        assert_eq!(done.messages, 5);
        let aside = done.moved_aside.expect("moved aside");
        assert_eq!(fs::read(&aside).unwrap(), b"old");
        let reader = crate::store::Reader::open(&target);
        assert!(reader.is_ok() || matches!(reader, Err(StoreError::NotMigrated { .. })));

        let junk = db.dir.path().join("junk.db");
        fs::write(&junk, "not a database at all ".repeat(100)).unwrap();
        assert!(restore(&junk, &target).is_err());
        let future = db.dir.path().join("future.db");
        Connection::open(&future)
            .unwrap()
            .execute_batch("CREATE TABLE x (y); PRAGMA user_version = 99;")
            .unwrap();
        assert!(matches!(
            restore(&future, &target),
            Err(StoreError::NotRestorable { .. })
        ));
    }
}
