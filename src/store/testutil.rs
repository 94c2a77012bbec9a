//! Fixtures shared by the store's unit tests: ids, contacts, messages, and a migrated
//! write connection to apply ops to without the writer thread.

use std::path::PathBuf;
use std::time::Duration;

use rusqlite::Connection;

use super::{schema, Contact, Direction, MsgId, NodeId, Op, Status, StoredMessage};

/// A peer id made from one byte.
pub fn peer(n: u8) -> NodeId {
    [n; 32]
}

/// A message id from a number.
pub fn mid(n: i64) -> MsgId {
    let mut id = [0u8; 16];
    id[8..].copy_from_slice(&n.to_be_bytes());
    MsgId(id)
}

/// A contact with defaults.
pub fn contact(id: &NodeId) -> Contact {
    Contact {
        id: *id,
        name: format!("name-{}", crate::rules::short_id(id)),
        addrs: vec!["10.0.0.1:35035".parse().expect("address")],
        first_seen: 1_000,
        last_seen: Some(2_000),
        verified: false,
    }
}

/// A message `seq` with id `mid(seq)`.
pub fn msg(seq: i64, peer: &NodeId, direction: Direction, status: Status) -> StoredMessage {
    StoredMessage {
        seq,
        id: mid(seq),
        peer: *peer,
        direction,
        text: format!("message {seq}"),
        ts: 10_000 + seq,
        status,
        read_sent: false,
    }
}

/// A migrated database in a temp dir, with the write connection.
pub struct Db {
    pub dir: tempfile::TempDir,
    pub conn: Connection,
}

impl Db {
    pub fn new() -> Db {
        let dir = tempfile::tempdir().unwrap();
        let conn =
            schema::open_writer(&dir.path().join("purr.db"), Duration::from_secs(1)).unwrap();
        Db { dir, conn }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join("purr.db")
    }

    /// Applies ops (each in autocommit) and panics on any error.
    pub fn apply(&self, ops: impl IntoIterator<Item = Op>) {
        for op in ops {
            op.apply(&self.conn).unwrap();
        }
    }

    pub fn reader(&self) -> super::Reader {
        super::Reader::open(&self.path()).unwrap()
    }
}

/// Seqs of a list of messages.
pub fn seqs(messages: &[StoredMessage]) -> Vec<i64> {
    messages.iter().map(|m| m.seq).collect()
}
