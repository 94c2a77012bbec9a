//! What a peer connection sends: the records the state thread queues, file chunks from
//! the bulk lane, and its own `PONG`s and `PING`s, sealed in batches and written as
//! far as the socket takes them (it is non-blocking: the rest waits for poll(2)).

use std::collections::VecDeque;
use std::io::{ErrorKind, Write};
use std::time::Instant;

use crossbeam_channel::TryRecvError;

use crate::bus::PeerOutbox;
use crate::doorbell::Doorbell;
use crate::peer::inner::Inner;
use crate::peer::session::{RecordError, SendHalf};

/// At most this many queued records go out in one write.
const MAX_BATCH: usize = 64;
/// A batch also ends once this many bytes are sealed (one record may take it past).
const MAX_BATCH_BYTES: usize = 256 * 1024;
/// Buffer capacity kept between batches while records keep coming; a bigger one (one
/// large record) is given back after its write.
const KEEP_BYTES: usize = 2 * MAX_BATCH_BYTES;
/// The connection's own records (`PONG`, `PING`) that may wait; past it a `PONG` is
/// dropped: those already waiting answer for it.
const CONTROL_MAX: usize = 4;

/// The buffers of a batch: queued records are sealed one after another into `wire` and
/// go out in one write.
#[derive(Default)]
struct Batch {
    plain: Vec<u8>,
    wire: Vec<u8>,
}

/// A record to seal: encoded by the state thread, or a message of the connection's own
/// (`PING`, `PONG`) or a file chunk from the bulk lane, encoded here.
#[derive(Debug)]
enum Next {
    Encoded(Vec<u8>),
    Message(Inner),
}

impl From<Inner> for Next {
    fn from(msg: Inner) -> Next {
        Next::Message(msg)
    }
}

impl Batch {
    /// Seals `first` and then what `more` yields, up to [`MAX_BATCH`] records or
    /// [`MAX_BATCH_BYTES`]; returns the bytes to write.
    fn seal(
        &mut self,
        first: Next,
        mut more: impl FnMut() -> Option<Next>,
        send: &mut SendHalf,
    ) -> Result<&[u8], RecordError> {
        self.wire.clear();
        let mut next = Some(first);
        let mut count = 0;
        while let Some(record) = next.take() {
            let chunk = matches!(record, Next::Message(Inner::FileChunk(_)));
            match record {
                Next::Encoded(plain) => send.seal(&plain, &mut self.wire)?,
                Next::Message(msg) => {
                    if let Inner::FileChunk(c) = &msg {
                        // One line per chunk put on the wire: the count of chunks sent
                        // more than once survives a `kill -9` in the log
                        // (tests/files_kill_rounds.rs, the files bench). Off unless
                        // RUST_LOG asks for debug.
                        log::debug!("transfer {}: chunk {} sent", c.id, c.index);
                    }
                    self.plain.clear();
                    msg.encode(&mut self.plain);
                    send.seal(&self.plain, &mut self.wire)?;
                }
            }
            count += 1;
            // A chunk ends its batch: a chat record queued meanwhile waits for one
            // chunk's write, not for a batch of them.
            if !chunk && count < MAX_BATCH && self.wire.len() < MAX_BATCH_BYTES {
                next = more();
            }
        }
        Ok(&self.wire)
    }

    /// Gives back buffers a large record grew past [`KEEP_BYTES`]. A connection lives
    /// for days, and a buffer keeps its largest size: `make soak` found a node holding
    /// 6.7 MB for one connection's writes (a burst of `READ` receipts of 4,096 ids
    /// each, batched), growing again with each bigger burst.
    fn release(&mut self) {
        for buf in [&mut self.plain, &mut self.wire] {
            if buf.capacity() > KEEP_BYTES {
                *buf = Vec::new();
            }
        }
    }

    /// Gives both buffers back: nothing waits, and a connection that sleeps should not
    /// hold the size its busiest batch made them (with 100 idle peers, each one's
    /// first `LIST` alone left ~26 KiB per connection).
    fn shed(&mut self) {
        self.plain = Vec::new();
        self.wire = Vec::new();
    }
}

