//! Tests of [`Reader`](super::Reader): paging, counts, outbox, read receipts, bad rows.

use super::*;
use crate::store::testutil::{contact, mid, msg, peer, seqs, Db};
use crate::store::Op;
use crate::store::Status;

use Direction::{In, Out};

/// Alice has messages 1..=n (alternating in/out); Bob has some in between, so paging
/// must filter by peer.
fn conversation(n: i64) -> (Db, NodeId) {
    let db = Db::new();
    let (alice, bob) = (peer(0xa), peer(0xb));
    db.apply([
        Op::UpsertContact(contact(&alice)),
        Op::UpsertContact(contact(&bob)),
    ]);
    let mut seq = 0;
    for i in 0..n {
        seq += 1;
        let (dir, status) = if i % 2 == 0 {
            (In, Status::Received)
        } else {
            (Out, Status::Pending)
        };
        db.apply([Op::InsertMessage(msg(seq, &alice, dir, status))]);
        if i % 3 == 0 {
            seq += 1;
            db.apply([Op::InsertMessage(msg(seq, &bob, In, Status::Received))]);
        }
    }
    (db, alice)
}

fn alice_seqs(reader: &Reader, alice: &NodeId) -> Vec<i64> {
    seqs(&reader.history(alice, None, MAX_PAGE).unwrap())
}

#[test]
fn empty_conversation_and_empty_database() {
    let db = Db::new();
    let r = db.reader();
    assert_eq!(r.max_seq().unwrap(), 0);
    assert!(r.history(&peer(1), None, 50).unwrap().is_empty());
    assert!(r.history(&peer(1), Some(10), 50).unwrap().is_empty());
    assert!(r.contacts().unwrap().is_empty());
    assert!(r.unread_counts().unwrap().is_empty());
    assert!(r.outbox(&peer(1)).unwrap().is_empty());
    assert!(r.unsent_reads(&peer(1)).unwrap().is_empty());
    assert_eq!(r.message(&mid(1)).unwrap(), None);
}

#[test]
fn history_pages_are_oldest_first_and_exclude_other_peers() {
    let (db, alice) = conversation(10);
    let r = db.reader();
    let all = alice_seqs(&r, &alice);
    assert_eq!(all.len(), 10);
    assert!(all.windows(2).all(|w| w[0] < w[1]), "oldest first: {all:?}");
    let page = r.history(&alice, None, 50).unwrap();
    assert!(page.iter().all(|m| m.peer == alice));
    // Fewer than limit: everything. Exactly limit: everything. Less: the newest.
    assert_eq!(seqs(&r.history(&alice, None, 11).unwrap()), all);
    assert_eq!(seqs(&r.history(&alice, None, 10).unwrap()), all);
    assert_eq!(seqs(&r.history(&alice, None, 3).unwrap()), all[7..]);
    // `before` is exclusive.
    let last = all[9];
    assert_eq!(seqs(&r.history(&alice, Some(last), 3).unwrap()), all[6..9]);
    assert_eq!(
        seqs(&r.history(&alice, Some(last + 1), 3).unwrap()),
        all[7..]
    );
    // Before the first: nothing. Just after it: only it.
    assert!(r.history(&alice, Some(all[0]), 50).unwrap().is_empty());
    assert_eq!(
        seqs(&r.history(&alice, Some(all[0] + 1), 50).unwrap()),
        [all[0]]
    );
    // Walking pages backwards visits every message once.
    let mut walked = Vec::new();
    let mut before = None;
    loop {
        let page = seqs(&r.history(&alice, before, 4).unwrap());
        let Some(&first) = page.first() else { break };
        walked.splice(0..0, page);
        before = Some(first);
    }
    assert_eq!(walked, all);
}

