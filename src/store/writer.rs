//! The writer thread: the only write connection, and group commit.
//!
//! ```text
//!   ┌─▶ idle ── recv (blocks) ──▶ collecting: try for more ops until max_batch ops or
//!   │                             `window` after the first one (queue closed: stop early)
//!   │                                   │
//!   │            BEGIN IMMEDIATE; op.apply() for each (content errors → rejected, the
//!   │            rest go on); [commit_delay]; COMMIT ── fsync (synchronous=FULL)
//!   │                                   │
//!   └──── done.send(Committed { tokens, result, rejected }) ◀── after COMMIT returned
//! ```
//!
//! One transaction per batch is what makes durability cheap (SPEC §8): one fsync covers
//! up to `max_batch` ops, and ops queue up while the previous fsync runs. A failed batch
//! (disk full, lock held too long) is rolled back whole, reported with its tokens, and
//! the thread goes on; the caller still has the ops and resubmits them.
//!
//! The thread stops when the [`Writer`] is dropped or shut down, after committing every
//! op already queued.

use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender, TrySendError};
use rusqlite::{Connection, ErrorCode, TransactionBehavior};

use super::{schema, CommitError, Op, StoreError};

/// Most ops in one transaction: bounds the time a batch holds the write lock.
pub const MAX_BATCH: usize = 256;
/// How long the writer waits for more ops after the first. Small next to an fsync
/// (5–50 ms on an SD card, SPEC §7), so it costs little latency and saves fsyncs.
pub const BATCH_WINDOW: Duration = Duration::from_millis(2);
/// Ops that may wait for the writer before [`Writer::try_submit`] reports `Full`.
pub const QUEUE_LEN: usize = 4096;
/// How long SQLite retries when another connection holds the lock.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Tuning of the writer; `Default` is what a node uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriterConfig {
    /// Most ops per transaction (at least 1).
    pub max_batch: usize,
    /// How long to wait for more ops after the first of a batch; zero takes only what
    /// is already queued.
    pub window: Duration,
    /// Capacity of the op queue.
    pub queue_len: usize,
    /// SQLite busy timeout for the write connection.
    pub busy_timeout: Duration,
    /// Sleep before each COMMIT: a "slow disk" for tests and benchmarks. Zero in a node.
    pub commit_delay: Duration,
    /// `synchronous=OFF` instead of `FULL`: commits are not fsynced. Benchmarks only,
    /// to measure what durability costs; a node never runs like this.
    pub no_fsync: bool,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            max_batch: MAX_BATCH,
            window: BATCH_WINDOW,
            queue_len: QUEUE_LEN,
            busy_timeout: BUSY_TIMEOUT,
            commit_delay: Duration::ZERO,
            no_fsync: false,
        }
    }
}

/// The outcome of one batch, sent once its transaction has ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The tokens of every op of the batch, in submission order.
    pub tokens: Vec<u64>,
    /// `Ok`: the batch is durable. `Err`: nothing of it was stored; resubmit the ops.
    pub result: Result<(), CommitError>,
    /// Ops SQLite refused for their content (their tokens are also in `tokens`). The
    /// rest of the batch committed; resubmitting these would fail again.
    pub rejected: Vec<Rejected>,
}

/// An op that changed nothing because SQLite refused its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// Its token.
    pub token: u64,
    /// SQLite's reason (e.g. `FOREIGN KEY constraint failed`).
    pub why: String,
}

/// Why [`Writer::try_submit`] did not queue an op; the op comes back to the caller
/// (boxed, so the common `Ok` stays small).
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The queue is full (the disk is slow): keep the op and submit it again later.
    #[error("the database writer's queue is full")]
    Full { token: u64, op: Box<Op> },
    /// The writer has stopped (shutdown): the op cannot be stored.
    #[error("the database writer has stopped")]
    Gone { token: u64, op: Box<Op> },
}

/// The handle of the writer thread; owned by the state thread.
#[derive(Debug)]
pub struct Writer {
    tx: Option<Sender<(u64, Op)>>,
    join: Option<JoinHandle<()>>,
}

