//! The worker threads of transfers: one per transfer in progress, each owning its open
//! file, reporting to the state as `Command::File`.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, RecvTimeoutError, Sender};
use sha2::{Digest, Sha256};

use super::{chunk_len, identity_of, names, SYNC_BYTES, SYNC_EVERY, WINDOW};
use crate::bus::{Command, FileEvent, StateHandle};
use crate::peer::files::{chunk_count, Chunk, End};
use crate::peer::inner::{Inner, MsgId};

/// How long a sender waits for room in a peer's bulk lane before giving the job up
/// (the peer is gone or stuck; it asks again with `FREQ` when it is back).
const BULK_PATIENCE: Duration = Duration::from_secs(30);

/// What the state asks of a receiver worker.
#[derive(Debug)]
pub enum RecvJob {
    /// Check and write one chunk.
    Chunk(Chunk),
    /// Every chunk is held: check the root over the chunk hashes, then give the file its
    /// name in `dir` (`name`, or `name (1).ext`...).
    Complete {
        root: [u8; 32],
        dir: PathBuf,
        name: String,
    },
    /// End (after syncing what is written); `delete` removes the `.part` file.
    Stop { delete: bool },
}

/// A receiving transfer's file.
#[derive(Debug, Clone)]
pub struct RecvSpec {
    pub id: MsgId,
    /// `<data-dir>/files/<id>.part`.
    pub part: PathBuf,
    pub size: u64,
    pub chunk: u32,
    /// True on accept (check space, create and preallocate); false to resume.
    pub fresh: bool,
}

/// What the state asks of a sender worker.
#[derive(Debug)]
pub enum SendJob {
    /// Read, hash and queue these chunks into `out` (the peer's bulk lane).
    Chunks {
        indices: Vec<u64>,
        out: Sender<Inner>,
    },
    /// Queue `FEND` after the chunks.
    End { out: Sender<Inner> },
}

/// A sending transfer's source.
#[derive(Debug, Clone)]
pub struct SendSpec {
    pub id: MsgId,
    pub path: PathBuf,
    pub size: u64,
    pub mtime: i64,
    pub ino: u64,
    pub chunk: u32,
    pub root: [u8; 32],
}

fn report(state: &StateHandle, event: FileEvent) {
    state.send(Command::File(event));
}

/// Starts a receiver worker; it reports `Prepared` first.
pub fn spawn_receiver(spec: RecvSpec, state: StateHandle) -> io::Result<Sender<RecvJob>> {
    let (tx, rx) = bounded::<RecvJob>(WINDOW as usize + 4);
    crate::threads::spawn("file-recv", move || {
        let id = spec.id;
        let file = match open_part(&spec) {
            Ok(f) => {
                report(&state, FileEvent::Prepared { id, result: Ok(()) });
                f
            }
            Err(e) => {
                report(&state, FileEvent::Prepared { id, result: Err(e) });
                return;
            }
        };
        let mut w = Receiving {
            spec,
            file,
            state,
            unsynced: Vec::new(),
            unsynced_bytes: 0,
            since: None,
        };
        loop {
            let wait = w.since.map_or(Duration::from_secs(3600), |t| {
                (t + SYNC_EVERY).saturating_duration_since(Instant::now())
            });
            match rx.recv_timeout(wait) {
                Ok(RecvJob::Chunk(c)) => w.write(c),
                Ok(RecvJob::Complete { root, dir, name }) => {
                    w.sync();
                    let result = w.complete(&root, &dir, &name);
                    report(&w.state, FileEvent::Completed { id, result });
                    return;
                }
                Ok(RecvJob::Stop { delete }) => {
                    if delete {
                        let _ = std::fs::remove_file(&w.spec.part);
                    } else {
                        w.sync();
                    }
                    return;
                }
                Err(RecvTimeoutError::Timeout) => w.sync(),
                Err(RecvTimeoutError::Disconnected) => {
                    w.sync();
                    return;
                }
            }
        }
    })?;
    Ok(tx)
}

