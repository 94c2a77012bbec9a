//! How many bytes of one peer connection's records may wait for the state thread.
//!
//! The command queue is bounded in commands ([`super::COMMAND_QUEUE_LEN`]), not bytes:
//! one peer could otherwise fill it with 4,096 records of up to a frame each (128 KiB
//! file chunks, 64 KiB texts) — half a gigabyte — before the state had looked at one.
//! Each connection's reader therefore takes a [`Charge`] for every record it hands on;
//! the charge travels inside [`super::Command::PeerMsg`] and gives its bytes back when
//! the state has handled the record and drops it. While a connection has
//! [`INTAKE_BYTES`] waiting, its reader stops reading the socket, so TCP pushes back on
//! that peer alone: chat and other peers' records go on.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::Thread;
use std::time::{Duration, Instant};

/// Bytes of one connection's records that may wait for (or be handled by) the state
/// thread: 32 file chunks, far more than a credit window's worth in flight on one link.
pub const INTAKE_BYTES: usize = 4 << 20;

/// One connection's budget, held by its thread.
#[derive(Debug)]
pub struct Intake {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    /// Bytes charged and not yet given back.
    bytes: AtomicUsize,
    /// The reader is parked until bytes come back.
    waiting: AtomicBool,
    /// The connection thread, woken when a charge is dropped while it waits.
    reader: Thread,
    limit: usize,
}

/// Bytes of one record, given back when dropped (by the state thread, once the record
/// is handled).
#[derive(Debug)]
pub struct Charge {
    shared: Option<Arc<Shared>>,
    size: usize,
}

/// The state did not take a connection's records within the patience given.
#[derive(Debug, PartialEq, Eq)]
pub struct Stalled {
    pub waiting: usize,
}

impl Intake {
    /// A budget of [`INTAKE_BYTES`] for a reader running on the calling thread.
    pub fn for_this_thread() -> Intake {
        Intake::with_limit(INTAKE_BYTES)
    }

    /// A budget of `limit` bytes for a reader running on the calling thread.
    pub fn with_limit(limit: usize) -> Intake {
        Intake {
            shared: Arc::new(Shared {
                bytes: AtomicUsize::new(0),
                waiting: AtomicBool::new(false),
                reader: std::thread::current(),
                limit,
            }),
        }
    }

    /// Bytes charged and not yet given back.
    pub fn waiting(&self) -> usize {
        self.shared.bytes.load(Ordering::Acquire)
    }

    /// Charges `size` bytes, first waiting (up to `patience`) while the budget is
    /// spent. A record larger than the whole budget goes alone, once nothing waits.
    pub fn charge(&self, size: usize, patience: Duration) -> Result<Charge, Stalled> {
        let s = &self.shared;
        let give_up = Instant::now() + patience;
        loop {
            let now_waiting = s.bytes.load(Ordering::Acquire);
            if now_waiting == 0 || now_waiting.saturating_add(size) <= s.limit {
                break;
            }
            let now = Instant::now();
            if now >= give_up {
                return Err(Stalled {
                    waiting: now_waiting,
                });
            }
            s.waiting.store(true, Ordering::Release);
            // Checked again after raising the flag: a charge dropped in between has
            // already seen it, or left bytes that let us through.
            if s.bytes.load(Ordering::Acquire) == now_waiting {
                // Bounded: a lost wake-up costs at most this long.
                std::thread::park_timeout((give_up - now).min(Duration::from_millis(50)));
            }
            s.waiting.store(false, Ordering::Release);
        }
        s.bytes.fetch_add(size, Ordering::AcqRel);
        Ok(Charge {
            shared: Some(s.clone()),
            size,
        })
    }
}

impl Charge {
    /// A charge against no budget, for records made up in tests.
    pub fn free() -> Charge {
        Charge {
            shared: None,
            size: 0,
        }
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        if let Some(s) = self.shared.take() {
            s.bytes.fetch_sub(self.size, Ordering::AcqRel);
            if s.waiting.load(Ordering::Acquire) {
                s.reader.unpark();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_WAIT: Duration = Duration::ZERO;

    #[test]
    fn charges_stop_at_the_limit_and_come_back_when_dropped() {
        let intake = Intake::with_limit(100);
        let a = intake.charge(60, NO_WAIT).unwrap();
        let b = intake.charge(40, NO_WAIT).unwrap();
        assert_eq!(intake.waiting(), 100);
        assert_eq!(
            intake.charge(1, NO_WAIT).unwrap_err(),
            Stalled { waiting: 100 }
        );
        drop(a);
        assert_eq!(intake.waiting(), 40);
        let _c = intake.charge(60, NO_WAIT).unwrap();
        drop(b);
        assert_eq!(intake.waiting(), 60);
    }

    #[test]
    fn a_record_larger_than_the_budget_goes_alone() {
        let intake = Intake::with_limit(100);
        let big = intake.charge(500, NO_WAIT).unwrap();
        assert!(intake.charge(1, NO_WAIT).is_err());
        drop(big);
        assert!(intake.charge(1, NO_WAIT).is_ok());
    }

    #[test]
    fn a_waiting_reader_is_woken_when_the_state_drops_a_charge() {
        let intake = Intake::with_limit(100);
        let held = intake.charge(100, NO_WAIT).unwrap();
        let state = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            drop(held);
        });
        let started = Instant::now();
        let next = intake.charge(10, Duration::from_secs(10));
        assert!(next.is_ok());
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(90), "{waited:?}");
        assert!(waited < Duration::from_secs(5), "{waited:?}");
        state.join().unwrap();
    }
}
