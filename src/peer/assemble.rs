//! Frames out of bytes that arrive in pieces.
//!
//! A connection that reads whatever its socket has (non-blocking, woken by poll(2))
//! gets frames cut anywhere: half a header, three records and the start of a fourth.
//! An [`Assembler`] holds those bytes: the caller reads into [`Assembler::space`],
//! reports how many came with [`Assembler::filled`], and takes every complete frame with
//! [`Assembler::next_frame`]. The header's length is checked (against the caller's
//! limit, at most [`MAX_FRAME_LEN`]) as soon as its 8 bytes are there, before the
//! payload is waited for.
//!
//! Memory follows the traffic: the room offered for one read starts at [`MIN_READ`] and
//! doubles (up to [`MAX_READ`]) each time a read fills it, which is what a burst does;
//! a frame's payload is only ever buffered as far as its bytes have really arrived (a
//! peer that announces 1 MiB and sends 8 bytes costs 8 bytes); and
//! [`Assembler::shed`] gives the whole buffer back once nothing is buffered, which is
//! what a connection does before it sleeps: an idle peer holds no read buffer.

use super::frame::{parse_header, Frame, FrameError, HEADER_LEN, MAX_FRAME_LEN};

/// Room offered for a read when traffic is light: a few records.
pub const MIN_READ: usize = 4 * 1024;
/// Most room offered for one read: a writer's batch arrives in a few reads.
pub const MAX_READ: usize = 64 * 1024;

/// Buffered bytes of a stream of frames (see the module docs).
#[derive(Debug)]
pub struct Assembler {
    buf: Vec<u8>,
    /// `buf[start..]` is buffered and not yet taken.
    start: usize,
    /// Room the next [`Assembler::space`] offers.
    read_size: usize,
    /// Length of `buf` before the room of the last [`Assembler::space`] was added.
    offered_at: usize,
}

impl Default for Assembler {
    fn default() -> Assembler {
        Assembler {
            buf: Vec::new(),
            start: 0,
            read_size: MIN_READ,
            offered_at: 0,
        }
    }
}

