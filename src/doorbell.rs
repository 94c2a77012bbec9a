//! A doorbell: wakes a thread that waits in poll(2) on its socket when something is
//! queued for it on a channel.
//!
//! A peer connection has one thread, which waits for its socket and for the records
//! the state thread (and file workers) queue for it. A crossbeam channel cannot be
//! polled with a socket, so each queue that feeds such a thread comes with a
//! [`Doorbell`]: an `eventfd(2)` the thread polls beside its socket, and a flag that
//! says whether it is asleep. Producers [`ring`](Doorbell::ring) after queueing; the
//! bell costs a `write(2)` only when the thread [`arm`](Doorbell::arm)ed it before
//! sleeping, so a busy connection is not woken once per record.
//!
//! The ordering is the classic one of a sleeper and a waker: the sleeper raises the flag
//! and then looks at its queues a last time; the producer queues and then takes the
//! flag down. With both steps fenced, either the sleeper sees the record or the producer
//! sees the flag and writes.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{fence, AtomicBool, Ordering};

use rustix::event::{eventfd, EventfdFlags};

/// An `eventfd` and the "asleep" flag of the thread that polls it.
#[derive(Debug)]
pub struct Doorbell {
    fd: OwnedFd,
    armed: AtomicBool,
}

impl Doorbell {
    /// A new bell (one file descriptor), not armed.
    pub fn new() -> io::Result<Doorbell> {
        let fd = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
        Ok(Doorbell {
            fd,
            armed: AtomicBool::new(false),
        })
    }

    /// Producer side, after queueing: wakes the thread if it is (about to be) asleep.
    pub fn ring(&self) {
        fence(Ordering::SeqCst);
        if self.armed.swap(false, Ordering::SeqCst) {
            // A full counter (2^64 - 2 rings unread) or a closed fd: the thread is
            // awake or gone either way.
            let _ = rustix::io::write(&self.fd, &1u64.to_ne_bytes());
        }
    }

    /// Sleeper side, before the last look at its queues ahead of poll(2): a record
    /// queued after this rings.
    pub fn arm(&self) {
        self.armed.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
    }

    /// Sleeper side, awake without being rung (its socket woke it, or its last look
    /// found a record): no more rings are needed until the next [`arm`](Doorbell::arm).
    /// A ring written meanwhile stays on the counter and only makes the next poll(2)
    /// return at once.
    pub fn disarm(&self) {
        self.armed.store(false, Ordering::SeqCst);
    }

    /// Sleeper side, woken by a ring (poll said the fd is readable): disarms and takes
    /// the ring off the counter.
    pub fn clear(&self) {
        self.disarm();
        let mut buf = [0u8; 8];
        let _ = rustix::io::read(&self.fd, &mut buf);
    }
}

impl AsFd for Doorbell {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::event::{poll, PollFd, PollFlags, Timespec};

    /// Whether the bell's fd is readable now.
    fn rung(bell: &Doorbell) -> bool {
        let mut fds = [PollFd::new(bell, PollFlags::IN)];
        let zero = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        poll(&mut fds, Some(&zero)).unwrap_or(0) == 1
    }

    #[test]
    fn rings_only_when_armed_and_clear_takes_the_ring_off() {
        let bell = Doorbell::new().unwrap();
        bell.ring();
        assert!(!rung(&bell), "a thread that is awake is not woken");
        bell.arm();
        bell.ring();
        assert!(rung(&bell));
        // One ring per arm: the second producer finds the flag down.
        bell.ring();
        bell.clear();
        assert!(!rung(&bell));
        bell.ring();
        assert!(!rung(&bell));
    }

    /// A sleeper that arms, finds its queue empty and polls is always woken by a
    /// producer that queues and rings, whatever the interleaving (bounded: 2,000
    /// rounds, each waiting at most 5 s).
    #[test]
    fn a_record_queued_while_the_sleeper_arms_is_never_missed() {
        let bell = std::sync::Arc::new(Doorbell::new().unwrap());
        let (tx, rx) = crossbeam_channel::unbounded::<u32>();
        let producer_bell = bell.clone();
        let producer = std::thread::spawn(move || {
            for i in 0..2000 {
                tx.send(i).unwrap();
                producer_bell.ring();
                std::thread::yield_now();
            }
        });
        let five = Timespec {
            tv_sec: 5,
            tv_nsec: 0,
        };
        let mut got = 0;
        while got < 2000 {
            if rx.try_recv().is_ok() {
                got += 1;
                continue;
            }
            bell.arm();
            if !rx.is_empty() {
                bell.disarm();
                continue;
            }
            let mut fds = [PollFd::new(&*bell, PollFlags::IN)];
            let woke = poll(&mut fds, Some(&five)).unwrap();
            assert_eq!(woke, 1, "slept through a ring after {got} records");
            bell.clear();
        }
        producer.join().unwrap();
    }
}
