//! The worker threads of transfers: one per transfer in progress, each owning its open
//! file, reporting to the state as `Command::File`.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, RecvTimeoutError, Sender};
use sha2::{Digest, Sha256};

use super::hashes::Hashes;
use super::{chunk_len, identity_of, names, SYNC_BYTES, SYNC_EVERY, WINDOW};
use crate::bus::{BulkLane, Command, FileEvent, StateHandle};
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
    /// `<data-dir>/files/<id>.hashes` ([`Hashes`]).
    pub hashes: PathBuf,
    pub size: u64,
    pub chunk: u32,
    /// True on accept (check space, create and preallocate); false to resume.
    pub fresh: bool,
}

/// What the state asks of a sender worker.
#[derive(Debug)]
pub enum SendJob {
    /// Read, hash and queue these chunks into `out` (the peer's bulk lane).
    Chunks { indices: Vec<u64>, out: BulkLane },
    /// Queue `FEND` after the chunks.
    End { out: BulkLane },
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
    /// `<data-dir>/files/<id>.hashes` ([`Hashes`]): the root at the end is made from it.
    pub hashes: PathBuf,
}

fn report(state: &StateHandle, event: FileEvent) {
    state.send(Command::File(event));
}

/// Starts a receiver worker; it reports `Prepared` first.
pub fn spawn_receiver(spec: RecvSpec, state: StateHandle) -> io::Result<Sender<RecvJob>> {
    let (tx, rx) = bounded::<RecvJob>(WINDOW as usize + 4);
    crate::threads::spawn("file-recv", move || {
        let id = spec.id;
        let opened = open_part(&spec).and_then(|file| {
            let count = chunk_count(spec.size, spec.chunk);
            Hashes::open(&spec.hashes, count, spec.fresh)
                .map(|hashes| (file, hashes))
                .map_err(|e| format!("{}: {e}", spec.hashes.display()))
        });
        let (file, hashes) = match opened {
            Ok(opened) => {
                report(&state, FileEvent::Prepared { id, result: Ok(()) });
                opened
            }
            Err(e) => {
                report(&state, FileEvent::Prepared { id, result: Err(e) });
                return;
            }
        };
        let mut w = Receiving::new(spec, file, hashes, state);
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
                        let _ = std::fs::remove_file(w.hashes.path());
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
    hashes: Hashes,
    state: StateHandle,
    unsynced: Vec<u64>,
    unsynced_bytes: u64,
    since: Option<Instant>,
}

impl Receiving {
    /// A receiver with nothing written yet this run.
    fn new(spec: RecvSpec, file: File, hashes: Hashes, state: StateHandle) -> Receiving {
        Receiving {
            spec,
            file,
            hashes,
            state,
            unsynced: Vec::new(),
            unsynced_bytes: 0,
            since: None,
        }
    }

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
        if let Err(e) = self.hashes.put(c.index, &c.hash) {
            let reason = format!("cannot write {}: {e}", self.hashes.path().display());
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
        // Both files before the chunks count as held: a held chunk's hash is on disk.
        if let Err(e) = self.file.sync_data() {
            let reason = format!("cannot sync {}: {e}", self.spec.part.display());
            return report(&self.state, FileEvent::Failed { id, reason });
        }
        if let Err(e) = self.hashes.sync() {
            let reason = format!("cannot sync {}: {e}", self.hashes.path().display());
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

    /// Checks the root over the chunk hashes (each checked against its data as it
    /// came; a chunk held from before the hash file is read back), links the file to
    /// its name.
    fn complete(&mut self, root: &[u8; 32], dir: &Path, name: &str) -> Result<PathBuf, String> {
        let (size, chunk) = (self.spec.size, self.spec.chunk);
        let mut buf = Vec::new();
        let part = &self.file;
        let ours = self.hashes.root(|index| {
            let len = chunk_len(size, chunk, index);
            buf.resize(len, 0);
            part.read_exact_at(&mut buf, index * u64::from(chunk))?;
            Ok(Sha256::digest(&buf).into())
        });
        let ours =
            ours.map_err(|e| format!("cannot read back {}: {e}", self.spec.part.display()))?;
        if ours != *root {
            let _ = std::fs::remove_file(&self.spec.part);
            let _ = std::fs::remove_file(self.hashes.path());
            return Err("the file received does not match the sender's root hash".into());
        }
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        // The `.part` stays until the state has stored the transfer as done (it then
        // deletes it): killed in between, the node completes again and finds its own
        // earlier link here (the same inode), instead of losing the file.
        let ours = self.file.metadata().map(|m| (m.dev(), m.ino())).ok();
        for n in 0..1000 {
            let path = dir.join(names::candidate(name, n));
            match std::fs::hard_link(&self.spec.part, &path) {
                Ok(()) => {
                    if let Ok(d) = File::open(dir) {
                        let _ = d.sync_all();
                    }
                    return Ok(path);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    let there = std::fs::metadata(&path).map(|m| (m.dev(), m.ino())).ok();
                    if there.is_some() && there == ours {
                        return Ok(path);
                    }
                }
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
        let count = chunk_count(spec.size, spec.chunk);
        let hashes = Hashes::open(&spec.hashes, count, false)
            .map_err(|e| format!("{}: {e}", spec.hashes.display()));
        while let Ok(job) = rx.recv() {
            let result = hashes
                .as_ref()
                .map_err(Clone::clone)
                .and_then(|hashes| match job {
                    SendJob::Chunks { indices, out } => {
                        send_chunks(&spec, hashes, &indices, &out, &mut buf)
                    }
                    SendJob::End { out } => {
                        let root = root_of_source(&spec, hashes, &mut buf)?;
                        let end = Inner::FileEnd(End { id: spec.id, root });
                        let _ = out.send_timeout(end, BULK_PATIENCE);
                        Ok(())
                    }
                });
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
    hashes: &Hashes,
    indices: &[u64],
    out: &BulkLane,
    buf: &mut Vec<u8>,
) -> Result<(), String> {
    let file = open_source(spec)?;
    for &index in indices {
        let hash = read_chunk(spec, &file, index, buf)?;
        // Page cache only: after a power cut an entry may be missing, and the root
        // reads that chunk again (`Hashes::root`).
        hashes
            .put(index, &hash)
            .map_err(|e| format!("{}: {e}", hashes.path().display()))?;
        let chunk = Chunk {
            id: spec.id,
            index,
            hash,
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

/// The source, checked unchanged since the offer (size, mtime, inode).
fn open_source(spec: &SendSpec) -> Result<File, String> {
    let shown = spec.path.display();
    let file = File::open(&spec.path).map_err(|e| format!("{shown}: {e}"))?;
    let meta = file.metadata().map_err(|e| format!("{shown}: {e}"))?;
    if identity_of(&meta) != (spec.size, spec.mtime, spec.ino) {
        return Err(format!("{shown} changed since it was offered"));
    }
    Ok(file)
}

/// Reads chunk `index` into `buf`; its SHA-256.
fn read_chunk(
    spec: &SendSpec,
    file: &File,
    index: u64,
    buf: &mut Vec<u8>,
) -> Result<[u8; 32], String> {
    let len = chunk_len(spec.size, spec.chunk, index);
    buf.resize(len, 0);
    file.read_exact_at(buf, index.saturating_mul(u64::from(spec.chunk)))
        .map_err(|e| format!("{}: {e}", spec.path.display()))?;
    Ok(Sha256::digest(&buf[..]).into())
}

/// The root for `FEND`: over the hashes recorded as chunks went out (this run or an
/// earlier one); a chunk without one is read and hashed now.
fn root_of_source(spec: &SendSpec, hashes: &Hashes, buf: &mut Vec<u8>) -> Result<[u8; 32], String> {
    let file = open_source(spec)?;
    let mut failed = None;
    let root = hashes.root(|index| {
        read_chunk(spec, &file, index, buf).map_err(|e| {
            failed = Some(e);
            io::Error::other("source")
        })
    });
    match (root, failed) {
        (Ok(root), _) => Ok(root),
        (Err(_), Some(e)) => Err(e),
        (Err(e), None) => Err(format!("{}: {e}", hashes.path().display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A receiver of `data` with every chunk written (as `write` does) in `dir`.
    fn received(dir: &Path, data: &[u8], chunk: u32) -> Receiving {
        let spec = RecvSpec {
            id: MsgId([4; 16]),
            part: dir.join("t.part"),
            hashes: dir.join("t.hashes"),
            size: data.len() as u64,
            chunk,
            fresh: true,
        };
        let file = open_part(&spec).unwrap();
        let count = chunk_count(spec.size, chunk);
        let hashes = Hashes::open(&spec.hashes, count, true).unwrap();
        let (state, _commands) = StateHandle::channel();
        let mut w = Receiving::new(spec, file, hashes, state);
        for index in 0..count {
            let at = (index * u64::from(chunk)) as usize;
            let bytes = data[at..(at + chunk as usize).min(data.len())].to_vec();
            w.write(Chunk {
                id: w.spec.id,
                index,
                hash: Sha256::digest(&bytes).into(),
                data: bytes,
            });
        }
        w
    }

    fn root_of(data: &[u8], chunk: usize) -> [u8; 32] {
        let mut root = Sha256::new();
        for c in data.chunks(chunk) {
            root.update(Sha256::digest(c));
        }
        root.finalize().into()
    }

    #[test]
    fn completing_again_after_a_kill_finds_its_own_link_and_makes_no_copy() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let mut w = received(dir.path(), &data, 4096);
        let root = root_of(&data, 4096);
        let downloads = dir.path().join("downloads");
        let first = w.complete(&root, &downloads, "report.bin").unwrap();
        assert_eq!(std::fs::read(&first).unwrap(), data);
        // Killed before the state stored "done": the .part is still there and the
        // restarted node completes again.
        assert!(w.spec.part.exists());
        let again = w.complete(&root, &downloads, "report.bin").unwrap();
        assert_eq!(again, first);
        assert!(!downloads.join("report (1).bin").exists());
        // Someone else's file of that name is not ours.
        std::fs::remove_file(&first).unwrap();
        std::fs::write(&first, b"another file").unwrap();
        let third = w.complete(&root, &downloads, "report.bin").unwrap();
        assert_eq!(third, downloads.join("report (1).bin"));
    }

    #[test]
    fn the_root_comes_from_the_hashes_and_a_wrong_one_deletes_the_part() {
        let dir = tempfile::tempdir().unwrap();
        let data = vec![7u8; 9000];
        let mut w = received(dir.path(), &data, 4096);
        // The hashes were recorded as the chunks came: the data is not read again
        // (what is on disk now does not change the root).
        w.file.write_all_at(b"changed on disk", 0).unwrap();
        let root = root_of(&data, 4096);
        assert!(w.complete(&root, &dir.path().join("d"), "x").is_ok());
        let mut w = received(dir.path(), &data, 4096);
        let err = w
            .complete(&[0; 32], &dir.path().join("d"), "y")
            .unwrap_err();
        assert!(err.contains("root hash"), "{err}");
        assert!(!w.spec.part.exists() && !w.spec.hashes.exists());
    }
}
