//! The UIs subscribed to events, each with its own bounded queue.
//!
//! A UI whose queue is full has stopped reading (or reads far slower than events come);
//! it is dropped rather than allowed to make the state thread wait. Dropping its sender
//! ends its writer thread, which closes the socket; the browser reconnects and reloads.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam_channel::{Sender, TrySendError};

use crate::api::Event;

/// Events that may wait for one UI before it is considered stuck.
pub const UI_QUEUE_LEN: usize = 1024;

/// Identifies one connected UI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SubId(u64);

impl SubId {
    /// A process-unique id.
    pub fn next() -> SubId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        SubId(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

#[derive(Default)]
pub(super) struct Subscribers {
    queues: HashMap<SubId, Sender<Arc<str>>>,
}

impl Subscribers {
    pub fn add(&mut self, sub: SubId, tx: Sender<Arc<str>>) {
        self.queues.insert(sub, tx);
    }

    pub fn remove(&mut self, sub: SubId) {
        self.queues.remove(&sub);
    }

    /// Sends to one UI.
    pub fn send(&mut self, sub: SubId, event: &Event) {
        let json = event.to_json();
        self.deliver(sub, json);
    }

    /// Sends to every UI (SPEC §5: every connected UI gets every event).
    pub fn broadcast(&mut self, event: &Event) {
        let json = event.to_json();
        let subs: Vec<SubId> = self.queues.keys().copied().collect();
        for sub in subs {
            self.deliver(sub, json.clone());
        }
    }

    fn deliver(&mut self, sub: SubId, json: Arc<str>) {
        let Some(tx) = self.queues.get(&sub) else {
            return;
        };
        match tx.try_send(json) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                log::warn!("a UI is not reading its events; dropping it");
                self.queues.remove(&sub);
            }
            Err(TrySendError::Disconnected(_)) => {
                self.queues.remove(&sub);
            }
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.queues.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_queue_drops_only_that_ui() {
        let mut subs = Subscribers::default();
        let (slow_tx, _slow_rx) = crossbeam_channel::bounded(2);
        let (fast_tx, fast_rx) = crossbeam_channel::bounded(100);
        let slow = SubId::next();
        let fast = SubId::next();
        subs.add(slow, slow_tx);
        subs.add(fast, fast_tx);
        for _ in 0..3 {
            subs.broadcast(&Event::error("x", None));
        }
        assert_eq!(subs.len(), 1);
        assert_eq!(fast_rx.len(), 3);
    }
}
