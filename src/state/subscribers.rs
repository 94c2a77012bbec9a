//! The UIs subscribed to events, each with its own bounded queue and a backlog.
//!
//! Events come in bursts: one commit of the store can release a batch's worth of
//! `message` events at once, one `ACKN` a `status` per id. A UI that reads fine but was
//! not scheduled for a moment must survive such a burst, and a UI that has stopped
//! reading must not make the state thread wait or hold memory without bound. So:
//!
//! ```text
//!   event ──▶ queue (UI_QUEUE_LEN events) ──▶ the UI's writer thread ──▶ socket
//!               │ full
//!               ▼
//!             backlog (state thread; moved into the queue as it drains)
//!               │ over UI_BACKLOG_BYTES, or the queue took nothing for UI_STALL
//!               ▼
//!             dropped: socket shut down, sender dropped; the browser reconnects
//! ```
//!
//! Shutting the socket down also wakes the writer out of a blocked write.

use std::collections::{HashMap, VecDeque};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Sender, TrySendError};

use crate::api::Event;
use crate::bus::SubId;

/// Bytes of events a UI may have waiting beyond its queue before it is dropped.
pub const UI_BACKLOG_BYTES: usize = 8 << 20;
/// How long a UI with a backlog may take nothing from its queue before it is dropped
/// as stuck. Long next to a scheduling hiccup or a burst, short next to a human.
pub const UI_STALL: Duration = Duration::from_secs(3);

/// One UI: its event queue, what did not fit in it, and a handle to shut its socket down.
struct Ui {
    tx: Sender<Arc<str>>,
    closer: Option<TcpStream>,
    backlog: VecDeque<Arc<str>>,
    backlog_bytes: usize,
    /// When the queue last took an event.
    last_taken: Instant,
}

/// Backlog slots an emptied backlog keeps; a bigger deque is given back.
const KEEP_BACKLOG_SLOTS: usize = 1024;

/// What became of a UI's backlog after moving what fits into its queue.
enum Flow {
    /// Everything is in the queue.
    Clear,
    /// Some events still wait.
    Waiting,
    /// The UI is gone (its writer ended) or stuck: drop it.
    Drop(&'static str),
}

impl Ui {
    /// Moves backlog events into the queue, oldest first, until it is full.
    fn pump(&mut self, now: Instant, limits: &Limits) -> Flow {
        while let Some(event) = self.backlog.front() {
            match self.tx.try_send(event.clone()) {
                Ok(()) => {
                    self.backlog_bytes -= event.len();
                    self.backlog.pop_front();
                    self.last_taken = now;
                }
                Err(TrySendError::Full(_)) => break,
                Err(TrySendError::Disconnected(_)) => return Flow::Drop("gone"),
            }
        }
        if self.backlog.is_empty() {
            // A burst can leave a deque of tens of thousands of slots behind; a UI that
            // is connected for days would keep the largest one it ever had.
            if self.backlog.capacity() > KEEP_BACKLOG_SLOTS {
                self.backlog = VecDeque::new();
            }
            Flow::Clear
        } else if self.backlog_bytes > limits.backlog_bytes {
            Flow::Drop("too far behind")
        } else if now.duration_since(self.last_taken) > limits.stall {
            Flow::Drop("not reading its events")
        } else {
            Flow::Waiting
        }
    }

    fn push(&mut self, json: Arc<str>, now: Instant, limits: &Limits) -> Flow {
        if self.backlog.is_empty() {
            match self.tx.try_send(json) {
                Ok(()) => {
                    self.last_taken = now;
                    return Flow::Clear;
                }
                Err(TrySendError::Full(json)) => {
                    self.backlog_bytes += json.len();
                    self.backlog.push_back(json);
                }
                Err(TrySendError::Disconnected(_)) => return Flow::Drop("gone"),
            }
        } else {
            self.backlog_bytes += json.len();
            self.backlog.push_back(json);
        }
        self.pump(now, limits)
    }
}

struct Limits {
    backlog_bytes: usize,
    stall: Duration,
}

pub(super) struct Subscribers {
    queues: HashMap<SubId, Ui>,
    limits: Limits,
}

impl Default for Subscribers {
    fn default() -> Subscribers {
        Subscribers::with_limits(UI_BACKLOG_BYTES, UI_STALL)
    }
}

impl Subscribers {
    fn with_limits(backlog_bytes: usize, stall: Duration) -> Subscribers {
        Subscribers {
            queues: HashMap::new(),
            limits: Limits {
                backlog_bytes,
                stall,
            },
        }
    }

    /// A new UI. `closer` (a clone of its socket) lets a stuck UI be cut off at once.
    pub fn add(&mut self, sub: SubId, tx: Sender<Arc<str>>, closer: Option<TcpStream>) {
        let ui = Ui {
            tx,
            closer,
            backlog: VecDeque::new(),
            backlog_bytes: 0,
            last_taken: Instant::now(),
        };
        self.queues.insert(sub, ui);
    }

    pub fn remove(&mut self, sub: SubId) {
        self.queues.remove(&sub);
    }

    /// Sends to one UI.
    pub fn send(&mut self, sub: SubId, event: &Event) {
        let json = event.to_json();
        self.deliver(sub, json, Instant::now());
    }

