//! File transfers' disk side (issue 17): everything that reads or writes a file being
//! sent or received, on threads of its own, so the state thread never does file I/O.
//!
//! ```text
//!   HTTP thread: prepare(path) ── stat (nothing read) ──▶ Source ──▶ state (offer)
//!
//!   state ──SendJob{chunks, out}──▶ sender worker ── read, hash, check source ──▶
//!                                   (one per transfer)      FCHK into the peer's bulk lane;
//!                                                           each hash into <id>.hashes
//!   state ──SendJob::End──▶ sender worker ── root over <id>.hashes ──▶ FEND
//!   state ──RecvJob::Chunk──▶ receiver worker ── hash check, pwrite at offset (and the
//!                                                 hash into <id>.hashes) ──▶
//!                             (one per transfer)    Written (credit back), fdatasync every
//!                                                   SYNC_BYTES or SYNC_EVERY ──▶ Synced
//!   state ──RecvJob::Complete──▶ receiver worker ── root over <id>.hashes, link the
//!                                                   .part to its name ──▶ Completed
//! ```
//!
//! Workers report through `Command::File` on the state's channel ([`crate::bus`]).
//! Memory is bounded by queue lengths: a receiver queue holds at most [`WINDOW`]
//! chunks, a sender reads one chunk at a time into a bulk lane of
//! [`crate::bus::BULK_QUEUE_LEN`] records.

pub mod hashes;
pub mod names;
pub mod ranges;
mod worker;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

pub use worker::{spawn_receiver, spawn_sender, RecvJob, RecvSpec, SendJob, SendSpec};

/// A receiver worker's spec.
pub fn worker_recv_spec(
    id: crate::peer::inner::MsgId,
    part: PathBuf,
    hashes: PathBuf,
    size: u64,
    chunk: u32,
    fresh: bool,
) -> RecvSpec {
    RecvSpec {
        id,
        part,
        hashes,
        size,
        chunk,
        fresh,
    }
}

/// Chunk size purr sends.
pub const CHUNK: u32 = crate::peer::files::MAX_CHUNK as u32;
/// Credit window, in chunks, a receiver grants (2 MiB of 128 KiB chunks).
pub const WINDOW: u32 = 16;
/// A receiver fdatasyncs after this many bytes written...
pub const SYNC_BYTES: u64 = 4 << 20;
/// ... or this long after the first unsynced write.
pub const SYNC_EVERY: std::time::Duration = std::time::Duration::from_secs(1);
/// Largest file a node accepts an offer for (our choice).
pub const MAX_FILE_SIZE: u64 = 64 << 30;
/// Receiving transfers at once (each holds up to [`WINDOW`] chunks in memory).
pub const MAX_RECEIVING: usize = 4;
/// The folder of `.part` files (and of received files by default) in the data dir.
pub const FILES_DIR: &str = "files";
/// The folder of the node's own copies of uploaded files, under [`FILES_DIR`]: the
/// browser cannot name a path, so `POST /api/v1/files` with a body stores the file here
/// first. Everything in it is the node's: a copy is deleted when its transfer ends for
/// good, and at start whatever no unfinished transfer sends from (`sweep_outgoing`).
/// A user's own file is never in it (an offer by path into it is refused).
pub const OUTGOING: &str = "outgoing";

/// `<data-dir>/files/outgoing`.
pub fn outgoing_dir(data_dir: &Path) -> PathBuf {
    data_dir.join(FILES_DIR).join(OUTGOING)
}

/// Whether `path` (absolute, as offered) is a file in the `outgoing` folder `outgoing`:
/// the node's own upload copy, which it deletes once the transfer is over.
pub fn is_upload_copy(outgoing: &Path, path: &Path) -> bool {
    path.parent() == Some(outgoing)
}

/// Deletes an upload copy on a short thread of its own (the state thread does no file
/// I/O). A copy that cannot be deleted now is left to the next start's sweep.
pub fn remove_upload(path: PathBuf) {
    remove_in_background(path, "the upload copy");
}

/// Deletes `path` (`what` it is, for the log) on a short thread of its own.
pub fn remove_in_background(path: PathBuf, what: &'static str) {
    let spawned =
        crate::threads::spawn("file-cleanup", move || match std::fs::remove_file(&path) {
            Ok(()) => log::info!("deleted {what} {}", path.display()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => log::warn!("cannot delete {what} {}: {e}", path.display()),
        });
    if let Err(e) = spawned {
        log::warn!("cannot start a thread to delete {what}: {e}");
    }
}

/// At start (before any upload can begin): deletes the files in `outgoing` that no
/// unfinished transfer sends from, known by path or by inode (`keep`), left by
/// transfers that ended while the node was down, by uploads cut off by a crash, or by
/// an offer the state never stored. Returns how many it deleted.
pub fn sweep_outgoing(outgoing: &Path, keep: &[(PathBuf, u64)]) -> usize {
    let Ok(entries) = std::fs::read_dir(outgoing) else {
        return 0;
    };
    let mut deleted = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        let kept = keep
            .iter()
            .any(|(p, ino)| *p == path || (*ino != 0 && *ino == meta.ino()));
        if kept || !meta.is_file() {
            continue;
        }
        match std::fs::remove_file(&path) {
            Ok(()) => deleted += 1,
            Err(e) => log::warn!("cannot delete the leftover upload {}: {e}", path.display()),
        }
    }
    if deleted > 0 {
        log::info!(
            "deleted {deleted} leftover upload copies in {}",
            outgoing.display()
        );
    }
    deleted
}