/// A connection's outgoing side: its queues, its own control records, the batch being
/// written and how far.
pub(super) struct Outgoing {
    queues: PeerOutbox,
    control: VecDeque<Inner>,
    /// The state let go of the connection (its queue is gone and empty).
    released: bool,
    batch: Batch,
    /// `batch.wire[written..]` is sealed and not yet written.
    written: usize,
    /// Since when sealed bytes have waited without the socket taking any.
    stalled_since: Option<Instant>,
}

/// Why the outgoing side cannot go on.
#[derive(Debug)]
pub(super) enum SendError {
    Seal(RecordError),
    Write(std::io::Error),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Seal(e) => write!(f, "cannot seal a record: {e}"),
            SendError::Write(e) => write!(f, "write failed: {e}"),
        }
    }
}

impl Outgoing {
    pub fn new(queues: PeerOutbox) -> Outgoing {
        Outgoing {
            queues,
            control: VecDeque::new(),
            released: false,
            batch: Batch::default(),
            written: 0,
            stalled_since: None,
        }
    }

    /// The bell the queues ring.
    pub fn bell(&self) -> &Doorbell {
        &self.queues.bell
    }

    /// Queues one of the connection's own records (`PONG`, `PING`), ahead of the rest.
    pub fn control(&mut self, msg: Inner) {
        if self.control.len() < CONTROL_MAX {
            self.control.push_back(msg);
        }
    }

    /// Sealed bytes wait for the socket.
    pub fn pending(&self) -> bool {
        self.written < self.batch.wire.len()
    }

    /// Something waits to be sealed (which [`Outgoing::flush`] would take now).
    pub fn waiting(&self) -> bool {
        !self.control.is_empty()
            || (!self.released && (!self.queues.rx.is_empty() || !self.queues.bulk.is_empty()))
    }

    /// The state let go of the connection and everything it queued is written.
    pub fn done(&self) -> bool {
        self.released && self.control.is_empty() && !self.pending()
    }

    /// Since when sealed bytes have waited without progress (`None`: not stalled).
    pub fn stalled_since(&self) -> Option<Instant> {
        self.stalled_since
    }

    /// Seals and writes what waits until the socket takes no more (`WouldBlock`) or
    /// nothing is left; `now` starts the stall clock when bytes are left over. True if
    /// any bytes were written.
    pub fn flush(
        &mut self,
        sock: &mut impl Write,
        send: &mut SendHalf,
        now: Instant,
    ) -> Result<bool, SendError> {
        let mut wrote = false;
        loop {
            if !self.pending() {
                self.batch.release();
                let Some(first) = next_waiting(&mut self.control, &self.queues, &mut self.released)
                else {
                    self.stalled_since = None;
                    return Ok(wrote);
                };
                let (control, queues, released) =
                    (&mut self.control, &self.queues, &mut self.released);
                self.batch
                    .seal(first, || next_waiting(control, queues, released), send)
                    .map_err(SendError::Seal)?;
                self.written = 0;
            }
            match sock.write(&self.batch.wire[self.written..]) {
                Ok(0) => return Err(SendError::Write(ErrorKind::WriteZero.into())),
                Ok(n) => {
                    self.written += n;
                    self.stalled_since = None;
                    wrote = true;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    self.stalled_since.get_or_insert(now);
                    return Ok(wrote);
                }
                Err(e) => return Err(SendError::Write(e)),
            }
        }
    }

    /// Gives the batch's buffers back if nothing is pending (before sleeping).
    pub fn shed(&mut self) {
        if !self.pending() {
            self.batch.shed();
            self.written = 0;
        }
    }
}

