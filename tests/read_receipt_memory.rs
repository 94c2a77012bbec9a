//! Regression (found by `make soak`): a READ for tens of thousands of messages (the
//! receiver opened a long unread conversation) makes the sender queue one store op per
//! id. The map that holds ops until their commit kept its peak capacity afterwards
//! (hash tables never shrink on remove), so the sender's RSS stayed up by the size of
//! that table for good: in the soak, a 100 MB table holding a handful of entries.
//! Once the ops are committed the table's memory must come back.

mod support;

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;
use serde_json::json;
use support::{eventually, free_port, Node};

/// Messages in the conversation: enough that the table of ops in flight grows to
/// ~20 MB (131,072 buckets), far above the noise of a node's RSS.
const N: i64 = 60_000;

/// Adds `N` messages A→B directly to a stopped node's database, `direction`/`status`
/// as given (A: out/delivered, B: in/received), ids `{i:032x}`.
fn fill(data_dir: &Path, peer: &str, direction: &str, status: &str) {
    let mut db = Connection::open(data_dir.join("purr.db")).expect("open purr.db");
    let tx = db.transaction().expect("transaction");
    let base: i64 = tx
        .query_row("SELECT coalesce(max(seq), 0) FROM messages", [], |r| {
            r.get(0)
        })
        .expect("max seq");
    {
        let mut ins = tx
            .prepare(
                "INSERT INTO messages (seq, id, peer, direction, text, ts, status, read_sent)
                 VALUES (?1, unhex(?2), (SELECT peer FROM contacts WHERE id = unhex(?3)),
                         ?4, 'unread note', 1700000000000, ?5, 0)",
            )
            .expect("prepare");
        for i in 0..N {
            ins.execute(rusqlite::params![
                base + 1 + i,
                format!("{i:032x}"),
                peer,
                direction,
                status
            ])
            .expect("insert");
        }
    }
    tx.commit().expect("commit");
}

fn count_read(data_dir: &Path) -> i64 {
    Connection::open_with_flags(
        data_dir.join("purr.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .and_then(|c| {
        c.query_row(
            "SELECT count(*) FROM messages WHERE direction = 'out' AND status = 'read'",
            [],
            |r| r.get(0),
        )
    })
    .unwrap_or(0)
}

#[test]
fn memory_comes_back_after_a_read_receipt_for_sixty_thousand_messages() {
    let keep = tempfile::tempdir().unwrap();
    let (a_dir, b_dir) = (keep.path().join("a"), keep.path().join("b"));
    let b_port = free_port();
    let start_b = || Node::builder().port(b_port).data_dir(&b_dir).start();
    let start_a = || {
        Node::builder()
            .data_dir(&a_dir)
            .arg("--connect")
            .arg(format!("127.0.0.1:{b_port}"))
            .start()
    };
    // First run: each becomes the other's contact (a message makes A one for B; to A,
    // B is one from the start, its address given with --connect).
    let (mut a, mut b) = (start_a(), start_b());
    let (a_id, b_id) = (a.id.clone(), b.id.clone());
    assert!(eventually(Duration::from_secs(10), || a.sees_online(&b_id)));
    a.ws()
        .send(json!({"cmd": "send", "to": b_id, "text": "hello"}));
    assert!(eventually(Duration::from_secs(10), || b
        .peers()
        .iter()
        .any(|p| p["id"] == a_id.as_str() && p["unread"] == 1)));
    assert!(a
        .stop_within(Duration::from_secs(10))
        .is_some_and(|s| s.success()));
    assert!(b
        .stop_within(Duration::from_secs(10))
        .is_some_and(|s| s.success()));
    fill(&a_dir, &b_id, "out", "delivered");
    fill(&b_dir, &a_id, "in", "received");

    let b = start_b();
    let a = start_a();
    assert!(eventually(Duration::from_secs(10), || a.sees_online(&b_id)));
    std::thread::sleep(Duration::from_secs(1));
    let before = a.rss_kib();

    // B's user opens the conversation: one READ of N ids (in chunks) to A.
    let mut ws = b.ws();
    ws.send(json!({"cmd": "read", "peer": a_id}));
    assert!(
        // N, and the first run's "hello" that B read with them.
        eventually(Duration::from_secs(120), || count_read(&a_dir) > N),
        "A stored every read receipt"
    );
    std::thread::sleep(Duration::from_secs(2));
    let after = a.rss_kib();
    eprintln!("A's RSS: {before} KiB before the READ, {after} KiB after its ops committed");
    // Measured in a debug build: +31 MB without the shrink (the 20 MB table stayed), +17 MB
    // with it. What is left is the allocator keeping the freed ops themselves (60,000 at
    // once: one op per id, see docs/SOAK.md), which this test does not judge.
    assert!(
        after < before + 24 * 1024,
        "A's RSS stayed up: {before} KiB → {after} KiB"
    );
}