/// Creates (fresh: after checking free space, preallocated) or reopens the `.part`.
fn open_part(spec: &RecvSpec) -> Result<File, String> {
    let shown = spec.part.display();
    if !spec.fresh {
        return OpenOptions::new()
            .write(true)
            .read(true)
            .open(&spec.part)
            .map_err(|e| format!("the partial file {shown} cannot be reopened: {e}"));
    }
    let dir = spec.part.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let stat = rustix::fs::statvfs(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let free = stat.f_bavail.saturating_mul(stat.f_frsize);
    if free < spec.size.saturating_add(16 << 20) {
        return Err(format!(
            "not enough free space on the receiver's disk: {} bytes needed, {free} free",
            spec.size
        ));
    }
    let file = OpenOptions::new()
        .write(true)
        .read(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&spec.part)
        .map_err(|e| format!("{shown}: {e}"))?;
    if spec.size > 0 {
        let len = spec.size;
        if let Err(e) = rustix::fs::fallocate(&file, rustix::fs::FallocateFlags::empty(), 0, len) {
            if e == rustix::io::Errno::NOSPC {
                let _ = std::fs::remove_file(&spec.part);
                return Err("the receiver's disk is full".into());
            }
            // A file system without fallocate: a sparse file of the right length.
            file.set_len(len).map_err(|e| format!("{shown}: {e}"))?;
        }
    }
    Ok(file)
}

struct Receiving {
    spec: RecvSpec,
    file: File,
    state: StateHandle,
    unsynced: Vec<u64>,
    unsynced_bytes: u64,
    since: Option<Instant>,
}

impl Receiving {
    fn write(&mut self, c: Chunk) {
        let id = self.spec.id;
        let want = chunk_len(self.spec.size, self.spec.chunk, c.index);
        if c.data.len() != want {
            let reason = format!(
                "chunk {} has {} bytes, expected {want}",
                c.index,
                c.data.len()
            );
            return report(&self.state, FileEvent::Failed { id, reason });
        }
        if <[u8; 32]>::from(Sha256::digest(&c.data)) != c.hash {
            let reason = format!("chunk {} does not match its hash", c.index);
            return report(&self.state, FileEvent::Failed { id, reason });
        }
        let offset = c.index.saturating_mul(u64::from(self.spec.chunk));
        if let Err(e) = self.file.write_all_at(&c.data, offset) {
            let reason = format!("cannot write {}: {e}", self.spec.part.display());
            return report(&self.state, FileEvent::Failed { id, reason });
        }
        report(&self.state, FileEvent::Written { id, index: c.index });
        self.unsynced.push(c.index);
        self.unsynced_bytes += c.data.len() as u64;
        self.since.get_or_insert_with(Instant::now);
        if self.unsynced_bytes >= SYNC_BYTES {
            self.sync();
        }
    }

    /// fdatasync, then tell the state which chunks are now durable.
    fn sync(&mut self) {
        if self.unsynced.is_empty() {
            return;
        }
        let id = self.spec.id;
        if let Err(e) = self.file.sync_data() {
            let reason = format!("cannot sync {}: {e}", self.spec.part.display());
            return report(&self.state, FileEvent::Failed { id, reason });
        }
        let ranges = super::ranges::Ranges::from_ranges(
            self.unsynced.drain(..).map(|i| (i, i.saturating_add(1))),
        );
        self.unsynced_bytes = 0;
        self.since = None;
        let ranges = ranges.as_slice().to_vec();
        report(&self.state, FileEvent::Synced { id, ranges });
    }

    /// Reads the file back, checks the root, links it to its name.
    fn complete(&mut self, root: &[u8; 32], dir: &Path, name: &str) -> Result<PathBuf, String> {
        let (size, chunk) = (self.spec.size, self.spec.chunk);
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; chunk as usize];
        for index in 0..chunk_count(size, chunk) {
            let len = chunk_len(size, chunk, index);
            self.file
                .read_exact_at(&mut buf[..len], index * u64::from(chunk))
                .map_err(|e| format!("cannot read back {}: {e}", self.spec.part.display()))?;
            hasher.update(Sha256::digest(&buf[..len]));
        }
        if <[u8; 32]>::from(hasher.finalize()) != *root {
            let _ = std::fs::remove_file(&self.spec.part);
            return Err("the file received does not match the sender's root hash".into());
        }
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for n in 0..1000 {
            let path = dir.join(names::candidate(name, n));
            match std::fs::hard_link(&self.spec.part, &path) {
                Ok(()) => {
                    let _ = std::fs::remove_file(&self.spec.part);
                    if let Ok(d) = File::open(dir) {
                        let _ = d.sync_all();
                    }
                    return Ok(path);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(_) => return copy_into(&self.spec.part, &path),
            }
        }
        Err(format!("{}: 1000 files named like {name}", dir.display()))
    }
}

/// `--downloads` on another file system: copy, sync, then remove the `.part`.
fn copy_into(part: &Path, to: &Path) -> Result<PathBuf, String> {
    let err = |e: io::Error| format!("{}: {e}", to.display());
    let mut src = File::open(part).map_err(|e| format!("{}: {e}", part.display()))?;
    let mut dst = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(to)
        .map_err(err)?;
    io::copy(&mut src, &mut dst).map_err(err)?;
    dst.sync_all().map_err(err)?;
    let _ = std::fs::remove_file(part);
    Ok(to.to_path_buf())
}

/// Starts a sender worker; it opens the source at its first job.
pub fn spawn_sender(spec: SendSpec, state: StateHandle) -> io::Result<Sender<SendJob>> {
    let (tx, rx) = bounded::<SendJob>(2 * WINDOW as usize + 4);
    crate::threads::spawn("file-send", move || {
        let mut buf = Vec::new();
        while let Ok(job) = rx.recv() {
            let result = match job {
                SendJob::Chunks { indices, out } => send_chunks(&spec, &indices, &out, &mut buf),
                SendJob::End { out } => {
                    let end = Inner::FileEnd(End {
                        id: spec.id,
                        root: spec.root,
                    });
                    let _ = out.send_timeout(end, BULK_PATIENCE);
                    Ok(())
                }
            };
            if let Err(reason) = result {
                report(
                    &state,
                    FileEvent::Failed {
                        id: spec.id,
                        reason,
                    },
                );
                return;
            }
        }
    })?;
    Ok(tx)
}

/// Reads, hashes and queues chunks; `Err` ends the transfer (the source changed or
/// cannot be read), a closed or stuck lane only this job.
fn send_chunks(
    spec: &SendSpec,
    indices: &[u64],
    out: &Sender<Inner>,
    buf: &mut Vec<u8>,
) -> Result<(), String> {
    let shown = spec.path.display();
    let file = File::open(&spec.path).map_err(|e| format!("{shown}: {e}"))?;
    let meta = file.metadata().map_err(|e| format!("{shown}: {e}"))?;
    if identity_of(&meta) != (spec.size, spec.mtime, spec.ino) {
        return Err(format!("{shown} changed since it was offered"));
    }
    for &index in indices {
        let len = chunk_len(spec.size, spec.chunk, index);
        buf.resize(len, 0);
        file.read_exact_at(buf, index.saturating_mul(u64::from(spec.chunk)))
            .map_err(|e| format!("{shown}: {e}"))?;
        let chunk = Chunk {
            id: spec.id,
            index,
            hash: Sha256::digest(&buf[..]).into(),
            data: buf.clone(),
        };
        if out
            .send_timeout(Inner::FileChunk(chunk), BULK_PATIENCE)
            .is_err()
        {
            return Ok(());
        }
    }
    Ok(())
}
