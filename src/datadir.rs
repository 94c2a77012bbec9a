//! The data directory (SPEC §8): identity key, UI token, lock, `node.json`, saved name.
//!
//! Secrets are written atomically (temp file 0600 + fsync + rename + fsync of the dir) so
//! a crash never leaves a half-written key, and an existing key is never replaced: a
//! corrupt `identity.key` is a fatal error naming the file, because silently minting a
//! new identity would make every contact see a stranger. For the same reason a running
//! node writes its key back (same bytes, 0600) if the file is deleted under it
//! ([`DataDir::restore_identity_if_missing`]).

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::identity::Identity;

/// Bytes of the UI token (SPEC §3: 32 random bytes, hex).
const TOKEN_BYTES: usize = 32;
/// The Ed25519 secret (SPEC §8).
const IDENTITY_FILE: &str = "identity.key";

/// What went wrong with the data dir. Each is fatal for a node (exit 1); the message
/// names the file so the user knows what to fix.
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    /// The directory cannot be created or read.
    #[error("cannot use data dir {path}: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The path exists but is a file (or something else), not a directory.
    #[error("{} is not a directory: give --data-dir a directory (it is created if missing)", .0.display())]
    NotADirectory(PathBuf),
    /// A file in it cannot be read or written.
    #[error("cannot access {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A file exists but does not hold what it should.
    #[error(
        "{path} is corrupt: {why} (move it away to start over; it is never replaced automatically)"
    )]
    Corrupt { path: PathBuf, why: String },
    /// Another node holds the lock.
    #[error("data dir {path} is in use by pid {pid}")]
    InUse { path: PathBuf, pid: String },
    /// No randomness for a new key or token.
    #[error(transparent)]
    Rng(#[from] crate::rng::RngError),
    /// The thread writing these files panicked (a bug).
    #[error("writing {0} failed unexpectedly")]
    Panicked(&'static str),
}

/// An opened data directory. Holding it holds the lock (when taken with [`DataDir::lock`]).
#[derive(Debug)]
pub struct DataDir {
    path: PathBuf,
    /// The `lock` file, kept open for the node's lifetime: the flock dies with the process.
    lock: Option<File>,
}

/// `node.json`: how clients find the running node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NodeInfo {
    /// Process id of the node.
    pub pid: u32,
    /// The TCP port it listens on.
    pub port: u16,
}