/// The connection's own records first, then an ordinary record, else a chunk: chat
/// never waits behind a file. Notes when the state has let go of the connection.
fn next_waiting(
    control: &mut VecDeque<Inner>,
    queues: &PeerOutbox,
    released: &mut bool,
) -> Option<Next> {
    if let Some(msg) = control.pop_front() {
        return Some(Next::Message(msg));
    }
    if *released {
        return None;
    }
    match queues.rx.try_recv() {
        Ok(plain) => return Some(Next::Encoded(plain)),
        Err(TryRecvError::Disconnected) => {
            *released = true;
            return None;
        }
        Err(TryRecvError::Empty) => {}
    }
    queues.bulk.try_recv().ok().map(|m| Next::Message(*m))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peer::inner::{ListEntry, MsgId};
    use crate::peer::session::{Keys, Role, Session};
    use std::net::SocketAddr;

    fn send_half() -> SendHalf {
        let keys = Keys::from_okm(&[7u8; 128]);
        Session::new(&keys, Role::Initiator).split().0
    }

    /// A `READ` of 4,096 ids: about 143 KB, the largest record a node sends in bulk.
    fn big_read() -> Inner {
        Inner::Read((0..4096u32).map(|i| MsgId([i as u8; 16])).collect())
    }

    #[test]
    fn a_batch_ends_at_its_byte_limit_and_leaves_the_rest_queued() {
        let mut send = send_half();
        let mut batch = Batch::default();
        let mut queued = 63;
        let more = || {
            (queued > 0).then(|| {
                queued -= 1;
                big_read().into()
            })
        };
        let len = batch
            .seal(big_read().into(), more, &mut send)
            .unwrap()
            .len();
        let one = {
            let mut plain = Vec::new();
            big_read().encode(&mut plain);
            plain.len()
        };
        assert!(len >= MAX_BATCH_BYTES, "{len}");
        // The last record takes it past the limit, by its size plus the frame's header,
        // IV, padding and tag.
        assert!(len < MAX_BATCH_BYTES + one + 128, "{len}");
        assert!(queued > 50, "only {queued} of 63 left queued");
    }

    #[test]
    fn a_file_chunk_ends_its_batch() {
        let mut send = send_half();
        let mut batch = Batch::default();
        let chunk = |index| {
            Inner::FileChunk(crate::peer::files::Chunk {
                id: MsgId([1; 16]),
                index,
                hash: [0; 32],
                data: vec![0; 1000],
            })
        };
        // Ordinary records before it go with it; nothing after it does.
        let mut queued = vec![chunk(2), chunk(1)];
        let len = batch
            .seal(
                Inner::Ping.into(),
                || queued.pop().map(Next::from),
                &mut send,
            )
            .unwrap()
            .len();
        assert_eq!(queued.len(), 1, "{len} bytes sealed");
    }

    #[test]
    fn buffers_a_large_record_grew_are_given_back_after_the_write() {
        let mut send = send_half();
        let mut batch = Batch::default();
        // A LIST of 1,024 entries of 16 IPv6 addresses: ~700 KB in one record.
        let addrs: Vec<SocketAddr> = (0..16u16)
            .map(|i| SocketAddr::from(([0x2001, 0xdb8, 0, 0, 0, 0, 0x1234, i], 35035)))
            .collect();
        let list = Inner::List(
            (0..1024u32)
                .map(|i| ListEntry {
                    id: [i as u8; 32],
                    addrs: addrs.clone(),
                    name: format!("node {i}"),
                    kinds: Vec::new(),
                })
                .collect(),
        );
        let len = batch.seal(list.into(), || None, &mut send).unwrap().len();
        assert!(len > KEEP_BYTES, "{len}");
        batch.release();
        assert!(batch.wire.capacity() <= KEEP_BYTES);
        assert!(batch.plain.capacity() <= KEEP_BYTES);

        // A connection about to sleep gives both buffers back.
        batch.seal(big_read().into(), || None, &mut send).unwrap();
        batch.shed();
        assert_eq!(batch.wire.capacity(), 0);
        assert_eq!(batch.plain.capacity(), 0);

        // An ordinary batch keeps its buffers for the next write.
        batch.seal(big_read().into(), || None, &mut send).unwrap();
        let kept = batch.wire.capacity();
        batch.release();
        assert_eq!(batch.wire.capacity(), kept);
    }
}