#[test]
fn history_limit_is_clamped() {
    let (db, alice) = conversation(MAX_PAGE as i64 + 20);
    let r = db.reader();
    assert_eq!(r.history(&alice, None, 0).unwrap().len(), 1, "0 → 1");
    assert_eq!(r.history(&alice, None, u32::MAX).unwrap().len(), 500);
    assert_eq!(r.history(&alice, None, 501).unwrap().len(), 500);
}

#[test]
fn max_seq_and_message_by_id() {
    // Seqs: alice 1, bob 2, alice 3, 4, 5 (out: the 2nd and 4th), bob 6.
    let (db, alice) = conversation(4);
    let r = db.reader();
    assert_eq!(alice_seqs(&r, &alice), [1, 3, 4, 5]);
    assert_eq!(r.max_seq().unwrap(), 6);
    assert_eq!(
        r.message(&mid(6)).unwrap().unwrap(),
        msg(6, &peer(0xb), In, Status::Received)
    );
    assert_eq!(
        r.message(&mid(5)).unwrap().unwrap(),
        msg(5, &alice, Out, Status::Pending)
    );
}

#[test]
fn unread_counts_follow_inserts_and_mark_read() {
    let (db, alice) = conversation(6); // alice in: 1st, 3rd, 5th; bob: 3 received
    let bob = peer(0xb);
    let r = db.reader();
    let counts = r.unread_counts().unwrap();
    assert_eq!(counts.get(&alice), Some(&3));
    assert_eq!(counts.get(&bob), Some(&2));
    // Mark read up to alice's 3rd message (the second incoming one).
    let incoming: Vec<i64> = r
        .history(&alice, None, 50)
        .unwrap()
        .iter()
        .filter(|m| m.direction == In)
        .map(|m| m.seq)
        .collect();
    db.apply([Op::MarkRead {
        peer: alice,
        up_to_seq: incoming[1],
    }]);
    let counts = r.unread_counts().unwrap();
    assert_eq!(counts.get(&alice), Some(&1));
    assert_eq!(counts.get(&bob), Some(&2), "other peers untouched");
    // Outgoing messages are not touched by MarkRead.
    assert_eq!(r.outbox(&alice).unwrap().len(), 3);
    db.apply([Op::MarkRead {
        peer: alice,
        up_to_seq: i64::MAX,
    }]);
    assert_eq!(r.unread_counts().unwrap().get(&alice), None);
}

#[test]
fn duplicate_id_is_stored_once() {
    let db = Db::new();
    let a = peer(0xa);
    db.apply([Op::UpsertContact(contact(&a))]);
    let first = msg(1, &a, In, Status::Received);
    let mut again = first.clone();
    again.seq = 2;
    again.text = "changed".into();
    db.apply([Op::InsertMessage(first.clone()), Op::InsertMessage(again)]);
    let r = db.reader();
    assert_eq!(r.history(&a, None, 50).unwrap(), vec![first]);
    assert_eq!(r.unread_counts().unwrap().get(&a), Some(&1));
}

#[test]
fn outbox_and_unsent_reads() {
    let db = Db::new();
    let a = peer(0xa);
    db.apply([Op::UpsertContact(contact(&a))]);
    db.apply((1..=4).map(|s| Op::InsertMessage(msg(s, &a, Out, Status::Pending))));
    db.apply((5..=8).map(|s| Op::InsertMessage(msg(s, &a, In, Status::Received))));
    let r = db.reader();
    assert_eq!(seqs(&r.outbox(&a).unwrap()), [1, 2, 3, 4]);
    db.apply([
        Op::SetStatus {
            seqs: vec![2],
            status: Status::Delivered,
        },
        Op::SetStatus {
            seqs: vec![3],
            status: Status::Read,
        },
    ]);
    assert_eq!(seqs(&r.outbox(&a).unwrap()), [1, 4]);
    // A window at a time, after a cursor.
    assert_eq!(seqs(&r.outbox_after(&a, 0, 1).unwrap()), [1]);
    assert_eq!(seqs(&r.outbox_after(&a, 1, 10).unwrap()), [4]);
    assert!(r.outbox_after(&a, 4, 10).unwrap().is_empty());
    assert!(r.unsent_reads(&a).unwrap().is_empty());
    db.apply([Op::MarkRead {
        peer: a,
        up_to_seq: 7,
    }]);
    let ids = |rows: Vec<(i64, MsgId)>| rows.into_iter().map(|(_, id)| id).collect::<Vec<_>>();
    assert_eq!(ids(r.unsent_reads(&a).unwrap()), [mid(5), mid(6), mid(7)]);
    db.apply([Op::SetReadSent {
        ids: vec![mid(5), mid(7), mid(99)],
    }]);
    assert_eq!(ids(r.unsent_reads(&a).unwrap()), [mid(6)]);
    assert!(r.message(&mid(5)).unwrap().unwrap().read_sent);
}

