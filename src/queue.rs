//! A bounded queue with one producer whose memory follows what it holds.
//!
//! crossbeam's `bounded(n)` allocates and touches all `n` slots when it is made: the
//! state thread's 4,096 store ops were 1.1 MiB of an idle node's RSS, and each peer's
//! queue of 256 records 35 KiB per connection, whether anything ever waited in them or
//! not. [`single_producer`] makes an unbounded (linked-block) crossbeam channel, which
//! allocates blocks of 31 slots as messages arrive and frees them as they are taken,
//! and keeps the bound at its only sending end: [`Producer::try_send`] refuses when `cap`
//! messages wait, as a full `bounded` channel would.
//!
//! The bound holds because there is one producer: [`Producer`] is not `Clone`, and the
//! consumer only ever shortens the queue between the length check and the send. Use it
//! where one thread sends without blocking (the state thread to a peer's writer, to the
//! store writer); queues with many senders, or senders that must wait, stay `bounded`.

use crossbeam_channel::{Receiver, Sender, TrySendError};

/// The only sending end of a queue made by [`single_producer`].
#[derive(Debug)]
pub struct Producer<T> {
    tx: Sender<T>,
    cap: usize,
}

/// A queue of at most `cap` (at least 1) messages with one [`Producer`].
pub fn single_producer<T>(cap: usize) -> (Producer<T>, Receiver<T>) {
    let (tx, rx) = crossbeam_channel::unbounded();
    (
        Producer {
            tx,
            cap: cap.max(1),
        },
        rx,
    )
}

impl<T> Producer<T> {
    /// Queues `msg` unless `cap` messages already wait (`Full`) or the receiver is gone
    /// (`Disconnected`); the message comes back either way.
    pub fn try_send(&self, msg: T) -> Result<(), TrySendError<T>> {
        // A queue whose receiver is gone holds nothing (crossbeam drops what waited), so
        // it reports `Disconnected` below, not `Full`.
        if self.tx.len() >= self.cap {
            return Err(TrySendError::Full(msg));
        }
        self.tx.try_send(msg)
    }

    /// Messages waiting.
    pub fn len(&self) -> usize {
        self.tx.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.tx.is_empty()
    }

    /// The most messages that may wait.
    pub fn capacity(&self) -> usize {
        self.cap
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_past_its_bound_and_takes_again_once_drained() {
        let (tx, rx) = single_producer(3);
        for i in 0..3 {
            tx.try_send(i).unwrap();
        }
        assert!(matches!(tx.try_send(3), Err(TrySendError::Full(3))));
        assert_eq!(tx.len(), 3);
        assert_eq!(rx.recv().unwrap(), 0);
        tx.try_send(3).unwrap();
        assert_eq!(rx.try_iter().collect::<Vec<_>>(), [1, 2, 3]);
        drop(rx);
        assert!(matches!(tx.try_send(4), Err(TrySendError::Disconnected(4))));
    }

    #[test]
    fn a_full_queue_whose_receiver_is_gone_is_disconnected() {
        let (tx, rx) = single_producer(1);
        tx.try_send(1).unwrap();
        drop(rx);
        assert!(matches!(tx.try_send(2), Err(TrySendError::Disconnected(2))));
    }
}