impl DataDir {
    /// Opens `path`, creating it (mode 0700) if missing. A directory that is already
    /// there and open to other users is tightened to 0700 when it is ours and holds
    /// nothing but purr's files (it may be a directory given by mistake, like `~`):
    /// otherwise a warning says what to run.
    pub fn create(path: &Path) -> Result<Self, DataDirError> {
        let dir_err = |source| DataDirError::Dir {
            path: path.to_path_buf(),
            source,
        };
        match fs::metadata(path) {
            Ok(m) if !m.is_dir() => return Err(DataDirError::NotADirectory(path.to_path_buf())),
            Ok(m) => tighten_mode(path, &m),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            // A component of the path is a file.
            Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
                return Err(DataDirError::NotADirectory(path.to_path_buf()))
            }
            Err(e) => return Err(dir_err(e)),
        }
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(path)
            .map_err(|e| match e.kind() {
                // A component of the path is a file.
                std::io::ErrorKind::AlreadyExists | std::io::ErrorKind::NotADirectory => {
                    DataDirError::NotADirectory(path.to_path_buf())
                }
                _ => dir_err(e),
            })?;
        fs::read_dir(path).map_err(dir_err)?;
        Ok(DataDir {
            path: path.to_path_buf(),
            lock: None,
        })
    }

    /// Opens an existing data dir for a client subcommand (never creates anything).
    pub fn existing(path: &Path) -> Self {
        DataDir {
            path: path.to_path_buf(),
            lock: None,
        }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Takes the exclusive `flock` on `<dir>/lock` and records our pid in it.
    pub fn lock(&mut self) -> Result<(), DataDirError> {
        let path = self.file("lock");
        let io = |source| DataDirError::Io {
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                let mut pid = String::new();
                // Best effort: the holder wrote its pid right after locking.
                let _ = file.read_to_string(&mut pid);
                let pid = pid.trim();
                return Err(DataDirError::InUse {
                    path: self.path.clone(),
                    pid: if pid.is_empty() {
                        "?".into()
                    } else {
                        pid.into()
                    },
                });
            }
            Err(fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        file.set_len(0).map_err(io)?;
        file.write_all(format!("{}\n", std::process::id()).as_bytes())
            .map_err(io)?;
        self.lock = Some(file);
        Ok(())
    }

    /// Loads `identity.key`, creating it on first start. Never replaces an existing file.
    pub fn identity(&self) -> Result<Identity, DataDirError> {
        let (id, pending) = self.identity_or_new()?;
        write_all_atomic(&self.path, &pending)?;
        Ok(id)
    }

    /// Loads `identity.key` and `ui.token`, creating what is missing. On a first start
    /// both files are written as [`write_atomic`] would, but with one fsync of the
    /// directory for the two renames (3 flushes instead of 4): each file's bytes are on
    /// disk before its rename, and both names are when this returns, as before.
    pub fn identity_and_token(&self) -> Result<(Identity, String), DataDirError> {
        let (id, mut pending) = self.identity_or_new()?;
        let (token, more) = self.token_or_new()?;
        pending.extend(more);
        write_all_atomic(&self.path, &pending)?;
        Ok((id, token))
    }

    /// The stored identity, or a new one and the file to write for it.
    fn identity_or_new(&self) -> Result<(Identity, Vec<NewFile>), DataDirError> {
        if let Some(id) = self.read_identity()? {
            return Ok((id, Vec::new()));
        }
        let id = Identity::generate()?;
        let file = NewFile {
            path: self.file(IDENTITY_FILE),
            bytes: zeroize::Zeroizing::new(id.secret_bytes().to_vec()),
        };
        log::info!("creating a new identity in {}", file.path.display());
        Ok((id, vec![file]))
    }

    /// Loads `identity.key` without ever creating it (client subcommands); `None` when
    /// there is none.
    pub fn read_identity(&self) -> Result<Option<Identity>, DataDirError> {
        let path = self.file(IDENTITY_FILE);
        let Some(bytes) = read_secret_file(&path)? else {
            return Ok(None);
        };
        let secret: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| DataDirError::Corrupt {
                path: path.clone(),
                why: format!("expected 32 bytes, found {}", bytes.len()),
            })?;
        Ok(Some(Identity::from_secret(&secret)))
    }

    /// Writes `identity.key` back from `identity` (the node's key, in memory) if the file
    /// has disappeared while the node runs; `Ok(true)` when it did. Without this, the
    /// next start would mint a new identity and every contact would see a stranger. A
    /// file that is there is never touched, whatever it holds: replacing a key is the
    /// user's decision. (Between the check and the rename a file put there by someone
    /// else would be replaced by ours; the window is a few system calls.)
    pub fn restore_identity_if_missing(&self, identity: &Identity) -> Result<bool, DataDirError> {
        let path = self.file(IDENTITY_FILE);
        match fs::symlink_metadata(&path) {
            Ok(_) => return Ok(false),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(DataDirError::Io { path, source }),
        }
        let secret = zeroize::Zeroizing::new(identity.secret_bytes());
        write_atomic(&path, secret.as_slice(), 0o600)?;
        Ok(true)
    }

    /// The path of `identity.key`, for messages.
    pub fn identity_path(&self) -> PathBuf {
        self.file(IDENTITY_FILE)
    }

    /// Loads `ui.token` (64 lowercase hex), creating it on first start.
    pub fn ui_token(&self) -> Result<String, DataDirError> {
        let (token, pending) = self.token_or_new()?;
        write_all_atomic(&self.path, &pending)?;
        Ok(token)
    }

    /// The stored token, or a new one and the file to write for it.
    fn token_or_new(&self) -> Result<(String, Vec<NewFile>), DataDirError> {
        let path = self.file("ui.token");
        match read_secret_file(&path)? {
            Some(bytes) => {
                let text = String::from_utf8(bytes).unwrap_or_default();
                let token = text.trim();
                if !crate::hex::is_lower_hex(token, TOKEN_BYTES * 2) {
                    return Err(DataDirError::Corrupt {
                        path,
                        why: format!("expected {} lowercase hex characters", TOKEN_BYTES * 2),
                    });
                }
                Ok((token.to_string(), Vec::new()))
            }
            None => {
                let token = crate::hex::encode(&crate::rng::bytes::<TOKEN_BYTES>()?);
                let bytes = zeroize::Zeroizing::new(format!("{token}\n").into_bytes());
                Ok((token, vec![NewFile { path, bytes }]))
            }
        }
    }

    /// Reads the token without creating one (client subcommands).
    pub fn read_ui_token(&self) -> Result<Option<String>, DataDirError> {
        let path = self.file("ui.token");
        Ok(read_secret_file(&path)?
            .and_then(|b| String::from_utf8(b).ok())
            .map(|t| t.trim().to_string())
            .filter(|t| crate::hex::is_lower_hex(t, TOKEN_BYTES * 2)))
    }

    /// Writes `node.json` once the node listens: replaced whole (a reader never sees
    /// half of it), but not flushed. It says where the running node is; after a crash of
    /// the machine no node runs, and the next start writes it again, so a flush (two on
    /// every start) would buy nothing.
    pub fn write_node_info(&self, info: NodeInfo) -> Result<(), DataDirError> {
        let json = serde_json::to_vec(&info).unwrap_or_default();
        write_replace(&self.file("node.json"), &json, 0o600, false)
    }

    /// Reads `node.json`, if a node wrote one.
    pub fn node_info(&self) -> Option<NodeInfo> {
        let bytes = fs::read(self.file("node.json")).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Removes `node.json` on clean shutdown, so clients don't dial a stale port.
    pub fn remove_node_info(&self) {
        let _ = fs::remove_file(self.file("node.json"));
    }

    /// The display name saved by a `rename`, if any.
    pub fn saved_name(&self) -> Option<String> {
        let text = fs::read_to_string(self.file("name")).ok()?;
        let name = text.trim_end_matches('\n').to_string();
        crate::rules::validate_name(&name).ok()?;
        Some(name)
    }

    /// Saves the display name (rare: only on `rename`).
    pub fn save_name(&self, name: &str) -> Result<(), DataDirError> {
        write_atomic(&self.file("name"), format!("{name}\n").as_bytes(), 0o600)
    }
}

/// Files purr keeps in a data dir (and their temporary siblings, `.<name>.tmp.<pid>`).
const OWN_FILES: &[&str] = &[
    IDENTITY_FILE,
    "ui.token",
    "lock",
    "node.json",
    "name",
    "purr.db",
    "files",
    "purr.db-wal",
    "purr.db-shm",
    "purr.db-journal",
];

/// Tightens an existing data dir to 0700 (see [`DataDir::create`]); warns when it cannot.
fn tighten_mode(path: &Path, meta: &fs::Metadata) {
    use std::os::unix::fs::MetadataExt;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 == 0 {
        return;
    }
    let ours = meta.uid() == rustix::process::geteuid().as_raw();
    let only_purr_files = fs::read_dir(path).is_ok_and(|entries| {
        entries.flatten().all(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            OWN_FILES.contains(&name.as_ref()) || name.starts_with('.') && name.contains(".tmp.")
        })
    });
    let result = if !ours {
        Err("it belongs to another user".to_string())
    } else if !only_purr_files {
        Err("it holds files that are not purr's".to_string())
    } else {
        fs::set_permissions(path, fs::Permissions::from_mode(0o700)).map_err(|e| e.to_string())
    };
    match result {
        Ok(()) => log::info!(
            "data dir {} was open to other users (mode {mode:o}); now 0700",
            path.display()
        ),
        Err(why) => log::warn!(
            "data dir {} is open to other users (mode {mode:o}) and was left so ({why}); run: chmod 700 {}",
            path.display(),
            path.display()
        ),
    }
}

