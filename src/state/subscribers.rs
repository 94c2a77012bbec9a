//! The UIs subscribed to events, each with its own bounded queue.
//!
//! A UI whose queue is full has stopped reading (or reads far slower than events come);
//! it is dropped rather than allowed to make the state thread wait: its socket is shut
//! down at once (which also wakes its writer out of a blocked write), and dropping its
//! sender ends that writer; the browser reconnects and reloads.

use std::collections::HashMap;
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam_channel::{Sender, TrySendError};

use crate::api::Event;

/// Events that may wait for one UI before it is considered stuck. A count, so kept
/// small: an event can be a 10 KB peer list, and a stuck UI holds its queue full until
/// it is dropped. (One commit can release a burst of up to a batch's events; a UI that
/// falls that far behind is dropped and reconnects.)
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

/// One UI: its event queue and a handle to shut its socket down.
struct Ui {
    tx: Sender<Arc<str>>,
    closer: Option<TcpStream>,
}

#[derive(Default)]
pub(super) struct Subscribers {
    queues: HashMap<SubId, Ui>,
}

impl Subscribers {
    /// A new UI. `closer` (a clone of its socket) lets a stuck UI be cut off at once.
    pub fn add(&mut self, sub: SubId, tx: Sender<Arc<str>>, closer: Option<TcpStream>) {
        self.queues.insert(sub, Ui { tx, closer });
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
        let Some(ui) = self.queues.get(&sub) else {
            return;
        };
        match ui.tx.try_send(json) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                log::warn!("a UI is not reading its events; dropping it");
                // Shut its socket now: its writer is most likely blocked in a write (up
                // to 30 s per write) and would hold the queued events until then.
                // shutdown(2) does not block.
                if let Some(ui) = self.queues.remove(&sub) {
                    if let Some(socket) = ui.closer {
                        let _ = socket.shutdown(Shutdown::Both);
                    }
                }
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
        subs.add(slow, slow_tx, None);
        subs.add(fast, fast_tx, None);
        for _ in 0..3 {
            subs.broadcast(&Event::error("x", None));
        }
        assert_eq!(subs.len(), 1);
        assert_eq!(fast_rx.len(), 3);
    }
}
