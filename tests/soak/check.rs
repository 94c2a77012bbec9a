//! The end of the soak: each node's `purr.db`, read after every node has stopped,
//! against the other nodes' databases and against what the UIs reported.
//!
//! Every soak text starts with a unique tag (`s<n>` from the driver, `f<n>` from the
//! flood), so a message stored twice under two ids (a re-send that lost its id) counts
//! as a duplicate too, not only a repeated id (which the schema's UNIQUE already
//! forbids).

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::clients::Tracker;

/// One stored message, reduced to what the checks compare.
struct Row {
    /// Index of the other node of the conversation (`u8::MAX`: not a soak node).
    peer: u8,
    out: bool,
    /// `delivered` or `read` (outgoing).
    acked: bool,
    text_hash: u64,
    tag: Option<u64>,
}

/// A node's database, loaded.
pub struct Db {
    rows: HashMap<u128, Row>,
    pub integrity: String,
}

fn open(path: &Path) -> rusqlite::Result<Connection> {
    let c = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    c.busy_timeout(Duration::from_secs(5))?;
    Ok(c)
}

/// Outgoing messages still `pending` in a (running) node's database.
pub fn pending_out(db: &Path) -> Option<u64> {
    open(db)
        .ok()?
        .query_row(
            "SELECT count(*) FROM messages WHERE direction = 'out' AND status = 'pending'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .ok()
        .map(|n| n as u64)
}

/// `s123 …` → Some(123), `f123 …` → Some(123 | top bit).
fn tag(text: &str) -> Option<u64> {
    let head = text.split(' ').next()?;
    let n: u64 = head.get(1..)?.parse().ok()?;
    match head.as_bytes()[0] {
        b's' => Some(n),
        b'f' => Some(n | 1 << 63),
        _ => None,
    }
}

fn hash(text: &str) -> u64 {
    let mut h = DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}

pub fn load(db: &Path, node_ids: &[String]) -> Result<Db, String> {
    let err = |e: rusqlite::Error| format!("{}: {e}", db.display());
    let c = open(db).map_err(err)?;
    let integrity: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(err)?;
    let index: HashMap<&str, u8> = node_ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i as u8))
        .collect();
    let mut stmt = c
        .prepare(
            "SELECT hex(m.id), lower(hex(c.id)), m.direction, m.status, m.text
             FROM messages AS m JOIN contacts AS c ON c.peer = m.peer",
        )
        .map_err(err)?;
    let mut q = stmt.query([]).map_err(err)?;
    let mut rows = HashMap::new();
    while let Some(r) = q.next().map_err(err)? {
        let id: String = r.get(0).map_err(err)?;
        let peer: String = r.get(1).map_err(err)?;
        let dir: String = r.get(2).map_err(err)?;
        let status: String = r.get(3).map_err(err)?;
        let text: String = r.get(4).map_err(err)?;
        let Ok(id) = u128::from_str_radix(&id, 16) else {
            return Err(format!("{}: bad id {id}", db.display()));
        };
        rows.insert(
            id,
            Row {
                peer: index.get(peer.as_str()).copied().unwrap_or(u8::MAX),
                out: dir == "out",
                acked: status == "delivered" || status == "read",
                text_hash: hash(&text),
                tag: tag(&text),
            },
        );
    }
    Ok(Db { rows, integrity })
}

/// The verdict over all databases.
#[derive(Default, Debug)]
pub struct Figures {
    pub out_rows: u64,
    pub out_flood: u64,
    pub delivered: u64,
    pub pending: u64,
    pub in_rows: u64,
    /// Delivered (sender's database) but not on the receiver.
    pub lost: u64,
    /// On the receiver with another text or in another conversation.
    pub corrupt: u64,
    /// Extra copies of one tag in one conversation on a receiver.
    pub duplicates: u64,
    /// A UI said `delivered`, the receiver does not have it.
    pub ui_delivered: u64,
    pub ui_lost_delivered: u64,
    /// A UI said `pending` (so it was committed), the sender does not have it.
    pub ui_sent: u64,
    pub ui_sent_flood: u64,
    pub ui_lost_sent: u64,
    /// Received but unknown to the sender: a sender killed after putting a message on
    /// the wire and before its own commit (SPEC §7 allows this; its UI never saw it).
    pub unknown_to_sender: u64,
    pub bad_integrity: Vec<String>,
}

pub fn figures(dbs: &[Db], labels: &[String], t: &Tracker) -> Figures {
    let mut f = Figures::default();
    let mut tags: HashMap<(u8, u8, u64), u32> = HashMap::new();
    for (i, db) in dbs.iter().enumerate() {
        if db.integrity != "ok" {
            f.bad_integrity
                .push(format!("{}: {}", labels[i], db.integrity));
        }
        for (id, row) in &db.rows {
            if row.out {
                f.out_rows += 1;
                f.out_flood += u64::from(row.tag.is_some_and(|t| t >> 63 == 1));
                if !row.acked {
                    f.pending += 1;
                    continue;
                }
                f.delivered += 1;
                match dbs.get(row.peer as usize).and_then(|r| r.rows.get(id)) {
                    None => f.lost += 1,
                    Some(r) if r.out || r.peer as usize != i || r.text_hash != row.text_hash => {
                        f.corrupt += 1
                    }
                    Some(_) => {}
                }
            } else {
                f.in_rows += 1;
                if let Some(tag) = row.tag {
                    *tags.entry((i as u8, row.peer, tag)).or_default() += 1;
                }
                let known = dbs
                    .get(row.peer as usize)
                    .is_some_and(|s| s.rows.get(id).is_some_and(|r| r.out));
                f.unknown_to_sender += u64::from(!known);
            }
        }
    }
    f.duplicates = tags.values().map(|&n| u64::from(n - 1)).sum();
    for (id, s) in &t.sent {
        f.ui_sent += 1;
        f.ui_sent_flood += u64::from(s.flood);
        let at_sender = dbs[s.from as usize].rows.get(id);
        if !at_sender.is_some_and(|r| r.out && r.peer == s.to) {
            f.ui_lost_sent += 1;
        }
        if t.delivered.contains(id) {
            f.ui_delivered += 1;
            let at_receiver = dbs[s.to as usize].rows.get(id);
            if !at_receiver.is_some_and(|r| !r.out && r.peer == s.from) {
                f.ui_lost_delivered += 1;
            }
        }
    }
    f
}
