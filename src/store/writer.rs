//! The writer thread: the only write connection, and group commit.
//!
//! ```text
//!   ┌─▶ idle ── recv (blocks) ──▶ collecting: try for more ops until max_batch ops or
//!   │                             `window` after the first one (queue closed: stop early)
//!   │                                   │
//!   │            BEGIN IMMEDIATE; op.apply() for each (content errors → rejected, the
//!   │            rest go on); [commit_delay]; COMMIT ── fsync (synchronous=FULL)
//!   │                                   │
//!   └──── done.send(Committed { tokens, result, rejected, duplicates }) ◀── after COMMIT
//!                                       │ failed (busy, disk full, read-only, I/O):
//!                                       ▼ rolled back whole
//!              done.send(Committed { result: Err, .. }); wait `retry_interval`;
//!              the same batch again ── until it commits (or the writer is stopped)
//! ```
//!
//! One transaction per batch is what makes durability cheap (SPEC §8): one fsync covers
//! up to `max_batch` ops, and ops queue up while the previous fsync runs.
//!
//! A failed batch is retried **here, in place**, not handed back to the caller: the
//! queue is FIFO and this thread its only consumer, so nothing submitted later can
//! commit before it. (When the caller resubmitted failed batches, the ops queued behind
//! a failure committed first as soon as the fault ended: a status update before the
//! message it updates, a message before its contact, which the foreign key then
//! refused for good.) Each failed attempt is reported, so the caller can tell the user.
//!
//! The thread stops when the [`Writer`] is dropped or shut down, after committing every
//! op already queued; if the database is failing then, it gives up after one attempt
//! and logs how many changes were not stored.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use rusqlite::{Connection, ErrorCode, TransactionBehavior};

use super::{schema, CommitError, Op, StoreError};

/// Most ops in one transaction: bounds the time a batch holds the write lock and the
/// work lost to a failed commit. Under load, larger transactions are much cheaper per
/// op (one fsync, and each B-tree page they share is written to the WAL once): ids are
/// random, so each insert lands on its own leaf of the id index until a batch is large
/// next to the number of leaves. 4,096 rather than 1,024 took `make bench`'s window-100
/// run from ~10,000 to ~17,000 msg/s (with [`super::schema`]'s checkpoint interval);
/// the writer takes only what is queued, so a quiet node still commits one op at a time.
pub const MAX_BATCH: usize = 4096;
/// How long the writer waits for more ops after the first. Small next to an fsync
/// (5–50 ms on an SD card, SPEC §7), so it costs little latency and saves fsyncs.
pub const BATCH_WINDOW: Duration = Duration::from_millis(2);
/// Ops that may wait for the writer before [`Writer::try_submit`] reports `Full`.
pub const QUEUE_LEN: usize = 4096;
/// How long SQLite retries when another connection holds the lock.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause between attempts at a batch that failed: the fault (a full disk, a read-only
/// file system) is the user's to fix, and checking once a second costs nothing.
pub const RETRY_INTERVAL: Duration = Duration::from_secs(1);

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
    /// Pause before trying a failed batch again.
    pub retry_interval: Duration,
    /// Sleep before each COMMIT: a "slow disk" for tests and benchmarks. Zero in a node.
    pub commit_delay: Duration,
    /// `synchronous=OFF` instead of `FULL`: commits are not fsynced. Benchmarks only,
    /// to measure what durability costs; a node never runs like this.
    pub no_fsync: bool,
    /// Fault injection for tests: the writer thread panics at its first batch, as a bug
    /// would (the node must then exit non-zero rather than go on without a disk).
    pub panic_at_first_batch: bool,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            max_batch: MAX_BATCH,
            window: BATCH_WINDOW,
            queue_len: QUEUE_LEN,
            busy_timeout: BUSY_TIMEOUT,
            retry_interval: RETRY_INTERVAL,
            commit_delay: Duration::ZERO,
            no_fsync: false,
            panic_at_first_batch: false,
        }
    }
}

/// The outcome of one attempt at a batch, sent once its transaction has ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The tokens of every op of the batch, in submission order.
    pub tokens: Vec<u64>,
    /// `Ok`: the batch is durable. `Err`: nothing of it was stored *yet*: the writer
    /// keeps the batch and tries it again every `retry_interval`, ahead of everything
    /// queued after it, and reports each attempt (the same tokens again) until one
    /// commits. Do not resubmit the ops; an `Err` is news for the user, not a hand-back.
    /// (Only when the writer is being stopped is a failed batch given up.)
    pub result: Result<(), CommitError>,
    /// Ops SQLite refused for their content (their tokens are also in `tokens`). The
    /// rest of the batch committed; resubmitting these would fail again.
    pub rejected: Vec<Rejected>,
    /// `InsertMessage` and `InsertGroupMsg` ops that stored nothing because their id was already there (a
    /// message received again). The receiver learns of duplicates here, from the insert
    /// itself, instead of looking each incoming id up before showing it.
    pub duplicates: Vec<u64>,
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
    tx: Option<crate::queue::Producer<(u64, Op)>>,
    join: Option<JoinHandle<()>>,
    /// Set when stopping: a batch that keeps failing is then given up instead of
    /// retried, so shutdown does not wait for the disk to be fixed.
    stopping: Arc<AtomicBool>,
}

