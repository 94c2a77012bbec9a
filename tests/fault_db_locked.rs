//! Another program holds `purr.db`'s write lock under a running node (a backup tool, a
//! `sqlite3` shell left in a transaction): the user is told, the node keeps running and
//! messaging, and once the lock is released every message is stored once, in order,
//! with the statuses the peers reported meanwhile.
//!
//! The lock is real: this test opens the node's database with SQLite and holds
//! `BEGIN EXCLUSIVE` (in WAL mode: the write lock; readers go on) for longer than the
//! writer's busy timeout, while messages go both ways and the user reads them.

mod support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{eventually, Node, Ws};

/// Longer than the writer's busy timeout (5 s), so its commit fails and is retried.
const HOLD: Duration = Duration::from_secs(7);

fn hello(node: &Node) -> Ws {
    let mut ws = node.ws();
    ws.send(json!({"cmd": "hello"}));
    ws.recv_cmd("peers");
    ws
}

/// Reads events until `f` picks one (bounded by count and the socket's read timeout).
fn wait_event(ws: &mut Ws, what: &str, mut f: impl FnMut(&Value) -> bool) -> Value {
    for _ in 0..1000 {
        let v = ws.recv();
        if f(&v) {
            return v;
        }
    }
    panic!("no {what}");
}

/// `(text, status)` of every message with `peer`, by `seq`, as the node's API lists them.
fn history(node: &Node, peer: &str) -> Vec<(String, String)> {
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
/// and whether every id is there once: what survives a restart.
fn stored(node: &Node) -> (Vec<(String, String)>, bool) {
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

fn expected(a_status: &str, b_status: &str) -> Vec<(String, String)> {
    ["a0", "b0", "a1", "b1", "a2"]
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

#[test]
fn a_database_locked_by_another_program_delays_durability_but_loses_nothing() {
    let b = Node::start();
    let mut a = Node::builder()
        .arg("--connect")
        .arg(format!("127.0.0.1:{}", b.port))
        .start();
    assert!(eventually(Duration::from_secs(5), || a.sees_online(&b.id)
        && b.sees_online(&a.id)));
    let mut wa = hello(&a);
    let mut wb = hello(&b);

    let blocker = rusqlite::Connection::open(a.data_dir.join("purr.db")).unwrap();
    blocker.busy_timeout(Duration::from_secs(5)).unwrap();
    blocker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let locked = Instant::now();

    // Both ways, one at a time so both histories have one order; then A's user reads.
    for text in ["a0", "b0", "a1", "b1", "a2"] {
        let (from, to, to_ws) = if text.starts_with('a') {
            (&mut wa, &b, &mut wb)
        } else {
            (&mut wb, &a, &mut wa)
        };
        from.send(json!({"cmd": "send", "to": to.id, "text": text}));
        // On the other screen at once: no commit stands in the way (SPEC §7).
        wait_event(to_ws, text, |v| {
            v["cmd"] == "message" && v["message"]["text"] == text
        });
    }
    wa.send(json!({"cmd": "read", "peer": b.id}));

    // A clear error on A's UI once the writer has given up waiting for the lock.
    let e = wait_event(&mut wa, "an error event", |v| v["cmd"] == "error");
    let text = e["error"].as_str().unwrap_or("");
    assert!(text.contains("locked by another program"), "{e}");
    assert!(
        locked.elapsed() < HOLD,
        "the error came only after the release"
    );
    // A is alive and answers, and its history already shows everything.
    wa.send(json!({"cmd": "hello"}));
    wait_event(&mut wa, "me", |v| v["cmd"] == "me");
    assert_eq!(history(&a, &b.id).len(), 5);
    let (on_disk, _) = stored(&a);
    assert!(
        on_disk.is_empty(),
        "nothing of A's is stored yet: {on_disk:?}"
    );

    std::thread::sleep(HOLD.saturating_sub(locked.elapsed()));
    blocker.execute_batch("ROLLBACK").unwrap();
    drop(blocker);

    // Everything stored once, in send order, with the receipts that came meanwhile:
    // B acknowledged A's messages while A could not store them, and A's READ goes out
    // once A's `read` is stored.
    let want_a = expected("delivered", "read");
    let want_b = expected("received", "read");
    let done = eventually(Duration::from_secs(15), || {
        stored(&a) == (want_a.clone(), true) && stored(&b) == (want_b.clone(), true)
    });
    assert!(done, "A stored {:?}, B stored {:?}", stored(&a), stored(&b));
    assert_eq!(history(&a, &b.id), want_a);
    assert_eq!(history(&b, &a.id), want_b);

    assert!(a
        .stop_within(Duration::from_secs(10))
        .is_some_and(|s| s.success()));
    // The harness writes the log once the process has exited.
    let log = || std::fs::read_to_string(a.log_path()).unwrap_or_default();
    assert!(
        eventually(Duration::from_secs(5), || log()
            .contains("locked by another program")),
        "log:\n{}",
        log()
    );
}
