//! Back-pressure from the disk to the senders: while the disk is far behind (here: the
//! database locked by another program, so nothing commits), the node refuses new
//! `send`s with a clear error instead of keeping every one in memory without bound,
//! and every send it did accept is stored once the disk works again.
//!
//! Found by `make soak`: a client flooding one node's WebSocket grew its memory by
//! ~3 MB a minute, since every accepted message waits in memory for its commit.

mod support;

use std::time::Duration;

use serde_json::json;
use support::faults::hello;
use support::{eventually, Node, Ws};

use purr::state::{MAX_UNSTORED, MAX_UNSTORED_BYTES};

fn outgoing_rows(node: &Node) -> usize {
    let db = rusqlite::Connection::open_with_flags(
        node.data_dir.join("purr.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let n: i64 = db
        .query_row(
            "SELECT count(DISTINCT id) FROM messages WHERE direction = 'out'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    n as usize
}

/// Node A with B as its contact, then gone: A's messages to it wait in the outbox, so
/// the only events A's UI gets are errors. Returns A, B's id, A's UI and a connection
/// holding `purr.db` locked (so nothing commits until it rolls back).
fn sender_with_a_locked_disk() -> (Node, String, Ws, rusqlite::Connection) {
    let (a, b_id) = {
        let (a, b) = support::pair();
        (a, b.id.clone())
    };
    let wa = hello(&a);
    let blocker = rusqlite::Connection::open(a.data_dir.join("purr.db")).unwrap();
    blocker.busy_timeout(Duration::from_secs(5)).unwrap();
    blocker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    (a, b_id, wa, blocker)
}

/// Sends each text to `to`, then counts the `send` errors, each of which must say
/// `why`. A marker after the flood (`hello`) tells when every send was handled.
fn refusals(
    wa: &mut Ws,
    to: &str,
    texts: impl ExactSizeIterator<Item = String>,
    why: &str,
) -> usize {
    let sent = texts.len();
    for text in texts {
        wa.send(json!({"cmd": "send", "to": to, "text": text}));
    }
    wa.send(json!({"cmd": "hello"}));
    let mut refused = 0;
    for _ in 0..sent + 100 {
        let v = wa.recv();
        if v["cmd"] == "me" {
            break;
        }
        if v["cmd"] == "error" && v["request"] == "send" {
            assert!(v["error"].as_str().unwrap_or("").contains(why), "{v}");
            refused += 1;
        }
    }
    refused
}

#[test]
fn sends_are_refused_while_the_disk_is_far_behind_and_nothing_accepted_is_lost() {
    let (a, b_id, mut wa, blocker) = sender_with_a_locked_disk();
    let sent = MAX_UNSTORED + 500;
    let texts = (0..sent).map(|i| format!("m{i}"));
    let refused = refusals(&mut wa, &b_id, texts, "waiting to be saved");
    assert!(refused > 0, "nothing was refused");
    // Other changes (contact updates) count too, so a few more than 500 may be refused.
    assert!(refused <= 500 + 200, "refused {refused} of {sent}");
    let accepted = sent - refused;

    blocker.execute_batch("ROLLBACK").unwrap();
    drop(blocker);
    assert!(
        eventually(Duration::from_secs(60), || outgoing_rows(&a) == accepted),
        "stored {} of {accepted} accepted",
        outgoing_rows(&a)
    );
    // And the node takes messages again (on a new socket: the old one did not read the
    // burst of `pending` events the commits released, so the node has dropped it).
    // The new socket may first get the tail of those events, so `peers` can come late.
    drop(wa);
    let mut wa = a.ws();
    wa.send(json!({"cmd": "hello"}));
    let answered = (0..2 * sent).any(|_| wa.recv()["cmd"] == "peers");
    assert!(answered, "no answer to hello");
    wa.send(json!({"cmd": "send", "to": b_id, "text": "after"}));
    assert!(eventually(Duration::from_secs(10), || outgoing_rows(&a)
        == accepted + 1));
}

/// The count alone is no bound when the texts are long: 16,384 texts of 64 KiB would be
/// 1 GiB waiting for a stalled disk. Sends are refused once 32 MiB of text waits.
#[test]
fn long_texts_are_refused_by_their_bytes_while_the_disk_is_behind() {
    let (a, b_id, mut wa, blocker) = sender_with_a_locked_disk();
    const LEN: usize = 65_000;
    let sent = 2 * MAX_UNSTORED_BYTES / LEN; // ~1,032: far under the count limit
    let texts = (0..sent).map(|i| format!("{i:06}{}", "x".repeat(LEN - 6)));
    let refused = refusals(&mut wa, &b_id, texts, "KiB of text");
    let accepted = sent - refused;
    let limit = MAX_UNSTORED_BYTES / LEN + 1;
    assert_eq!(
        accepted, limit,
        "accepted {accepted} of {sent} texts of {LEN} bytes"
    );

    blocker.execute_batch("ROLLBACK").unwrap();
    drop(blocker);
    assert!(
        eventually(Duration::from_secs(60), || outgoing_rows(&a) == accepted),
        "stored {} of {accepted} accepted",
        outgoing_rows(&a)
    );
}
