//! Issue 19, point 3: backing up `purr.db` after a clean stop lost all history (it was
//! all in `purr.db-wal`). Now a clean stop empties the WAL into `purr.db`; `purr backup
//! FILE` copies the database while the node runs; `purr restore FILE` puts it back, and
//! refuses while a node runs on the data dir.

mod support;

use std::process::Command;
use std::time::Duration;

use purr::peer::inner::{Inner, Mess, MsgId};
use support::fake_peer::FakePeer;
use support::{Node, BIN};

/// A node that has received `n` messages from a fake peer (and acknowledged them, so
/// they are committed).
fn node_with_messages(n: u8) -> Node {
    let node = Node::start();
    let mut peer = FakePeer::connect(node.addr(), [0x4b; 32], "keeper");
    for i in 0..n {
        let mess = Inner::Mess(Mess {
            id: MsgId([i; 16]),
            ts: 1_700_000_000_000,
            text: format!("keep me {i}"),
        });
        peer.send(&mess).unwrap();
    }
    let mut acked = 0;
    for _ in 0..200 {
        match peer.recv() {
            Some(Inner::Ackn(ids)) => acked += ids.len(),
            Some(_) => {}
            None => break,
        }
        if acked >= n as usize {
            break;
        }
    }
    assert_eq!(acked, n as usize, "not all messages were stored");
    node
}

fn count_messages(db: &std::path::Path) -> i64 {
    rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .and_then(|c| c.query_row("SELECT count(*) FROM messages", [], |r| r.get(0)))
        .unwrap_or(-1)
}

fn purr(args: &[&str]) -> std::process::Output {
    Command::new(BIN).args(args).output().unwrap()
}

#[test]
fn after_a_clean_stop_purr_db_alone_holds_everything() {
    let mut node = node_with_messages(20);
    let dir = node.data_dir.clone();
    assert!(node.stop_within(Duration::from_secs(10)).is_some());
    let wal = dir.join("purr.db-wal");
    let wal_len = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    assert_eq!(
        wal_len, 0,
        "the WAL still holds {wal_len} bytes after a clean stop"
    );
    // Copy purr.db alone, as a user backing up "the database" would.
    let copy = tempfile::tempdir().unwrap();
    let alone = copy.path().join("purr.db");
    std::fs::copy(dir.join("purr.db"), &alone).unwrap();
    assert_eq!(count_messages(&alone), 20);
}

#[test]
fn backup_while_running_and_restore_only_while_stopped() {
    let mut node = node_with_messages(12);
    let dir = node.data_dir.clone();
    let dir_arg = dir.to_str().unwrap();
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("purr-backup.db");
    let file_arg = file.to_str().unwrap();

    let b = purr(&["backup", "--data-dir", dir_arg, file_arg]);
    assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stderr));
    let said = String::from_utf8_lossy(&b.stdout);
    assert!(
        said.contains("backed up 12 messages and 1 contacts"),
        "{said}"
    );
    assert!(said.contains("identity.key"), "{said}");
    assert_eq!(count_messages(&file), 12);
    assert!(!out.path().join("purr-backup.db-wal").exists());
    // Never over an existing file.
    let again = purr(&["backup", "--data-dir", dir_arg, file_arg]);
    assert_eq!(again.status.code(), Some(1));

    // Refused while the node runs, naming its pid.
    let r = purr(&["restore", "--data-dir", dir_arg, file_arg]);
    assert_eq!(r.status.code(), Some(1));
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("in use by pid"), "{err}");

    // Stopped: the backup replaces the database, and a node shows what it held.
    assert!(node.stop_within(Duration::from_secs(10)).is_some());
    let fresh = tempfile::tempdir().unwrap();
    let fresh_dir = fresh.path().join("data");
    std::fs::create_dir(&fresh_dir).unwrap();
    let r = purr(&[
        "restore",
        "--data-dir",
        fresh_dir.to_str().unwrap(),
        file_arg,
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let restored = Node::builder().data_dir(&fresh_dir).start();
    let peers = restored.peers();
    assert_eq!(peers.len(), 1);
    let id = peers[0]["id"].as_str().unwrap();
    let page = restored.api(&format!("messages?peer={id}&limit=500"));
    assert_eq!(page.as_array().unwrap().len(), 12);
}
