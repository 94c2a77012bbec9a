//! The data dir becomes read-only under a running node: the user is told what is wrong,
//! the node keeps running and messaging (what it cannot store stays in memory and is
//! retried), and once the data dir is writable again everything is stored once, in
//! order, with the receipts that came meanwhile.
//!
//! How the data dir is made read-only: `chattr +i` on the directory and every file in
//! it (but SQLite's `-shm` index: see `Immutable::data_dir`). That stops every writer,
//! root included, also through descriptors opened before (SQLite keeps its files open),
//! and `chattr -i` ends it. What does not work for a live
//! node (tried on this machine; docs/SECURITY.md §2.5 has the details): a read-only
//! remount (`EBUSY` while files are open for writing, also for a bind mount), `chmod`
//! (root ignores it, and even an unprivileged node keeps writing through its open
//! descriptors), `blockdev --setro` on a loop device (the kernel only warns), an ext4
//! error with `errors=remount-ro` (read-only for good: the journal is aborted, so no
//! `remount,rw` until an unmount), a device-mapper `error` table (no device-mapper in
//! this kernel). Needs root and a file system with the immutable flag; skips otherwise.

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::faults::{converse, expected, hello, history, stored, wait_event, Immutable};
use support::{eventually, Node};

/// How long the data dir stays read-only: a few of the writer's 1 s retries.
const HOLD: Duration = Duration::from_secs(3);

#[test]
fn a_read_only_data_dir_delays_durability_but_loses_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    if let Some(why) = Immutable::unsupported(tmp.path()) {
        eprintln!("SKIP: {why}");
        return;
    }
    let (mut a, b) = support::pair_with(Node::builder().data_dir(&tmp.path().join("a")));
    let mut wa = hello(&a);
    let mut wb = hello(&b);

    let read_only = Immutable::data_dir(&a.data_dir).unwrap();
    let since = Instant::now();
    let early = converse(&a, &mut wa, &b, &mut wb);
    wa.send(json!({"cmd": "read", "peer": b.id}));

    // A clear error on A's UI, naming what is read-only.
    let e = match early.into_iter().next() {
        Some(e) => e,
        None => wait_event(&mut wa, "an error event", |v| v["cmd"] == "error"),
    };
    let text = e["error"].as_str().unwrap_or("");
    assert!(text.contains("read-only"), "{e}");
    assert!(text.contains(&a.data_dir.display().to_string()), "{e}");
    eprintln!("error after {:?}: {text}", since.elapsed());
    // A is alive; its history (from memory) already shows everything; nothing stored.
    wa.send(json!({"cmd": "hello"}));
    wait_event(&mut wa, "me", |v| v["cmd"] == "me");
    assert_eq!(history(&a, &b.id).len(), 5);
    let (on_disk, _) = stored(&a);
    assert!(on_disk.is_empty(), "stored while read-only: {on_disk:?}");

    std::thread::sleep(HOLD.saturating_sub(since.elapsed()));
    assert!(stored(&a).0.is_empty(), "stored while read-only");
    read_only.release();
    let released = Instant::now();

    let want_a = expected("delivered", "read");
    let want_b = expected("received", "read");
    let done = eventually(Duration::from_secs(15), || {
        stored(&a) == (want_a.clone(), true) && stored(&b) == (want_b.clone(), true)
    });
    assert!(done, "A stored {:?}, B stored {:?}", stored(&a), stored(&b));
    eprintln!("all stored {:?} after the release", released.elapsed());
    assert_eq!(history(&a, &b.id), want_a);
    assert_eq!(history(&b, &a.id), want_b);

    assert!(a
        .stop_within(Duration::from_secs(10))
        .is_some_and(|s| s.success()));
    let log = || std::fs::read_to_string(a.log_path()).unwrap_or_default();
    assert!(
        eventually(Duration::from_secs(5), || log().contains("read-only")),
        "log:\n{}",
        log()
    );
}
