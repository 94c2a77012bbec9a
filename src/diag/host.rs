//! The data dir as `purr doctor` sees it: there, writable, the free space of its disk,
//! the size of `purr.db` and its WAL. Read-only: nothing is created (a client must not
//! create anything in a data dir, so writability is asked of `access(2)`, which also
//! answers `EROFS` for a read-only mount).

use std::path::Path;

use rustix::fs::Access;

use super::HostFacts;

/// What the disk holding `dir` tells.
pub fn facts(dir: &Path) -> HostFacts {
    let exists = dir.is_dir();
    let size = |name: &str| std::fs::metadata(dir.join(name)).ok().map(|m| m.len());
    HostFacts {
        data_dir: dir.display().to_string(),
        exists,
        writable: exists && rustix::fs::access(dir, Access::WRITE_OK | Access::EXEC_OK).is_ok(),
        free_bytes: rustix::fs::statvfs(dir)
            .ok()
            .map(|s| s.f_bavail.saturating_mul(s.f_frsize)),
        db_bytes: size("purr.db"),
        wal_bytes: size("purr.db-wal"),
        outbox: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_dir_is_writable_with_free_space_and_no_database() {
        let tmp = tempfile::tempdir().unwrap();
        let f = facts(tmp.path());
        assert!(f.exists && f.writable, "{f:?}");
        assert!(f.free_bytes.is_some_and(|b| b > 0), "{f:?}");
        assert_eq!(f.db_bytes, None);
        std::fs::write(tmp.path().join("purr.db"), [0u8; 100]).unwrap();
        assert_eq!(facts(tmp.path()).db_bytes, Some(100));
        let missing = facts(&tmp.path().join("nope"));
        assert!(!missing.exists && !missing.writable);
    }
}
