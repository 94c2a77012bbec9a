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

use serde_json::json;
use support::eventually;
use support::faults::{converse, expected, hello, history, stored, wait_event};

/// Longer than the writer's busy timeout (5 s), so its commit fails and is retried.
const HOLD: Duration = Duration::from_secs(7);

#[test]
fn a_database_locked_by_another_program_delays_durability_but_loses_nothing() {
    let (mut a, b) = support::pair();
    let mut wa = hello(&a);
    let mut wb = hello(&b);

    let blocker = rusqlite::Connection::open(a.data_dir.join("purr.db")).unwrap();
    blocker.busy_timeout(Duration::from_secs(5)).unwrap();
    blocker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let locked = Instant::now();

    // Both ways, one at a time so both histories have one order; then A's user reads.
    let early = converse(&a, &mut wa, &b, &mut wb);
    wa.send(json!({"cmd": "read", "peer": b.id}));

    // A clear error on A's UI once the writer has given up waiting for the lock.
    let e = match early.into_iter().next() {
        Some(e) => e,
        None => wait_event(&mut wa, "an error event", |v| v["cmd"] == "error"),
    };
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