/// Reads a whole secret file; `None` when it does not exist. A file that is readable by
/// others is used but warned about: the user may have copied it with lax permissions.
fn read_secret_file(path: &Path) -> Result<Option<Vec<u8>>, DataDirError> {
    let io = |source| DataDirError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
    };
    let meta = file.metadata().map_err(io)?;
    if meta.permissions().mode() & 0o077 != 0 {
        log::warn!(
            "{} is readable by other users; run: chmod 600 {}",
            path.display(),
            path.display()
        );
    }
    // Secrets are tiny; refuse to slurp a huge file someone put there by mistake.
    let mut bytes = Vec::new();
    Read::by_ref(&mut file)
        .take(4096)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    Ok(Some(bytes))
}

/// A secret file to create (0600), its bytes wiped once written.
struct NewFile {
    path: PathBuf,
    bytes: zeroize::Zeroizing<Vec<u8>>,
}

/// Writes `bytes` to `path` atomically with `mode`: temp file, fsync, rename, fsync dir.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), DataDirError> {
    write_replace(path, bytes, mode, true)?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// Writes each file as [`write_atomic`] does, with one fsync of `dir` after the last
/// rename. Nothing to write: nothing done.
fn write_all_atomic(dir: &Path, files: &[NewFile]) -> Result<(), DataDirError> {
    if files.is_empty() {
        return Ok(());
    }
    for f in files {
        write_replace(&f.path, &f.bytes, 0o600, true)?;
    }
    sync_dir(dir)
}

