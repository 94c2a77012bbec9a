//! The peer reader's buffer: small while a connection is quiet, large while records
//! stream in.
//!
//! A `BufReader` keeps the capacity it was made with for the connection's life: at
//! 64 KiB, a node with 100 idle peers held 6.4 MiB of read buffers that a `PING` every
//! 15 s hardly used. [`ReadBuf`] starts at [`MIN_BUF`] and doubles (up to [`MAX_BUF`])
//! each time a read fills it, which is what a burst of records does; after
//! [`SHRINK_AFTER`] reads in a row that used at most a quarter of it, it goes back to
//! [`MIN_BUF`]. A read at least as long as the buffer, with nothing buffered, goes
//! straight into the caller's memory (a file chunk's payload), as with `BufReader`.

use std::io::{self, Read};

/// Capacity of a quiet connection's buffer: a few records (a chat message, a `PING`).
pub const MIN_BUF: usize = 4 * 1024;
/// Largest capacity: a writer's batch of records arrives in one read.
pub const MAX_BUF: usize = 64 * 1024;
/// Small reads in a row after which a grown buffer shrinks back.
pub const SHRINK_AFTER: u32 = 8;

/// A buffered reader whose buffer follows the traffic (see the module docs).
#[derive(Debug)]
pub struct ReadBuf<R> {
    inner: R,
    buf: Vec<u8>,
    /// `buf[pos..filled]` is buffered and not yet read.
    pos: usize,
    filled: usize,
    /// Reads in a row that used at most a quarter of the buffer.
    small: u32,
}

impl<R: Read> ReadBuf<R> {
    /// A reader over `inner` with a [`MIN_BUF`] buffer.
    pub fn new(inner: R) -> ReadBuf<R> {
        ReadBuf {
            inner,
            buf: vec![0; MIN_BUF],
            pos: 0,
            filled: 0,
            small: 0,
        }
    }

    /// The reader below (to move its deadline).
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// The buffer's capacity now.
    #[cfg(test)]
    fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// Reads into the (empty) buffer, then sizes it for the next read by what this one
    /// brought.
    fn fill(&mut self) -> io::Result<()> {
        let n = self.inner.read(&mut self.buf)?;
        self.pos = 0;
        self.filled = n;
        let cap = self.buf.len();
        if n == cap && cap < MAX_BUF {
            // More was probably waiting: a bigger buffer next time. The bytes read are
            // kept (`resize` keeps the front).
            self.buf.resize((cap * 2).min(MAX_BUF), 0);
            self.small = 0;
        } else if n <= cap / 4 {
            self.small += 1;
        } else {
            self.small = 0;
        }
        Ok(())
    }

    /// Gives back a grown buffer once reads have stayed small for a while. Only while it
    /// is empty: nothing buffered is lost.
    fn maybe_shrink(&mut self) {
        if self.small >= SHRINK_AFTER && self.buf.len() > MIN_BUF && self.pos == self.filled {
            self.buf = vec![0; MIN_BUF];
            self.pos = 0;
            self.filled = 0;
            self.small = 0;
        }
    }
}

impl<R: Read> Read for ReadBuf<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.filled {
            self.maybe_shrink();
            if out.len() >= self.buf.len() {
                return self.inner.read(out);
            }
            self.fill()?;
        }
        let ready = self.buf.get(self.pos..self.filled).unwrap_or_default();
        let n = ready.len().min(out.len());
        out[..n].copy_from_slice(&ready[..n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out its bytes in reads of at most `step` bytes, as a socket does.
    struct Drip {
        data: Vec<u8>,
        at: usize,
        step: usize,
    }

    impl Read for Drip {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = out.len().min(self.step).min(self.data.len() - self.at);
            out[..n].copy_from_slice(&self.data[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    fn drip(len: usize, step: usize) -> Drip {
        Drip {
            data: (0..len).map(|i| i as u8).collect(),
            at: 0,
            step,
        }
    }

    #[test]
    fn bytes_come_out_in_order_whatever_the_buffer_does() {
        let mut r = ReadBuf::new(drip(300_000, 50_000));
        let mut got = Vec::new();
        let mut small = [0u8; 7];
        // Small reads (headers) and big ones (payloads), interleaved.
        loop {
            let n = r.read(&mut small).unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&small[..n]);
            let mut big = vec![0u8; 9000];
            let n = r.read(&mut big).unwrap();
            got.extend_from_slice(&big[..n]);
        }
        assert_eq!(got, drip(300_000, 1).data);
    }

    #[test]
    fn grows_while_reads_fill_it_and_shrinks_back_when_they_stay_small() {
        let mut r = ReadBuf::new(drip(1 << 20, 1 << 20));
        assert_eq!(r.capacity(), MIN_BUF);
        let mut header = [0u8; 8];
        // A stream of records: every fill takes all the buffer has room for.
        for _ in 0..10_000 {
            r.read_exact(&mut header).unwrap();
        }
        assert_eq!(r.capacity(), MAX_BUF, "grown under load");

        // Then a quiet connection: one small record per read.
        let mut r2 = ReadBuf {
            inner: drip(1 << 16, 100),
            ..r
        };
        r2.pos = r2.filled;
        for _ in 0..(SHRINK_AFTER as usize + 2) * 100 / 8 {
            r2.read_exact(&mut header).unwrap();
        }
        assert_eq!(r2.capacity(), MIN_BUF, "shrunk back when quiet");
    }
}
