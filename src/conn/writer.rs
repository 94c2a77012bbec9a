//! The writer thread of a peer connection: seals what the state thread and the reader
//! queue, in batches, and pings when the peer has been quiet.

use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{select, tick, Receiver};

use super::{now_ms, PING_AFTER};
use crate::peer::inner::Inner;
use crate::peer::session::{RecordError, SendHalf};

/// The writer checks for idleness this often.
const IDLE_CHECK: Duration = Duration::from_secs(5);
/// At most this many queued records go out in one write.
const MAX_BATCH: usize = 64;
/// A batch also ends once this many bytes are sealed (one record may take it past).
const MAX_BATCH_BYTES: usize = 256 * 1024;
/// Buffer capacity a writer keeps between writes; a bigger one (one large record) is
/// given back after its write.
const KEEP_BYTES: usize = 2 * MAX_BATCH_BYTES;
/// Buffer capacity a writer keeps while nothing waits: a few small records.
const KEEP_IDLE: usize = 4 * 1024;

/// The writer's buffers: queued records are sealed one after another into `wire` and
/// go out in one write.
#[derive(Default)]
struct Batch {
    plain: Vec<u8>,
    wire: Vec<u8>,
}

impl Batch {
    /// Seals `first` and then what `more` yields, up to [`MAX_BATCH`] records or
    /// [`MAX_BATCH_BYTES`]; returns the bytes to write.
    fn seal(
        &mut self,
        first: Inner,
        mut more: impl FnMut() -> Option<Inner>,
        send: &mut SendHalf,
    ) -> Result<&[u8], RecordError> {
        self.wire.clear();
        let mut next = Some(first);
        let mut count = 0;
        while let Some(msg) = next.take() {
            let chunk = matches!(msg, Inner::FileChunk(_));
            if let Inner::FileChunk(c) = &msg {
                // One line per chunk put on the wire: the count of chunks sent more
                // than once survives a `kill -9` in the log (tests/files_kill_rounds.rs,
                // the files bench). Off unless RUST_LOG asks for debug.
                log::debug!("transfer {}: chunk {} sent", c.id, c.index);
            }
            self.plain.clear();
            msg.encode(&mut self.plain);
            send.seal(&self.plain, &mut self.wire)?;
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

    /// Gives back buffers grown past [`KEEP_IDLE`] once nothing more waits: an idle
    /// peer should not hold the size its busiest batch made them (with 100 peers, each
    /// one's first `LIST` alone left ~26 KiB per connection). Under load the queue is
    /// rarely empty between batches, and a batch that finds it empty allocates once.
    fn release_idle(&mut self) {
        for buf in [&mut self.plain, &mut self.wire] {
            if buf.capacity() > KEEP_IDLE {
                *buf = Vec::new();
            }
        }
    }
}

/// A writer's queues: records from the state (`rx`), PONGs from the reader (`ctrl`),
/// file chunks (`bulk`), taken only when neither of the others has anything.
pub(super) struct Queues {
    pub rx: Receiver<Inner>,
    pub ctrl: Receiver<Inner>,
    pub bulk: Receiver<Inner>,
}

impl Queues {
    /// An ordinary record if one waits, else a chunk: chat never waits behind a file.
    fn next_waiting(&self) -> Option<Inner> {
        self.ctrl
            .try_recv()
            .or_else(|_| self.rx.try_recv())
            .or_else(|_| self.bulk.try_recv())
            .ok()
    }
}

/// Seals and writes what the state thread and the reader queue, pings when idle.
pub(super) fn writer(
    mut stream: TcpStream,
    mut send: SendHalf,
    queues: Queues,
    origin: Instant,
    last_rx: Arc<AtomicU64>,
) {
    let idle = tick(IDLE_CHECK);
    let mut last_ping = 0u64;
    let mut batch = Batch::default();
    let Queues { rx, ctrl, .. } = &queues;
    // Once every bulk sender is gone, a closed lane must not wake the loop forever.
    let mut bulk = queues.bulk.clone();
    loop {
        if let Some(first) = queues.next_waiting() {
            if !write_batch(&mut stream, &mut send, &mut batch, first, &queues) {
                break;
            }
            continue;
        }
        let first = select! {
            recv(bulk) -> m => match m {
                Ok(m) => m,
                Err(_) => {
                    bulk = crossbeam_channel::never();
                    continue;
                }
            },
            recv(rx) -> m => match m {
                Ok(m) => m,
                Err(_) => break, // the state thread let go of this connection
            },
            recv(ctrl) -> m => match m {
                Ok(m) => m,
                Err(_) => break,
            },
            recv(idle) -> _ => {
                let now = now_ms(origin);
                let quiet = now.saturating_sub(last_rx.load(Ordering::Relaxed));
                if quiet < PING_AFTER.as_millis() as u64
                    || now.saturating_sub(last_ping) < PING_AFTER.as_millis() as u64
                {
                    continue;
                }
                last_ping = now;
                Inner::Ping
            },
        };
        if !write_batch(&mut stream, &mut send, &mut batch, first, &queues) {
            break;
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
}

/// Seals `first` and what else waits (ordinary records before chunks) and writes it;
/// false when the connection is done.
fn write_batch(
    stream: &mut TcpStream,
    send: &mut SendHalf,
    batch: &mut Batch,
    first: Inner,
    queues: &Queues,
) -> bool {
    let wire = match batch.seal(first, || queues.next_waiting(), send) {
        Ok(wire) => wire,
        Err(e) => {
            log::warn!("cannot seal a record: {e}");
            return false;
        }
    };
    if let Err(e) = stream.write_all(wire) {
        log::debug!("peer write failed: {e}");
        return false;
    }
    batch.release();
    if queues.rx.is_empty() && queues.bulk.is_empty() {
        batch.release_idle();
    }
    true
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
                big_read()
            })
        };
        let len = batch.seal(big_read(), more, &mut send).unwrap().len();
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
            .seal(Inner::Ping, || queued.pop(), &mut send)
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
        let len = batch.seal(list, || None, &mut send).unwrap().len();
        assert!(len > KEEP_BYTES, "{len}");
        batch.release();
        assert!(batch.wire.capacity() <= KEEP_BYTES);
        assert!(batch.plain.capacity() <= KEEP_BYTES);

        // A batch that found the queue empty gives back what it grew past a few KiB.
        batch.seal(big_read(), || None, &mut send).unwrap();
        batch.release_idle();
        assert!(batch.wire.capacity() <= KEEP_IDLE);
        assert!(batch.plain.capacity() <= KEEP_IDLE);

        // An ordinary batch keeps its buffers for the next write.
        batch.seal(big_read(), || None, &mut send).unwrap();
        let kept = batch.wire.capacity();
        batch.release();
        assert_eq!(batch.wire.capacity(), kept);
    }
}