#[test]
fn contacts_round_trip_and_last_message_ts() {
    let db = Db::new();
    let (a, b) = (peer(0xa), peer(0xb));
    let mut ca = contact(&a);
    ca.addrs = vec![
        "10.0.0.2:1".parse().unwrap(),
        "[fe80::1]:2".parse().unwrap(),
    ];
    ca.last_seen = None;
    db.apply([
        Op::UpsertContact(ca.clone()),
        Op::UpsertContact(contact(&b)),
    ]);
    db.apply([
        Op::InsertMessage(msg(1, &a, In, Status::Received)),
        Op::InsertMessage(msg(2, &a, Out, Status::Pending)),
    ]);
    let r = db.reader();
    assert_eq!(r.contacts().unwrap(), vec![ca, contact(&b)]);
    let ts = r.last_message_ts().unwrap();
    assert_eq!(ts.get(&a), Some(&10_002));
    assert_eq!(ts.get(&b), None);
}

#[test]
fn rows_purr_never_writes_are_skipped_or_reported() {
    let db = Db::new();
    let a = peer(0xa);
    db.apply([Op::UpsertContact(contact(&a))]);
    db.apply([Op::InsertMessage(msg(1, &a, In, Status::Received))]);
    // Someone edited the file, bypassing the CHECKs.
    db.conn
        .execute_batch("PRAGMA ignore_check_constraints = ON")
        .unwrap();
    db.conn
        .execute(
            "INSERT INTO messages VALUES (2, ?1, 1, 'in', 'x', 0, 'lost', 0)",
            [mid(2).0],
        )
        .unwrap();
    db.conn
        .execute(
            "INSERT INTO contacts VALUES (9, x'01', 'short key', '{}', 0, NULL, 0)",
            [],
        )
        .unwrap();
    let r = db.reader();
    assert_eq!(seqs(&r.history(&a, None, 50).unwrap()), [1]);
    assert!(matches!(
        r.message(&mid(2)),
        Err(StoreError::BadRow {
            table: "messages",
            ..
        })
    ));
    assert_eq!(r.contacts().unwrap(), vec![contact(&a)]);
}

#[test]
fn history_within_stops_at_the_text_budget_keeping_the_newest() {
    let (db, alice) = conversation(10);
    let r = db.reader();
    let all = alice_seqs(&r, &alice);
    let within = |limit, bytes| {
        let (rows, cut) = r.history_within(&alice, None, limit, bytes).unwrap();
        (seqs(&rows), cut)
    };
    // Texts are "message N" (9 or 10 bytes): two are under 25 bytes, three reach it.
    assert_eq!(within(50, 25), (all[7..].to_vec(), true));
    // At least one row, however small the budget; a full page is not "cut".
    assert_eq!(within(50, 1), (all[9..].to_vec(), true));
    assert_eq!(within(1, 1), (all[9..].to_vec(), false));
    assert_eq!(within(50, usize::MAX), (all.clone(), false));
    // Paging on from the oldest row read gets the rest.
    let (rows, _) = r.history_within(&alice, Some(all[7]), 50, 25).unwrap();
    assert_eq!(seqs(&rows), all[4..7]);
}
