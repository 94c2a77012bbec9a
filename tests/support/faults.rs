//! Helpers of the fault tests (`tests/fault_*.rs`): a conversation between two nodes
//! checked on their screens and in their database files, and a data dir made
//! read-only (immutable) and writable again.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

use super::{Node, Ws};

/// A WebSocket that has said `hello` and read the answer.
pub fn hello(node: &Node) -> Ws {
    let mut ws = node.ws();
    ws.send(json!({"cmd": "hello"}));
    ws.recv_cmd("peers");
    ws
}

/// Reads events until `f` picks one (bounded by count and the socket's read timeout).
pub fn wait_event(ws: &mut Ws, what: &str, mut f: impl FnMut(&Value) -> bool) -> Value {
    for _ in 0..1000 {
        let v = ws.recv();
        if f(&v) {
            return v;
        }
    }
    panic!("no {what}");
}

/// The texts of the test conversation, in the order they are sent: A, B, A, B, A.
pub const CONVERSATION: [&str; 5] = ["a0", "b0", "a1", "b1", "a2"];

/// Sends [`CONVERSATION`] between `a` and `b` one message at a time, each waited for
/// on the other side's screen (where it shows before any commit, SPEC §7), so both
/// histories have one order. Returns the `error` events A's UI got meanwhile.
pub fn converse(a: &Node, wa: &mut Ws, b: &Node, wb: &mut Ws) -> Vec<Value> {
    let mut errors_on_a = Vec::new();
    for text in CONVERSATION {
        let to_a = text.starts_with('b');
        let (from, to, to_ws) = if to_a {
            (&mut *wb, a, &mut *wa)
        } else {
            (&mut *wa, b, &mut *wb)
        };
        from.send(json!({"cmd": "send", "to": to.id, "text": text}));
        wait_event(to_ws, text, |v| {
            if to_a && v["cmd"] == "error" {
                errors_on_a.push(v.clone());
            }
            v["cmd"] == "message" && v["message"]["text"] == text
        });
    }
    errors_on_a
}

/// [`CONVERSATION`] with the status each message should end with on one side.
pub fn expected(a_status: &str, b_status: &str) -> Vec<(String, String)> {
    CONVERSATION
        .iter()
        .map(|t| {
            let status = if t.starts_with('a') {
                a_status
            } else {
                b_status
            };
            (t.to_string(), status.to_string())
        })
        .collect()
}

/// `(text, status)` of every message with `peer`, by `seq`, as the node's API lists
/// them (which includes what is not stored yet).
pub fn history(node: &Node, peer: &str) -> Vec<(String, String)> {
    let page = node.api(&format!("messages?peer={peer}&limit=500"));
    let msgs = page.as_array().cloned().unwrap_or_default();
    let seqs: Vec<i64> = msgs.iter().filter_map(|m| m["seq"].as_i64()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "by seq: {seqs:?}");
    msgs.iter()
        .map(|m| {
            (
                m["text"].as_str().unwrap_or("").to_string(),
                m["status"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// `(text, status)` of every row of `messages` in the node's database file, by `seq`,
/// and whether every id is there once: what survives a restart. Read with a read-only
/// connection of our own (WAL: the node's writer is not disturbed).
pub fn stored(node: &Node) -> (Vec<(String, String)>, bool) {
    let db = rusqlite::Connection::open_with_flags(
        node.data_dir.join("purr.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let mut stmt = db
        .prepare("SELECT text, status FROM messages ORDER BY seq")
        .unwrap();
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<Vec<(String, String)>, _>>()
        .unwrap();
    let unique: i64 = db
        .query_row(
            "SELECT count(DISTINCT id) = count(*) FROM messages",
            [],
            |r| r.get(0),
        )
        .unwrap();
    (rows, unique == 1)
}

/// A directory and its files made immutable (`chattr +i`): no one, root included, can
/// write them, create or delete files in the directory, even through descriptors opened
/// before (ext4, xfs and btrfs check the flag on every write). Made writable again on
/// [`Immutable::release`] or drop, also when the test panics, so it can be removed.
pub struct Immutable {
    paths: Vec<PathBuf>,
}

impl Immutable {
    /// Why this test cannot run here (not root, no `chattr`, a file system without the
    /// flag), checked by doing it in a scratch dir under `parent`; `None` when it can.
    pub fn unsupported(parent: &Path) -> Option<String> {
        use std::io::Write;
        if !rustix::process::geteuid().is_root() {
            return Some("needs root for chattr +i (CAP_LINUX_IMMUTABLE)".into());
        }
        let probe = match tempfile::tempdir_in(parent) {
            Ok(p) => p,
            Err(e) => return Some(format!("no scratch dir in {}: {e}", parent.display())),
        };
        let file = probe.path().join("probe");
        let mut f = match std::fs::File::create(&file) {
            Ok(f) => f,
            Err(e) => return Some(format!("cannot create {}: {e}", file.display())),
        };
        let guard = match Immutable::set(std::slice::from_ref(&file)) {
            Ok(g) => g,
            Err(e) => return Some(e),
        };
        let refused = f.write_all(b"x").and_then(|_| f.sync_all()).is_err();
        drop(guard);
        (!refused).then(|| "the file system ignores the immutable flag on open files".into())
    }

    /// `chattr +i` on `paths` (files first, then their directory, is the caller's order).
    pub fn set(paths: &[PathBuf]) -> Result<Immutable, String> {
        let guard = Immutable {
            paths: paths.to_vec(),
        };
        let status = Command::new("chattr")
            .arg("+i")
            .args(paths)
            .status()
            .map_err(|e| format!("cannot run chattr: {e}"))?;
        if !status.success() {
            return Err(format!("chattr +i failed: {status}"));
        }
        Ok(guard)
    }

    /// The data dir of a node and every file in it but SQLite's `-shm`: that one is the
    /// WAL's shared-memory index, which SQLite uses through `mmap`, and a write to a
    /// mapped page of an immutable file is answered by the kernel with SIGBUS, which
    /// kills any SQLite program on the spot (tried: the node dies with status 135). It
    /// holds no data (SQLite rebuilds it from the WAL), and a file system that really
    /// goes read-only (ext4 after an error) does not do that.
    pub fn data_dir(dir: &Path) -> Result<Immutable, String> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| e.to_string())?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .filter(|p| !p.to_string_lossy().ends_with("-shm"))
            .collect();
        paths.sort();
        paths.push(dir.to_path_buf());
        Immutable::set(&paths)
    }

    /// Ends the fault: everything writable again.
    pub fn release(mut self) {
        self.clear();
    }

    fn clear(&mut self) {
        if self.paths.is_empty() {
            return;
        }
        let _ = Command::new("chattr").arg("-i").args(&self.paths).status();
        self.paths.clear();
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        self.clear();
    }
}