impl Assembler {
    /// Room to read into; call [`Assembler::filled`] with the count read (0 included).
    pub fn space(&mut self) -> &mut [u8] {
        if self.start > 0 {
            // Taken frames leave a gap at the front: move the partial frame down.
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.offered_at = self.buf.len();
        self.buf.resize(self.offered_at + self.read_size, 0);
        &mut self.buf[self.offered_at..]
    }

    /// `n` bytes of the last [`Assembler::space`] hold data; the rest of it is dropped.
    pub fn filled(&mut self, n: usize) {
        let offered = self.buf.len() - self.offered_at;
        let n = n.min(offered);
        self.buf.truncate(self.offered_at + n);
        if n == offered {
            // More was probably waiting: offer more next time.
            self.read_size = (self.read_size * 2).min(MAX_READ);
        } else if n <= offered / 4 {
            self.read_size = (self.read_size / 2).max(MIN_READ);
        }
    }

    /// The next complete frame, `None` until its last byte is here. A header whose
    /// length is over `max` (clamped to [`MAX_FRAME_LEN`]) or whose command is not ASCII
    /// is refused as soon as it is complete.
    pub fn next_frame(&mut self, max: usize) -> Result<Option<Frame>, FrameError> {
        let pending = &self.buf[self.start..];
        let Some(header) = pending.first_chunk::<HEADER_LEN>() else {
            return Ok(None);
        };
        let (cmd, len) = parse_header(header, max.min(MAX_FRAME_LEN))?;
        let Some(payload) = pending.get(HEADER_LEN..HEADER_LEN + len) else {
            return Ok(None);
        };
        let frame = Frame {
            cmd,
            payload: payload.to_vec(),
        };
        self.start += HEADER_LEN + len;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        Ok(Some(frame))
    }

    /// Bytes buffered that are not a complete frame yet.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// What the stream's end in the middle of a frame means, `None` at a frame boundary
    /// (a clean close).
    pub fn truncated(&self) -> Option<FrameError> {
        let pending = &self.buf[self.start..];
        let Some(header) = pending.first_chunk::<HEADER_LEN>() else {
            return (!pending.is_empty())
                .then_some(FrameError::TruncatedHeader { got: pending.len() });
        };
        let expected = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
        Some(FrameError::TruncatedPayload {
            expected: expected as usize,
            got: pending.len() - HEADER_LEN,
        })
    }

    /// Gives the buffer back if nothing is buffered (a connection about to sleep).
    pub fn shed(&mut self) {
        if self.buffered() == 0 {
            self.buf = Vec::new();
            self.start = 0;
        }
    }

    /// Capacity held now, in bytes.
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peer::frame::encode_into;

    /// Feeds `bytes` in reads of at most `step` bytes; the frames that came out.
    fn feed(a: &mut Assembler, bytes: &[u8], step: usize) -> Vec<Frame> {
        let mut out = Vec::new();
        for piece in bytes.chunks(step) {
            let mut rest = piece;
            while !rest.is_empty() {
                let room = a.space();
                let n = room.len().min(rest.len());
                room[..n].copy_from_slice(&rest[..n]);
                a.filled(n);
                rest = &rest[n..];
                while let Some(f) = a.next_frame(MAX_FRAME_LEN).unwrap() {
                    out.push(f);
                }
            }
        }
        out
    }

    fn stream(payloads: &[Vec<u8>]) -> Vec<u8> {
        let mut wire = Vec::new();
        for p in payloads {
            encode_into(b"DATA", p, &mut wire).unwrap();
        }
        wire
    }

    #[test]
    fn frames_cut_anywhere_come_out_whole_and_in_order() {
        let payloads: Vec<Vec<u8>> = (0..40u8)
            .map(|i| vec![i; (i as usize * 997) % 9000])
            .collect();
        let wire = stream(&payloads);
        for step in [1, 3, 7, 8, 9, 100, 4096, 70_000] {
            let mut a = Assembler::default();
            let got = feed(&mut a, &wire, step);
            assert_eq!(got.len(), payloads.len(), "step {step}");
            for (f, p) in got.iter().zip(&payloads) {
                assert_eq!(&f.cmd, b"DATA");
                assert_eq!(&f.payload, p, "step {step}");
            }
            assert_eq!(a.buffered(), 0);
            assert_eq!(a.truncated(), None);
        }
    }

    #[test]
    fn an_oversize_header_is_refused_before_its_payload() {
        let mut a = Assembler::default();
        let mut header = *b"DATA\0\0\0\0";
        header[4..].copy_from_slice(&(MAX_FRAME_LEN as u32 + 1).to_be_bytes());
        feed_raw(&mut a, &header);
        assert!(matches!(
            a.next_frame(MAX_FRAME_LEN),
            Err(FrameError::TooLarge { .. })
        ));
        // A smaller limit (the handshake's) applies too.
        let mut a = Assembler::default();
        feed_raw(&mut a, b"HAND\0\0\x10\0");
        assert!(matches!(
            a.next_frame(1024),
            Err(FrameError::TooLarge { .. })
        ));
        let mut a = Assembler::default();
        feed_raw(&mut a, b"DA\x01A\0\0\0\x01");
        assert!(matches!(a.next_frame(1024), Err(FrameError::BadCmd(_))));
    }

    fn feed_raw(a: &mut Assembler, bytes: &[u8]) {
        let room = a.space();
        room[..bytes.len()].copy_from_slice(bytes);
        a.filled(bytes.len());
    }

    /// A peer that announces 1 MiB and sends a few bytes costs those bytes (and one
    /// read's room), not 1 MiB.
    #[test]
    fn a_big_announced_frame_buffers_only_what_arrived() {
        let mut a = Assembler::default();
        let mut header = *b"DATA\0\0\0\0";
        header[4..].copy_from_slice(&(MAX_FRAME_LEN as u32).to_be_bytes());
        feed_raw(&mut a, &header);
        feed_raw(&mut a, &[1, 2, 3]);
        assert_eq!(a.next_frame(MAX_FRAME_LEN).unwrap(), None);
        assert!(a.capacity() <= 2 * MIN_READ, "{}", a.capacity());
        assert_eq!(
            a.truncated(),
            Some(FrameError::TruncatedPayload {
                expected: MAX_FRAME_LEN,
                got: 3
            })
        );
    }

    #[test]
    fn the_end_of_a_stream_inside_a_header_is_told_apart_from_a_clean_close() {
        let mut a = Assembler::default();
        assert_eq!(a.truncated(), None);
        feed_raw(&mut a, b"DAT");
        assert_eq!(a.truncated(), Some(FrameError::TruncatedHeader { got: 3 }));
    }

    /// Reads that fill the room offered double it (a burst); small ones bring it back;
    /// `shed` frees an empty buffer and keeps a partial frame.
    #[test]
    fn the_room_follows_the_traffic_and_an_idle_assembler_holds_nothing() {
        let mut a = Assembler::default();
        let room = a.space().len();
        assert_eq!(room, MIN_READ);
        a.filled(room);
        assert_eq!(a.space().len(), 2 * MIN_READ);
        a.filled(2 * MIN_READ);
        for _ in 0..10 {
            let n = a.space().len();
            a.filled(n);
        }
        assert_eq!(a.space().len(), MAX_READ);
        a.filled(10);
        assert_eq!(a.space().len(), MAX_READ / 2);
        a.filled(0);

        let wire = stream(&[vec![7; 100]]);
        let mut a = Assembler::default();
        feed_raw(&mut a, &wire[..50]);
        a.shed();
        assert!(a.capacity() > 0, "a partial frame is kept");
        feed_raw(&mut a, &wire[50..]);
        assert!(a.next_frame(MAX_FRAME_LEN).unwrap().is_some());
        a.shed();
        assert_eq!(a.capacity(), 0);
    }
}