/// A file the user offers, as read once before the offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// Absolute path.
    pub path: PathBuf,
    /// Its last component, as offered.
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// Modification time (ns) and inode: checked again before every read.
    pub mtime: i64,
    /// See `mtime`.
    pub ino: u64,
    /// Media type guessed from the name.
    pub mime: String,
}

/// Why a file cannot be offered or read.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The path cannot be opened or read; tell the user which and why.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// Not a regular file.
    #[error("{0}: not a regular file")]
    NotAFile(String),
    /// The file changed (size, mtime or inode) since it was offered: the offer is void.
    #[error("{0} changed since it was offered")]
    Changed(String),
}

/// The (size, mtime ns, inode) of a file, which an offer keeps.
pub fn identity_of(meta: &std::fs::Metadata) -> (u64, i64, u64) {
    let mtime = meta.mtime().saturating_mul(1_000_000_000) + meta.mtime_nsec();
    (meta.len(), mtime, meta.ino())
}

/// `path`'s identity (size, mtime, inode) and name, for an offer. Nothing is read: the
/// sender worker hashes each chunk as it sends it (`hashes`), so the first byte leaves
/// at once whatever the size. Blocking (a stat): never on the state thread.
pub fn prepare(path: &Path) -> Result<Source, SourceError> {
    let shown = path.display().to_string();
    let io = |source| SourceError::Io {
        path: shown.clone(),
        source,
    };
    let path = std::path::absolute(path).map_err(io)?;
    let file = std::fs::File::open(&path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(SourceError::NotAFile(shown));
    }
    let (size, mtime, ino) = identity_of(&meta);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    Ok(Source {
        mime: mime_of(&name).into(),
        path,
        name,
        size,
        mtime,
        ino,
    })
}

/// Bytes of chunk `index` of a file of `size` bytes.
pub fn chunk_len(size: u64, chunk: u32, index: u64) -> usize {
    let start = index.saturating_mul(u64::from(chunk));
    size.saturating_sub(start).min(u64::from(chunk)) as usize
}

/// A media type from the extension (a hint for the receiving UI; the local API decides
/// what it serves inline from the bytes, [`image_type`]).
pub fn mime_of(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("txt") => "text/plain",
        Some("pdf") => "application/pdf",
        _ => "application/octet-stream",
    }
}

/// The image type of these first bytes, by magic number (PNG, JPEG, GIF, WebP), or
/// `None`: only such files are served inline.
pub fn image_type(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if head.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("image/jpeg")
    } else if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepare_reads_nothing_so_a_big_file_is_offered_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.bin");
        // 16 GiB, sparse: hashing it (as prepare once did) takes a minute here.
        let f = std::fs::File::create(&path).unwrap();
        f.set_len(16 << 30).unwrap();
        let started = std::time::Instant::now();
        let s = prepare(&path).unwrap();
        let took = started.elapsed();
        assert!(took < std::time::Duration::from_secs(2), "{took:?}");
        assert_eq!((s.size, s.name.as_str()), (16 << 30, "big.bin"));
        assert!(matches!(prepare(dir.path()), Err(SourceError::NotAFile(_))));
    }

    #[test]
    fn the_sweep_keeps_what_unfinished_transfers_send_from() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c) = (
            dir.path().join("aa"),
            dir.path().join("bb"),
            dir.path().join("cc"),
        );
        for p in [&a, &b, &c] {
            std::fs::write(p, b"x").unwrap();
        }
        let ino = std::fs::metadata(&c).unwrap().ino();
        let keep = [(a.clone(), 0), (PathBuf::from("/elsewhere/link"), ino)];
        assert_eq!(sweep_outgoing(dir.path(), &keep), 1);
        assert!(a.exists() && !b.exists() && c.exists());
        assert_eq!(sweep_outgoing(&dir.path().join("none"), &[]), 0);
        assert!(is_upload_copy(dir.path(), &a));
        assert!(!is_upload_copy(dir.path(), &dir.path().join("x").join("y")));
    }

    #[test]
    fn images_are_known_by_their_bytes() {
        assert_eq!(image_type(b"\x89PNG\r\n\x1a\nxxxx"), Some("image/png"));
        assert_eq!(image_type(b"<svg"), None);
        assert_eq!(image_type(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
    }
}
