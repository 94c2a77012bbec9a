//! The store's writer thread through the public API: group commit, completions only
//! after COMMIT, failed commits that the writer retries in order, shutdown that flushes
//! (and does not wait for a failing disk).
//!
//! The timing tests use an injected commit delay (the "slow disk" knob) with wide
//! margins, so they assert order (nothing before the delay ends), not speed.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use crossbeam_channel::{unbounded, Receiver};
use purr::store::{
    self, CommitFailure, Committed, Contact, Direction, MsgId, NodeId, Op, Reader, Status,
    StoreError, StoredMessage, SubmitError, Writer, WriterConfig,
};

const WAIT: Duration = Duration::from_secs(10);

fn peer() -> NodeId {
    [0xaa; 32]
}

fn contact() -> Op {
    Op::UpsertContact(Contact {
        id: peer(),
        name: "alice".into(),
        addrs: vec!["10.0.0.2:35035".parse().unwrap()],
        first_seen: 1,
        last_seen: Some(1),
        verified: false,
    })
}

fn mid(n: i64) -> MsgId {
    let mut id = [0u8; 16];
    id[8..].copy_from_slice(&n.to_be_bytes());
    MsgId(id)
}

fn message(seq: i64) -> Op {
    Op::InsertMessage(StoredMessage {
        seq,
        id: mid(seq),
        peer: peer(),
        direction: Direction::In,
        text: format!("hello {seq}"),
        ts: 1_000 + seq,
        status: Status::Received,
        read_sent: false,
    })
}

struct Store {
    dir: tempfile::TempDir,
    writer: Writer,
    reader: Reader,
    done: Receiver<Committed>,
}

fn open(config: WriterConfig) -> Store {
    let dir = tempfile::tempdir().unwrap();
    let (tx, done) = unbounded();
    let (writer, reader) = store::open(dir.path(), config, tx).unwrap();
    Store {
        dir,
        writer,
        reader,
        done,
    }
}

/// Receives completions until every token in `tokens` has been reported once.
fn completions_for(done: &Receiver<Committed>, tokens: &[u64]) -> Vec<Committed> {
    let mut waiting: HashSet<u64> = tokens.iter().copied().collect();
    let mut all = Vec::new();
    while !waiting.is_empty() {
        let c = done.recv_timeout(WAIT).expect("a completion");
        for t in &c.tokens {
            assert!(waiting.remove(t), "token {t} reported twice or unknown");
        }
        all.push(c);
    }
    all
}

#[test]
fn many_quick_ops_share_few_transactions() {
    let s = open(WriterConfig {
        commit_delay: Duration::from_millis(20),
        ..WriterConfig::default()
    });
    s.writer.submit(0, contact()).unwrap();
    for seq in 1..=300 {
        s.writer.submit(seq as u64, message(seq)).unwrap();
    }
    let tokens: Vec<u64> = (0..=300).collect();
    let batches = completions_for(&s.done, &tokens);
    assert!(batches
        .iter()
        .all(|c| c.result.is_ok() && c.rejected.is_empty()));
    // 301 ops; with a 20 ms commit they pile up behind each commit.
    assert!(batches.len() <= 30, "{} batches for 301 ops", batches.len());
    let order: Vec<u64> = batches.iter().flat_map(|c| c.tokens.clone()).collect();
    assert_eq!(order, tokens, "tokens come back in submission order");
    assert!(batches
        .iter()
        .all(|c| c.tokens.len() <= store::writer::MAX_BATCH));
    assert_eq!(s.reader.max_seq().unwrap(), 300);
}

#[test]
fn max_batch_bounds_a_transaction() {
    let s = open(WriterConfig {
        max_batch: 7,
        window: Duration::from_millis(50),
        ..WriterConfig::default()
    });
    s.writer.submit(0, contact()).unwrap();
    for seq in 1..=50 {
        s.writer.submit(seq as u64, message(seq)).unwrap();
    }
    let batches = completions_for(&s.done, &(0..=50).collect::<Vec<_>>());
    assert!(batches.iter().all(|c| c.tokens.len() <= 7));
    assert!(batches.len() >= 8);
}

#[test]
fn completion_and_visibility_come_only_after_commit() {
    let delay = Duration::from_millis(400);
    let s = open(WriterConfig {
        commit_delay: delay,
        ..WriterConfig::default()
    });
    let start = Instant::now();
    s.writer.submit(1, contact()).unwrap();
    s.writer.submit(2, message(1)).unwrap();
    // While the batch waits before COMMIT: no completion, and readers see nothing.
    assert!(s.done.recv_timeout(Duration::from_millis(150)).is_err());
    assert_eq!(s.reader.message(&mid(1)).unwrap(), None);
    assert!(s.reader.contacts().unwrap().is_empty());
    let c = s.done.recv_timeout(WAIT).unwrap();
    assert!(start.elapsed() >= delay, "completion before the commit");
    assert_eq!(c.tokens, [1, 2]);
    assert_eq!(c.result, Ok(()));
    // Once announced, it is visible.
    assert!(s.reader.message(&mid(1)).unwrap().is_some());
}

