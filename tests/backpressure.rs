//! Back-pressure from the disk to the senders: while the disk is far behind (here: the
//! database locked by another program, so nothing commits), the node refuses new
//! `send`s with a clear error instead of keeping every one in memory without bound,
//! and every send it did accept is stored once the disk works again.
//!
//! Found by `make soak`: a client flooding one node's WebSocket grew its memory by
//! ~3 MB a minute, since every accepted message waits in memory for its commit.
//! A peer's `MESS`es wait the same way: past twice the limit the peer is disconnected
//! and re-sends them once it is connected again (SPEC §7).

mod support;

use std::time::Duration;

use serde_json::json;
use support::faults::hello;
use support::{eventually, Node, Ws};

use purr::peer::inner::{Inner, Mess, MsgId};
use purr::state::{MAX_UNSTORED, MAX_UNSTORED_BYTES, MAX_UNSTORED_INCOMING};
use support::fake_peer::{id_hex, FakePeer};

/// `(rows, distinct ids)` of the node's messages in `direction` (`in` or `out`).
fn message_rows(node: &Node, direction: &str) -> (usize, usize) {
    let db = rusqlite::Connection::open_with_flags(
        node.data_dir.join("purr.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let (n, d): (i64, i64) = db
        .query_row(
            "SELECT count(*), count(DISTINCT id) FROM messages WHERE direction = ?1",
            [direction],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    (n as usize, d as usize)
}

/// Messages the node sent, each id once.
fn outgoing_rows(node: &Node) -> usize {
    message_rows(node, "out").1
}

/// A connection holding the node's `purr.db` locked: nothing commits until it rolls
/// back.
fn lock_database(node: &Node) -> rusqlite::Connection {
    let blocker = rusqlite::Connection::open(node.data_dir.join("purr.db")).unwrap();
    blocker.busy_timeout(Duration::from_secs(5)).unwrap();
    blocker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    blocker
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
    let blocker = lock_database(&a);
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

/// `(rows, distinct ids)` of messages the node received.
fn incoming_rows(node: &Node) -> (usize, usize) {
    message_rows(node, "in")
}

fn numbered(i: usize) -> Inner {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&(i as u64 + 1).to_be_bytes());
    Inner::Mess(Mess {
        id: MsgId(id),
        ts: 1_700_000_000_000,
        text: format!("p{i}"),
    })
}

/// A peer that keeps sending while our disk is stuck could fill our memory: every
/// `MESS` waits for its commit. Past twice the `send` limit the node disconnects it
/// instead; the peer's messages stay pending on its side, and once the disk works its
/// re-sends are stored (each once) and acknowledged.
#[test]
fn a_peer_is_disconnected_while_our_disk_is_stuck_and_its_resends_are_stored_later() {
    const SEED: [u8; 32] = [0x4b; 32];
    let logs = tempfile::tempdir().unwrap();
    let log_path = logs.path().join("node.log");
    let node = Node::builder().stderr_log(&log_path).start();
    let peer = id_hex(SEED);
    let blocker = lock_database(&node);

    let total = MAX_UNSTORED_INCOMING + 2_000;
    let mut fake = FakePeer::connect(node.addr(), SEED, "flooder");
    // The node closes the connection part way; writes fail from then on.
    let written = (0..total)
        .take_while(|&i| fake.send(&numbered(i)).is_ok())
        .count();
    assert!(
        eventually(Duration::from_secs(30), || !node.sees_online(&peer)),
        "the peer is still online after {written} of {total} messages"
    );
    drop(fake);
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    assert!(log.contains("our disk is far behind"), "{log}");

    blocker.execute_batch("ROLLBACK").unwrap();
    drop(blocker);
    // What the node took before it disconnected is stored: up to the limit (less the
    // few other changes that were waiting too), and nothing after it.
    assert!(
        eventually(Duration::from_secs(60), || incoming_rows(&node).0 + 100
            >= MAX_UNSTORED_INCOMING),
        "stored {:?} of the ~{MAX_UNSTORED_INCOMING} taken",
        incoming_rows(&node)
    );
    std::thread::sleep(Duration::from_secs(2));
    let (taken, _) = incoming_rows(&node);
    assert!(
        taken <= MAX_UNSTORED_INCOMING,
        "took {taken} before disconnecting (limit {MAX_UNSTORED_INCOMING})"
    );

    // Connected again, the peer re-sends everything it has no ACKN for (here: all).
    let mut again = FakePeer::connect(node.addr(), SEED, "flooder");
    for i in 0..total {
        again.send(&numbered(i)).unwrap();
    }
    let last = match numbered(total - 1) {
        Inner::Mess(m) => m.id,
        _ => unreachable!(),
    };
    let mut acked = std::collections::HashSet::new();
    for _ in 0..total {
        match again.recv() {
            Some(Inner::Ackn(ids)) => {
                let done = ids.contains(&last);
                acked.extend(ids);
                if done {
                    break;
                }
            }
            Some(_) => {}
            None => panic!(
                "no ACKN for the last message ({} acknowledged)",
                acked.len()
            ),
        }
    }
    assert!(
        eventually(Duration::from_secs(10), || incoming_rows(&node)
            == (total, total)),
        "stored (rows, ids): {:?} of {total}",
        incoming_rows(&node)
    );
    assert_eq!(
        acked.len(),
        total,
        "every message acknowledged, the re-sent ones again"
    );
}