/// Flushes `dir`'s entries (the renames into it).
fn sync_dir(dir: &Path) -> Result<(), DataDirError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| DataDirError::Io {
            path: dir.to_path_buf(),
            source,
        })
}

/// Writes `bytes` to a temp file next to `path` (with `mode`; flushed when `flush`)
/// and renames it over `path`: readers see the old file or the new one, whole.
fn write_replace(path: &Path, bytes: &[u8], mode: u32, flush: bool) -> Result<(), DataDirError> {
    let io = |source| DataDirError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        // `mode` only applies to newly created files; a leftover temp file keeps its own.
        f.set_permissions(fs::Permissions::from_mode(mode))?;
        f.write_all(bytes)?;
        if flush {
            f.sync_all()?;
        }
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn identity_round_trip_and_permissions() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DataDir::create(&tmp.path().join("d")).unwrap();
        assert_eq!(mode(dir.path()), 0o700);
        let first = dir.identity().unwrap();
        let again = dir.identity().unwrap();
        assert_eq!(first.id(), again.id());
        assert_eq!(mode(&dir.path().join("identity.key")), 0o600);
        assert_eq!(fs::read(dir.path().join("identity.key")).unwrap().len(), 32);
    }

    #[test]
    fn an_open_data_dir_is_tightened_only_when_it_holds_only_purr_files() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("d");
        fs::create_dir(&d).unwrap();
        fs::write(d.join("ui.token"), "x").unwrap();
        fs::set_permissions(&d, fs::Permissions::from_mode(0o755)).unwrap();
        DataDir::create(&d).unwrap();
        assert_eq!(mode(&d), 0o700);
        let home = tmp.path().join("home");
        fs::create_dir(&home).unwrap();
        fs::write(home.join("notes.txt"), "mine").unwrap();
        fs::set_permissions(&home, fs::Permissions::from_mode(0o755)).unwrap();
        DataDir::create(&home).unwrap();
        assert_eq!(
            mode(&home),
            0o755,
            "a directory with other files is left alone"
        );
    }

    #[test]
    fn a_file_is_not_a_data_dir() {
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join("f");
        fs::write(&f, "x").unwrap();
        for path in [f.clone(), f.join("below")] {
            let err = DataDir::create(&path).unwrap_err();
            assert!(matches!(err, DataDirError::NotADirectory(_)), "{err}");
            assert!(err.to_string().contains("not a directory"), "{err}");
        }
    }

    #[test]
    fn reading_the_identity_never_creates_it() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DataDir::existing(tmp.path());
        assert!(dir.read_identity().unwrap().is_none());
        assert!(!tmp.path().join("identity.key").exists());
        let id = DataDir::create(tmp.path()).unwrap().identity().unwrap();
        assert_eq!(dir.read_identity().unwrap().map(|i| i.id()), Some(id.id()));
    }

    #[test]
    fn a_deleted_identity_is_restored_and_an_existing_file_is_never_touched() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DataDir::create(tmp.path()).unwrap();
        let id = dir.identity().unwrap();
        let path = tmp.path().join("identity.key");
        let bytes = fs::read(&path).unwrap();
        assert!(!dir.restore_identity_if_missing(&id).unwrap());
        fs::remove_file(&path).unwrap();
        assert!(dir.restore_identity_if_missing(&id).unwrap());
        assert_eq!(fs::read(&path).unwrap(), bytes);
        assert_eq!(mode(&path), 0o600);
        // Someone else's file (here: garbage) stays as it is.
        fs::write(&path, b"not ours").unwrap();
        assert!(!dir.restore_identity_if_missing(&id).unwrap());
        assert_eq!(fs::read(&path).unwrap(), b"not ours");
    }

    #[test]
    fn corrupt_identity_is_an_error_naming_the_file_and_is_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DataDir::create(tmp.path()).unwrap();
        let path = tmp.path().join("identity.key");
        fs::write(&path, b"short").unwrap();
        let err = dir.identity().unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, DataDirError::Corrupt { .. }));
        assert!(msg.contains("identity.key"), "{msg}");
        assert_eq!(fs::read(&path).unwrap(), b"short", "never replaced");
    }

    #[test]
    fn token_created_once_0600_and_validated() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DataDir::create(tmp.path()).unwrap();
        let t = dir.ui_token().unwrap();
        assert!(crate::hex::is_lower_hex(&t, 64));
        assert_eq!(dir.ui_token().unwrap(), t);
        assert_eq!(dir.read_ui_token().unwrap(), Some(t));
        assert_eq!(mode(&tmp.path().join("ui.token")), 0o600);
        fs::write(tmp.path().join("ui.token"), "nope").unwrap();
        assert!(matches!(dir.ui_token(), Err(DataDirError::Corrupt { .. })));
    }

    #[test]
    fn identity_and_token_are_created_together_once_and_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DataDir::create(tmp.path()).unwrap();
        let (id, token) = dir.identity_and_token().unwrap();
        assert_eq!(mode(&tmp.path().join("identity.key")), 0o600);
        assert_eq!(mode(&tmp.path().join("ui.token")), 0o600);
        let (again, same) = dir.identity_and_token().unwrap();
        assert_eq!((again.id(), &same), (id.id(), &token));
        // A lost token is made again; the identity is never replaced.
        fs::remove_file(tmp.path().join("ui.token")).unwrap();
        let (kept, new_token) = dir.identity_and_token().unwrap();
        assert_eq!(kept.id(), id.id());
        assert_ne!(new_token, token);
        assert_eq!(dir.read_ui_token().unwrap(), Some(new_token));
        // No temp file is left behind.
        let names: Vec<_> = fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.contains(".tmp.")), "{names:?}");
    }

    #[test]
    fn second_lock_names_the_holder() {
        let tmp = tempfile::tempdir().unwrap();
        let mut a = DataDir::create(tmp.path()).unwrap();
        a.lock().unwrap();
        let mut b = DataDir::create(tmp.path()).unwrap();
        let err = b.lock().unwrap_err().to_string();
        assert!(
            err.contains(&format!("in use by pid {}", std::process::id())),
            "{err}"
        );
        drop(a);
        b.lock().unwrap();
    }

    #[test]
    fn node_info_and_name() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DataDir::create(tmp.path()).unwrap();
        assert_eq!(dir.node_info(), None);
        let info = NodeInfo { pid: 7, port: 4242 };
        dir.write_node_info(info).unwrap();
        assert_eq!(dir.node_info(), Some(info));
        assert_eq!(mode(&tmp.path().join("node.json")), 0o600);
        dir.save_name("bob 🐱").unwrap();
        assert_eq!(dir.saved_name().as_deref(), Some("bob 🐱"));
    }
}