impl Writer {
    /// Opens (creating and migrating) the database at `path` and starts the thread.
    /// Opening errors (not a database, too new) are returned here, before any thread.
    /// `done` should be unbounded or drained promptly: the writer waits on a full one,
    /// and dropping the [`Writer`] waits for the writer.
    pub fn spawn(
        path: &Path,
        config: WriterConfig,
        done: Sender<Committed>,
    ) -> Result<Writer, StoreError> {
        let conn = schema::open_writer(path, config.busy_timeout)?;
        if config.no_fsync {
            log::warn!("benchmark mode: database commits are NOT fsynced");
            conn.pragma_update(None, "synchronous", "OFF")
                .map_err(|e| StoreError::sqlite(path, e))?;
        }
        let (tx, rx) = bounded(config.queue_len.max(1));
        let worker = Worker {
            conn,
            path: path.to_path_buf(),
            rx,
            done,
            config,
        };
        let join = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || worker.run())
            .map_err(StoreError::Spawn)?;
        Ok(Writer {
            tx: Some(tx),
            join: Some(join),
        })
    }

    /// Queues an op without blocking. The state thread uses this: it must never wait
    /// for the disk, so on `Full` it keeps the op and tries again later.
    pub fn try_submit(&self, token: u64, op: Op) -> Result<(), SubmitError> {
        let Some(tx) = &self.tx else {
            return Err(SubmitError::Gone {
                token,
                op: Box::new(op),
            });
        };
        tx.try_send((token, op)).map_err(|e| match e {
            TrySendError::Full((token, op)) => SubmitError::Full {
                token,
                op: Box::new(op),
            },
            TrySendError::Disconnected((token, op)) => SubmitError::Gone {
                token,
                op: Box::new(op),
            },
        })
    }

    /// Queues an op, waiting while the queue is full (tests, tools; not the state thread).
    pub fn submit(&self, token: u64, op: Op) -> Result<(), StoreError> {
        let tx = self.tx.as_ref().ok_or(StoreError::WriterGone)?;
        tx.send((token, op)).map_err(|_| StoreError::WriterGone)
    }

    /// Stops the thread once every queued op is committed (and its `Committed` sent).
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        // Closing the queue is the stop signal: the thread drains it first.
        self.tx = None;
        if let Some(join) = self.join.take() {
            if join.join().is_err() {
                log::error!("the database writer thread panicked");
            }
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The thread's side: the connection and the channels.
struct Worker {
    conn: Connection,
    path: PathBuf,
    rx: Receiver<(u64, Op)>,
    done: Sender<Committed>,
    config: WriterConfig,
}

impl Worker {
    fn run(mut self) {
        while let Some(batch) = self.collect() {
            let committed = self.commit(batch);
            if self.done.send(committed).is_err() {
                // The state thread is gone (shutdown); the data is stored all the same.
                log::debug!("no one is waiting for store completions");
            }
        }
        log::debug!("store writer stopped");
    }

    /// Blocks for the first op, then gathers more until the batch is full or the window
    /// has passed. `None` when the queue is closed and empty.
    fn collect(&self) -> Option<Vec<(u64, Op)>> {
        let first = self.rx.recv().ok()?;
        let max = self.config.max_batch.max(1);
        let mut batch = Vec::with_capacity(max.min(64));
        batch.push(first);
        let deadline = Instant::now() + self.config.window;
        while batch.len() < max {
            match self.rx.recv_deadline(deadline) {
                Ok(op) => batch.push(op),
                Err(RecvTimeoutError::Timeout) => break,
                // Closed: commit what we have; the next collect() returns None.
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        Some(batch)
    }

    /// Runs one batch in one transaction and says how it went.
    fn commit(&mut self, batch: Vec<(u64, Op)>) -> Committed {
        let tokens = batch.iter().map(|(token, _)| *token).collect();
        let start = Instant::now();
        match self.transaction(&batch) {
            Ok(rejected) => {
                log::trace!("committed {} ops in {:?}", batch.len(), start.elapsed());
                Committed {
                    tokens,
                    result: Ok(()),
                    rejected,
                }
            }
            Err(e) => {
                log::warn!(
                    "{}: a batch of {} changes did not commit: {e}",
                    self.path.display(),
                    batch.len()
                );
                Committed {
                    tokens,
                    result: Err(CommitError::from(&e)),
                    rejected: Vec::new(),
                }
            }
        }
    }

    /// BEGIN IMMEDIATE takes the write lock up front, so a lock held elsewhere fails the
    /// batch before any op runs. On any error the dropped transaction rolls back.
    fn transaction(&mut self, batch: &[(u64, Op)]) -> rusqlite::Result<Vec<Rejected>> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut rejected = Vec::new();
        for (token, op) in batch {
            match op.apply(&tx) {
                Ok(_) => {}
                Err(e) if is_content_error(&e) => {
                    // The op itself is not logged: it may hold message text.
                    log::warn!("refused a store {} op (token {token}): {e}", op.kind());
                    rejected.push(Rejected {
                        token: *token,
                        why: e.to_string(),
                    });
                }
                Err(e) => return Err(e),
            }
        }
        if !self.config.commit_delay.is_zero() {
            std::thread::sleep(self.config.commit_delay);
        }
        tx.commit()?;
        Ok(rejected)
    }
}

/// Errors about one op's values, which SQLite undoes for that statement alone (the
/// transaction stays open); anything else fails the whole batch.
fn is_content_error(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::ToSqlConversionFailure(_))
        || matches!(
            e.sqlite_error_code(),
            Some(ErrorCode::ConstraintViolation | ErrorCode::TooBig)
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Status;
    use crate::store::testutil::{contact, mid, msg, peer};
    use crate::store::{CommitFailure, Direction, Reader};

    fn worker(path: &Path) -> Worker {
        let (_tx, rx) = bounded(1);
        let (done, _done_rx) = crossbeam_channel::unbounded();
        Worker {
            conn: schema::open_writer(path, Duration::from_secs(1)).unwrap(),
            path: path.to_path_buf(),
            rx,
            done,
            config: WriterConfig::default(),
        }
    }

    /// A disk that fills up in the middle of a batch: SQLite's `max_page_count` makes
    /// the third op fail with SQLITE_FULL after two ops have run.
    #[test]
    fn disk_full_mid_batch_rolls_back_the_whole_batch_and_the_next_one_commits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("purr.db");
        let mut w = worker(&path);
        let pages: i64 = w
            .conn
            .pragma_query_value(None, "page_count", |r| r.get(0))
            .unwrap();
        w.conn
            .pragma_update(None, "max_page_count", pages + 2)
            .unwrap();
        let a = peer(0xa);
        let mut big = msg(2, &a, Direction::In, Status::Received);
        big.text = "x".repeat(1 << 20);
        let batch = vec![
            (10, Op::UpsertContact(contact(&a))),
            (
                11,
                Op::InsertMessage(msg(1, &a, Direction::In, Status::Received)),
            ),
            (12, Op::InsertMessage(big)),
        ];
        let failed = w.commit(batch.clone());
        assert_eq!(failed.tokens, [10, 11, 12]);
        let err = failed.result.unwrap_err();
        assert_eq!(err.kind, CommitFailure::DiskFull, "{err}");
        assert!(w.conn.is_autocommit(), "the transaction is closed");
        let reader = Reader::open(&path).unwrap();
        assert!(
            reader.contacts().unwrap().is_empty(),
            "earlier ops rolled back"
        );
        assert_eq!(reader.message(&mid(1)).unwrap(), None);
        // Space is freed; the resubmitted batch commits on the same connection.
        w.conn
            .pragma_update(None, "max_page_count", 1_000_000)
            .unwrap();
        let ok = w.commit(batch);
        assert_eq!(ok.result, Ok(()));
        assert_eq!(reader.max_seq().unwrap(), 2);
    }
}