/// How much nicer than the rest of the node the writer thread runs: commits are background work beside the send →
/// screen path, and on a small machine a commit batch that holds a core made the
/// threads on that path wait for one. `make bench`'s anatomy of the slowest 1 %
/// (docs/BENCHMARKS.md, section 3) showed them runnable but waiting for a CPU while both
/// store writers ran; same-machine runs of the full-stack bench, p99 at nice 0: 0.412,
/// 0.547 ms; at 5: 0.349, 0.408 ms; window 100 unchanged (31.9k–35.8k against
/// 34.9k–37.7k msg/s). The writer still gets any idle core, so durability is not
/// delayed on an idle machine.
const WRITER_NICE: i32 = 5;

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
        // Slots are allocated as ops wait, not up front (`crate::queue`).
        let (tx, rx) = crate::queue::single_producer(config.queue_len);
        let stopping = Arc::new(AtomicBool::new(false));
        let worker = Worker {
            conn,
            path: path.to_path_buf(),
            rx,
            done,
            config,
            stopping: stopping.clone(),
        };
        let join = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || {
                // On Linux a nice value is per thread: this lowers only the writer,
                // relative to where the node runs (raising it back would need rights).
                let base = rustix::process::getpriority_process(None).unwrap_or(0);
                if let Err(e) = rustix::process::setpriority_process(None, base + WRITER_NICE) {
                    log::debug!("store writer keeps its priority: {e}");
                }
                worker.run()
            })
            .map_err(StoreError::Spawn)?;
        Ok(Writer {
            tx: Some(tx),
            join: Some(join),
            stopping,
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
        let mut op = op;
        loop {
            match self.try_submit(token, op) {
                Ok(()) => return Ok(()),
                Err(SubmitError::Gone { .. }) => return Err(StoreError::WriterGone),
                Err(SubmitError::Full { op: back, .. }) => {
                    op = *back;
                    // The writer drains the queue a batch at a time.
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
    }

    /// Stops the thread once every queued op is committed (and its `Committed` sent).
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        // Closing the queue is the stop signal: the thread drains it first.
        self.stopping.store(true, Ordering::Release);
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
    stopping: Arc<AtomicBool>,
}

impl Worker {
    fn run(mut self) {
        while let Some(batch) = self.collect() {
            assert!(
                !self.config.panic_at_first_batch,
                "fault injected by --fault-panic store-writer"
            );
            let committed = self.commit_retrying(&batch);
            let failed = committed.result.is_err();
            self.report(committed);
            if failed {
                // Only when stopping: the rest would fail the same way, each after a
                // busy timeout, and hold up the shutdown.
                let lost = batch.len() + self.rx.try_iter().count();
                log::error!(
                    "{}: stopping while the database fails: {lost} changes were not stored",
                    self.path.display()
                );
                break;
            }
        }
        self.checkpoint();
        log::debug!("store writer stopped");
    }

    /// At a clean stop, moves everything from the WAL into `purr.db` and empties the WAL,
    /// so that `purr.db` alone holds the data (a user who copies just that file has it
    /// all). SQLite would do this when the last connection closes, but the last one is
    /// the state thread's read-only reader, which cannot.
    fn checkpoint(&self) {
        let done = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                r.get::<_, i64>(0)
            });
        match done {
            Ok(0) => log::debug!("{}: WAL checkpointed", self.path.display()),
            Ok(_) => log::info!(
                "{}: the WAL could not be emptied at stop (a reader was busy); it is kept",
                self.path.display()
            ),
            Err(e) => log::warn!("{}: no checkpoint at stop: {e}", self.path.display()),
        }
    }

    fn report(&self, committed: Committed) {
        if self.done.send(committed).is_err() {
            // The state thread is gone (shutdown); the data is stored all the same.
            log::debug!("no one is waiting for store completions");
        }
    }

    /// Commits `batch`, trying again every `retry_interval` while it fails; each failure
    /// is reported on the way. Returns the successful outcome, or the last failure if the
    /// writer is being stopped.
    fn commit_retrying(&mut self, batch: &[(u64, Op)]) -> Committed {
        let mut failing_since: Option<Instant> = None;
        loop {
            let committed = self.commit(batch);
            if committed.result.is_ok() {
                if let Some(since) = failing_since {
                    log::info!(
                        "{}: the database works again; stored {} changes held for {:.1?}",
                        self.path.display(),
                        batch.len(),
                        since.elapsed()
                    );
                }
                return committed;
            }
            if self.stopping.load(Ordering::Acquire) {
                return committed;
            }
            if failing_since.is_none() {
                if let Err(e) = &committed.result {
                    log::warn!(
                        "{} changes not stored: {e}; trying again every {:?}",
                        batch.len(),
                        self.config.retry_interval
                    );
                }
                failing_since = Some(Instant::now());
            }
            self.report(committed);
            self.pause(self.config.retry_interval);
        }
    }

    /// Sleeps for `d`, in short steps so a stop request cuts it short.
    fn pause(&self, d: Duration) {
        let end = Instant::now() + d;
        while !self.stopping.load(Ordering::Acquire) {
            let now = Instant::now();
            if now >= end {
                return;
            }
            std::thread::sleep((end - now).min(Duration::from_millis(50)));
        }
    }

    /// Blocks for the first op, then gathers more until the batch is full or the window
    /// has passed. `None` when the queue is closed and empty.
    fn collect(&self) -> Option<Vec<(u64, Op)>> {
        let first = self.rx.recv().ok()?;
        let max = self.config.max_batch.max(1);
        let mut batch = Vec::with_capacity(max.min(256));
        batch.push(first);
        batch.extend(self.rx.try_iter().take(max - 1));
        if batch.len() < max && !self.config.window.is_zero() {
            // One sleep for the whole window, not a wake-up per op: under load ops come
            // every few microseconds, and a futex wake-up each would cost more than
            // the op itself (on this thread and on the state thread that sends them).
            std::thread::sleep(self.config.window);
            let room = max - batch.len();
            batch.extend(self.rx.try_iter().take(room));
        }
        Some(batch)
    }

    /// Runs one batch in one transaction and says how it went.
    fn commit(&mut self, batch: &[(u64, Op)]) -> Committed {
        let tokens = batch.iter().map(|(token, _)| *token).collect();
        let start = Instant::now();
        match self.transaction(batch) {
            Ok((rejected, duplicates)) => {
                log::trace!("committed {} ops in {:?}", batch.len(), start.elapsed());
                Committed {
                    tokens,
                    result: Ok(()),
                    rejected,
                    duplicates,
                }
            }
            Err(e) => {
                let error = CommitError::classify(&e, &self.path);
                log::debug!(
                    "{}: a batch of {} changes did not commit: {error}",
                    self.path.display(),
                    batch.len()
                );
                Committed {
                    tokens,
                    result: Err(error),
                    rejected: Vec::new(),
                    duplicates: Vec::new(),
                }
            }
        }
    }

    /// BEGIN IMMEDIATE takes the write lock up front, so a lock held elsewhere fails the
    /// batch before any op runs. On any error the dropped transaction rolls back.
    fn transaction(&mut self, batch: &[(u64, Op)]) -> rusqlite::Result<(Vec<Rejected>, Vec<u64>)> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut rejected = Vec::new();
        let mut duplicates = Vec::new();
        for (token, op) in batch {
            match op.apply(&tx) {
                Ok(0) if matches!(op, Op::InsertMessage(_) | Op::InsertGroupMsg(_)) => {
                    duplicates.push(*token)
                }
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
        Ok((rejected, duplicates))
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
    use crate::store::testutil::{contact, mid, msg, peer};
    use crate::store::Status;
    use crate::store::{CommitFailure, Direction, Reader};

    fn worker(path: &Path) -> Worker {
        let (_tx, rx) = crossbeam_channel::bounded(1);
        let (done, _done_rx) = crossbeam_channel::unbounded();
        Worker {
            conn: schema::open_writer(path, Duration::from_secs(1)).unwrap(),
            path: path.to_path_buf(),
            rx,
            done,
            config: WriterConfig::default(),
            stopping: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The writer thread runs [`WRITER_NICE`] nicer than the thread that started it,
    /// which keeps its own priority (a nice value is per thread on Linux).
    #[cfg(target_os = "linux")]
    #[test]
    fn the_writer_thread_runs_at_a_lower_priority_than_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let (done, _done_rx) = crossbeam_channel::unbounded();
        let ours = rustix::process::getpriority_process(None).unwrap();
        let want = i64::from(ours + WRITER_NICE).min(19);
        let writer =
            Writer::spawn(&dir.path().join("purr.db"), WriterConfig::default(), done).unwrap();
        // The thread sets its priority as it starts: look for a while (bounded).
        let nice_of = |name: &str| -> Option<i64> {
            std::fs::read_dir("/proc/self/task")
                .ok()?
                .flatten()
                .find_map(|t| {
                    let comm = std::fs::read_to_string(t.path().join("comm")).ok()?;
                    if comm.trim() != name {
                        return None;
                    }
                    let stat = std::fs::read_to_string(t.path().join("stat")).ok()?;
                    // After "(comm)": state is field 3, nice field 19.
                    let rest = &stat[stat.rfind(')')? + 1..];
                    rest.split_whitespace().nth(16)?.parse().ok()
                })
        };
        let mut nice = None;
        for _ in 0..100 {
            nice = nice_of("store-writer");
            if nice == Some(want) {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(nice, Some(want));
        assert_eq!(rustix::process::getpriority_process(None).unwrap(), ours);
        drop(writer);
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
        let failed = w.commit(&batch);
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
        let ok = w.commit(&batch);
        assert_eq!(ok.result, Ok(()));
        assert_eq!(reader.max_seq().unwrap(), 2);
    }
}
