//! A transfer's chunk hashes on disk: `<data-dir>/files/<id>.hashes`, 32 bytes a chunk
//! at `index × 32`, written by the transfer's worker as each chunk is hashed anyway
//! (the sender reading it, the receiver checking it).
//!
//! The root a transfer ends with is SHA-256 over the chunk hashes in order, so with
//! this file neither side reads the whole file a second time for it: the sender no
//! longer hashes the file before offering it (a 30 GB file took minutes before its
//! first byte), and the receiver no longer reads the file back at the end. The file
//! survives a restart with the transfer: a receiver syncs it with the `.part` before
//! the chunks count as held. An entry still all zeros was never written (a chunk held
//! from before this file existed, or lost in a power cut on the sender): the root then
//! asks for that chunk's hash from the data itself. Memory: one 64 KiB buffer.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Bytes of one entry.
const ENTRY: u64 = 32;
/// Entries read at a time when computing the root.
const BATCH: usize = 2048;

/// The hash file of one transfer.
#[derive(Debug)]
pub struct Hashes {
    file: File,
    count: u64,
    path: PathBuf,
}

impl Hashes {
    /// Opens (creating it if missing) the hash file of a transfer of `count` chunks;
    /// `fresh` starts it empty.
    pub fn open(path: &Path, count: u64, fresh: bool) -> io::Result<Hashes> {
        if let Some(dir) = path.parent() {
            // A node that only ever sent by path has no files folder yet.
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(fresh)
            .mode(0o600)
            .open(path)?;
        let len = count.saturating_mul(ENTRY);
        if file.metadata()?.len() != len {
            file.set_len(len)?;
        }
        Ok(Hashes {
            file,
            count,
            path: path.to_path_buf(),
        })
    }

    /// Records chunk `index`'s hash (not yet synced).
    pub fn put(&self, index: u64, hash: &[u8; 32]) -> io::Result<()> {
        if index >= self.count {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("chunk {index} of {}", self.count),
            ));
        }
        self.file.write_all_at(hash, index * ENTRY)
    }

    /// fdatasync: what was put is on disk.
    pub fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    /// SHA-256 over every chunk hash in order; `missing(index)` gives the hash of a
    /// chunk whose entry was never written (it reads that chunk).
    pub fn root(
        &self,
        mut missing: impl FnMut(u64) -> io::Result<[u8; 32]>,
    ) -> io::Result<[u8; 32]> {
        let mut root = Sha256::new();
        let mut buf = vec![0u8; BATCH * ENTRY as usize];
        let mut index = 0;
        while index < self.count {
            let n = (self.count - index).min(BATCH as u64) as usize;
            let bytes = &mut buf[..n * ENTRY as usize];
            self.file.read_exact_at(bytes, index * ENTRY)?;
            for entry in bytes.chunks_exact(ENTRY as usize) {
                if entry.iter().all(|b| *b == 0) {
                    root.update(missing(index)?);
                } else {
                    root.update(entry);
                }
                index += 1;
            }
        }
        Ok(root.finalize().into())
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// `<files dir>/<id>.hashes`.
pub fn path_for(files_dir: &Path, id: &crate::peer::inner::MsgId) -> PathBuf {
    files_dir.join(format!("{id}.hashes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(i: u64) -> [u8; 32] {
        Sha256::digest(i.to_be_bytes()).into()
    }

    fn root_of(hashes: &[[u8; 32]]) -> [u8; 32] {
        let mut r = Sha256::new();
        for x in hashes {
            r.update(x);
        }
        r.finalize().into()
    }

    #[test]
    fn the_root_is_over_the_hashes_in_order_and_asks_only_for_unwritten_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.hashes");
        // More entries than one read batch, written out of order.
        let count = BATCH as u64 * 2 + 3;
        let hs = Hashes::open(&path, count, true).unwrap();
        for i in (0..count).rev().filter(|i| i % 1000 != 7) {
            hs.put(i, &h(i)).unwrap();
        }
        hs.sync().unwrap();
        let all: Vec<[u8; 32]> = (0..count).map(h).collect();
        let mut asked = Vec::new();
        let root = hs
            .root(|i| {
                asked.push(i);
                Ok(h(i))
            })
            .unwrap();
        assert_eq!(root, root_of(&all));
        assert_eq!(asked, vec![7, 1007, 2007, 3007, 4007]);
        assert!(hs.put(count, &h(0)).is_err());

        // Reopened (a restart): what was written is still there.
        drop(hs);
        let again = Hashes::open(&path, count, false).unwrap();
        let mut asked = 0;
        let root = again
            .root(|i| {
                asked += 1;
                Ok(h(i))
            })
            .unwrap();
        assert_eq!((root, asked), (root_of(&all), 5));
        // Fresh: nothing is known.
        let fresh = Hashes::open(&path, count, true).unwrap();
        let mut asked = 0;
        fresh
            .root(|i| {
                asked += 1;
                Ok(h(i))
            })
            .unwrap();
        assert_eq!(asked, count);
    }
}