    /// Sends to every UI (SPEC §5: every connected UI gets every event).
    pub fn broadcast(&mut self, event: &Event) {
        // A node with no UI open (a Pi left alone) serializes nothing.
        if self.queues.is_empty() {
            return;
        }
        let json = event.to_json();
        let now = Instant::now();
        let subs: Vec<SubId> = self.queues.keys().copied().collect();
        for sub in subs {
            self.deliver(sub, json.clone(), now);
        }
    }

    /// Whether some UI has events waiting beyond its queue (then call [`Self::pump`]
    /// again soon: nothing else moves them).
    pub fn backlogged(&self) -> bool {
        self.queues.values().any(|ui| !ui.backlog.is_empty())
    }

    /// Moves backlogs into queues as these drain; drops UIs that are stuck.
    pub fn pump(&mut self) {
        let now = Instant::now();
        let waiting: Vec<SubId> = self
            .queues
            .iter()
            .filter(|(_, ui)| !ui.backlog.is_empty())
            .map(|(sub, _)| *sub)
            .collect();
        for sub in waiting {
            if let Some(ui) = self.queues.get_mut(&sub) {
                if let Flow::Drop(why) = ui.pump(now, &self.limits) {
                    self.drop_ui(sub, why);
                }
            }
        }
    }

    fn deliver(&mut self, sub: SubId, json: Arc<str>, now: Instant) {
        let Some(ui) = self.queues.get_mut(&sub) else {
            return;
        };
        if let Flow::Drop(why) = ui.push(json, now, &self.limits) {
            self.drop_ui(sub, why);
        }
    }

    fn drop_ui(&mut self, sub: SubId, why: &str) {
        let Some(ui) = self.queues.remove(&sub) else {
            return;
        };
        if why != "gone" {
            log::warn!(
                "a UI is {why} ({} events, {} bytes waiting); dropping it",
                ui.backlog.len(),
                ui.backlog_bytes
            );
        }
        // Shut its socket now: its writer is most likely blocked in a write (up to 30 s
        // per write) and would hold the queued events until then. shutdown(2) does not
        // block.
        if let Some(socket) = ui.closer {
            let _ = socket.shutdown(Shutdown::Both);
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

    fn event(i: usize) -> Event {
        Event::error(format!("event {i}"), None)
    }

    #[test]
    fn a_burst_beyond_the_queue_waits_and_arrives_in_order() {
        let mut subs = Subscribers::default();
        let (tx, rx) = crossbeam_channel::bounded(2);
        let ui = SubId::next();
        subs.add(ui, tx, None);
        for i in 0..10 {
            subs.broadcast(&event(i));
        }
        assert_eq!(subs.len(), 1, "a burst alone does not drop a UI");
        assert!(subs.backlogged());
        let mut got = Vec::new();
        for _ in 0..20 {
            got.extend(rx.try_iter());
            subs.pump();
        }
        let want: Vec<Arc<str>> = (0..10).map(|i| event(i).to_json()).collect();
        assert_eq!(got, want);
        assert!(!subs.backlogged());
    }

    #[test]
    fn a_drained_backlog_gives_its_memory_back() {
        let mut subs = Subscribers::default();
        let (tx, rx) = crossbeam_channel::bounded(1);
        let ui = SubId::next();
        subs.add(ui, tx, None);
        let burst = 4 * KEEP_BACKLOG_SLOTS;
        for i in 0..burst {
            subs.broadcast(&event(i));
        }
        assert!(subs.queues[&ui].backlog.capacity() >= burst - 1);
        let mut got = 0;
        for _ in 0..2 * burst {
            got += rx.try_iter().count();
            subs.pump();
        }
        assert_eq!(got, burst);
        assert!(subs.queues[&ui].backlog.capacity() <= KEEP_BACKLOG_SLOTS);
    }

    #[test]
    fn a_ui_that_takes_nothing_for_the_stall_time_is_dropped_alone() {
        let mut subs = Subscribers::with_limits(UI_BACKLOG_BYTES, Duration::from_millis(50));
        let (slow_tx, _slow_rx) = crossbeam_channel::bounded(2);
        let (fast_tx, fast_rx) = crossbeam_channel::bounded(100);
        let (slow, fast) = (SubId::next(), SubId::next());
        subs.add(slow, slow_tx, None);
        subs.add(fast, fast_tx, None);
        for i in 0..3 {
            subs.broadcast(&event(i));
        }
        subs.pump();
        assert_eq!(subs.len(), 2, "not yet: it may be busy for a moment");
        std::thread::sleep(Duration::from_millis(80));
        subs.pump();
        assert_eq!(subs.len(), 1);
        assert_eq!(fast_rx.len(), 3);
        assert!(!subs.backlogged());
    }

    #[test]
    fn a_backlog_over_the_byte_limit_drops_the_ui_at_once() {
        let mut subs = Subscribers::with_limits(100, Duration::from_secs(3600));
        let (tx, _rx) = crossbeam_channel::bounded(1);
        subs.add(SubId::next(), tx, None);
        subs.broadcast(&event(0)); // in the queue
        subs.broadcast(&Event::error("x".repeat(60), None)); // backlog, under 100 bytes
        assert_eq!(subs.len(), 1);
        subs.broadcast(&Event::error("y".repeat(60), None)); // over
        assert_eq!(subs.len(), 0);
    }

    #[test]
    fn a_ui_whose_writer_ended_is_forgotten() {
        let mut subs = Subscribers::default();
        let (tx, rx) = crossbeam_channel::bounded(1);
        subs.add(SubId::next(), tx, None);
        drop(rx);
        subs.broadcast(&event(0));
        assert_eq!(subs.len(), 0);
    }
}