#[test]
fn failed_commit_is_reported_and_retried_by_the_writer_in_order() {
    let s = open(WriterConfig {
        busy_timeout: Duration::from_millis(50),
        retry_interval: Duration::from_millis(50),
        ..WriterConfig::default()
    });
    // Another connection holds the write lock: the writer's BEGIN IMMEDIATE times out.
    let blocker = rusqlite::Connection::open(s.dir.path().join("purr.db")).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    s.writer.submit(1, contact()).unwrap();
    let failed = s.done.recv_timeout(WAIT).unwrap();
    assert_eq!(failed.tokens, [1]);
    let err = failed.result.clone().unwrap_err();
    assert_eq!(err.kind, CommitFailure::Busy, "{err}");
    assert!(
        err.to_string().contains("locked by another program"),
        "{err}"
    );
    // Submitted after the failure was reported, and needing the contact (foreign key).
    // The caller does not resubmit anything.
    s.writer.submit(2, message(1)).unwrap();
    assert_eq!(s.reader.message(&mid(1)).unwrap(), None, "nothing stored");
    std::thread::sleep(Duration::from_millis(300));
    // The fault goes away: the contact commits first, then the message, which is not
    // refused. Until then each attempt is reported again.
    blocker.execute_batch("ROLLBACK").unwrap();
    let mut committed = Vec::new();
    let mut failures = 0;
    while committed.len() < 2 {
        let c = s.done.recv_timeout(WAIT).expect("a completion");
        match c.result {
            Ok(()) => {
                assert!(c.rejected.is_empty(), "{:?}", c.rejected);
                committed.extend(c.tokens);
            }
            Err(e) => {
                assert_eq!(e.kind, CommitFailure::Busy);
                assert!(committed.is_empty(), "a failure after a commit");
                failures += 1;
            }
        }
    }
    assert_eq!(committed, [1, 2], "committed in submission order");
    assert!(failures >= 1, "the retries while locked were reported");
    assert!(s.reader.message(&mid(1)).unwrap().is_some());
}

#[test]
fn shutdown_while_the_database_fails_gives_up_instead_of_waiting() {
    let s = open(WriterConfig {
        busy_timeout: Duration::from_millis(50),
        retry_interval: Duration::from_secs(60),
        ..WriterConfig::default()
    });
    let blocker = rusqlite::Connection::open(s.dir.path().join("purr.db")).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    s.writer.submit(1, contact()).unwrap();
    assert!(s.done.recv_timeout(WAIT).unwrap().result.is_err());
    for seq in 1..=10 {
        s.writer.submit(1 + seq as u64, message(seq)).unwrap();
    }
    let start = Instant::now();
    s.writer.shutdown();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "shutdown waited {:?} for a failing disk",
        start.elapsed()
    );
}

#[test]
fn a_refused_op_or_duplicate_does_not_fail_its_batch() {
    // Five ops, max_batch five, a long window: exactly one transaction.
    let s = open(WriterConfig {
        max_batch: 5,
        window: Duration::from_secs(5),
        ..WriterConfig::default()
    });
    let mut stranger = message(3);
    if let Op::InsertMessage(m) = &mut stranger {
        m.peer = [0xbb; 32]; // not a contact
    }
    let mut duplicate = message(1);
    if let Op::InsertMessage(m) = &mut duplicate {
        m.seq = 2; // same id, new seq: the protocol re-sent it
    }
    let ops = [contact(), message(1), duplicate, stranger, message(4)];
    for (token, op) in ops.into_iter().enumerate() {
        s.writer.submit(token as u64, op).unwrap();
    }
    let c = s.done.recv_timeout(WAIT).unwrap();
    assert_eq!(c.tokens, [0, 1, 2, 3, 4]);
    assert_eq!(c.result, Ok(()));
    assert_eq!(c.rejected.len(), 1);
    assert_eq!(c.rejected[0].token, 3);
    // An unknown peer has no contact key (NOT NULL; before v3, the FOREIGN KEY).
    assert!(
        c.rejected[0]
            .why
            .contains("NOT NULL constraint failed: messages.peer"),
        "{:?}",
        c.rejected
    );
    assert_eq!(
        c.duplicates,
        [2],
        "the re-sent message is reported as a duplicate"
    );
    let seqs: Vec<i64> = s
        .reader
        .history(&peer(), None, 50)
        .unwrap()
        .iter()
        .map(|m| m.seq)
        .collect();
    assert_eq!(seqs, [1, 4], "duplicate stored once, stranger refused");
}

#[test]
fn shutdown_commits_what_is_queued() {
    let s = open(WriterConfig {
        commit_delay: Duration::from_millis(5),
        ..WriterConfig::default()
    });
    s.writer.submit(0, contact()).unwrap();
    for seq in 1..=100 {
        s.writer.submit(seq as u64, message(seq)).unwrap();
    }
    s.writer.shutdown();
    let reported: usize = s.done.try_iter().map(|c| c.tokens.len()).sum();
    assert_eq!(reported, 101);
    assert_eq!(s.reader.max_seq().unwrap(), 100);
}

#[test]
fn a_full_queue_hands_the_op_back() {
    let s = open(WriterConfig {
        queue_len: 1,
        window: Duration::ZERO,
        commit_delay: Duration::from_millis(300),
        ..WriterConfig::default()
    });
    s.writer.try_submit(0, contact()).unwrap();
    // The writer holds at most one batch plus one queued op while it sleeps.
    let mut full = None;
    for seq in 1..=5 {
        match s.writer.try_submit(seq as u64, message(seq)) {
            Ok(()) => {}
            Err(SubmitError::Full { token, op }) => {
                full = Some((token, op));
                break;
            }
            Err(e) => panic!("{e}"),
        }
    }
    let (token, op) = full.expect("the queue filled up");
    assert_eq!(*op, message(token as i64));
}

#[test]
fn opening_a_file_that_is_not_a_database_fails_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("purr.db"), "not sqlite at all\n".repeat(64)).unwrap();
    let (tx, _rx) = unbounded();
    let err = store::open(dir.path(), WriterConfig::default(), tx).unwrap_err();
    assert!(matches!(err, StoreError::NotADatabase { .. }), "{err:?}");
    assert!(err.to_string().contains("purr.db"), "{err}");
}
