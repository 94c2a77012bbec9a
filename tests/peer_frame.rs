//! Framing over readers that misbehave the way sockets do: short reads, early EOF,
//! interrupted calls, hostile lengths.

use std::io::{self, Read};

use purr::peer::frame::{
    encode_into, read_frame, read_frame_limited, write_frame, FrameError, HEADER_LEN, MAX_FRAME_LEN,
};

/// Hands out at most one byte per `read`, and `Interrupted` before every other byte.
struct Trickle<'a> {
    data: &'a [u8],
    interrupt_next: bool,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.interrupt_next = !self.interrupt_next;
        if self.interrupt_next {
            return Err(io::ErrorKind::Interrupted.into());
        }
        match (self.data.split_first(), buf.first_mut()) {
            (Some((byte, rest)), Some(slot)) => {
                *slot = *byte;
                self.data = rest;
                Ok(1)
            }
            _ => Ok(0),
        }
    }
}

/// Fails with the given error kind once its data is used up (a timed-out socket).
struct ThenFail<'a>(&'a [u8], io::ErrorKind);

impl Read for ThenFail<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.0.is_empty() {
            return Err(self.1.into());
        }
        self.0.read(buf)
    }
}

fn wire(frames: &[(&[u8; 4], &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (cmd, payload) in frames {
        encode_into(cmd, payload, &mut out).unwrap();
    }
    out
}

#[test]
fn one_byte_at_a_time_with_interruptions() {
    let big: Vec<u8> = (0..70_000u32).map(|i| i as u8).collect();
    let bytes = wire(&[(b"HAND", b"{}"), (b"DATA", &big), (b"PING", b"")]);
    let mut reader = Trickle {
        data: &bytes,
        interrupt_next: false,
    };
    let first = read_frame(&mut reader).unwrap();
    assert_eq!((first.cmd, first.payload), (*b"HAND", b"{}".to_vec()));
    let second = read_frame(&mut reader).unwrap();
    assert_eq!((second.cmd, second.payload), (*b"DATA", big));
    let third = read_frame(&mut reader).unwrap();
    assert_eq!((third.cmd, third.payload.len()), (*b"PING", 0));
    assert_eq!(read_frame(&mut reader), Err(FrameError::Closed));
}

#[test]
fn clean_eof_between_frames_is_closed() {
    assert_eq!(read_frame(&mut &b""[..]), Err(FrameError::Closed));
}

#[test]
fn eof_inside_the_header_is_truncation() {
    let bytes = wire(&[(b"DATA", b"abc")]);
    for cut in 1..HEADER_LEN {
        assert_eq!(
            read_frame(&mut &bytes[..cut]),
            Err(FrameError::TruncatedHeader { got: cut }),
            "cut at {cut}"
        );
    }
}

#[test]
fn eof_inside_the_payload_is_truncation() {
    let bytes = wire(&[(b"DATA", b"abcdef")]);
    for cut in HEADER_LEN..bytes.len() {
        assert_eq!(
            read_frame(&mut &bytes[..cut]),
            Err(FrameError::TruncatedPayload {
                expected: 6,
                got: cut - HEADER_LEN
            }),
            "cut at {cut}"
        );
    }
}

#[test]
fn max_length_is_refused_from_the_header_alone() {
    // Nothing follows the header: if the reader tried to read (or size a buffer for)
    // the payload it would report truncation instead.
    let header = [b'D', b'A', b'T', b'A', 0xff, 0xff, 0xff, 0xff];
    assert_eq!(
        read_frame(&mut &header[..]),
        Err(FrameError::TooLarge {
            len: 0xffff_ffff,
            max: MAX_FRAME_LEN
        })
    );
    let just_over = [b'D', b'A', b'T', b'A', 0x00, 0x10, 0x00, 0x01];
    assert!(matches!(
        read_frame(&mut &just_over[..]),
        Err(FrameError::TooLarge { len: 1_048_577, .. })
    ));
}

#[test]
fn handshake_limit_applies_to_unauthenticated_frames() {
    let bytes = wire(&[(b"HAND", &[b' '; 1025])]);
    assert_eq!(
        read_frame_limited(&mut bytes.as_slice(), 1024),
        Err(FrameError::TooLarge {
            len: 1025,
            max: 1024
        })
    );
    assert!(read_frame(&mut bytes.as_slice()).is_ok());
}

#[test]
fn zero_length_and_max_length_payloads() {
    let max = vec![7u8; MAX_FRAME_LEN];
    let bytes = wire(&[(b"PONG", b""), (b"DATA", &max)]);
    let mut rest = bytes.as_slice();
    assert_eq!(read_frame(&mut rest).unwrap().payload.len(), 0);
    assert_eq!(read_frame(&mut rest).unwrap().payload, max);
}

#[test]
fn io_errors_keep_their_kind() {
    let bytes = wire(&[(b"DATA", b"abcdef")]);
    let mut timed_out = ThenFail(&bytes[..3], io::ErrorKind::WouldBlock);
    assert_eq!(
        read_frame(&mut timed_out),
        Err(FrameError::Io(io::ErrorKind::WouldBlock))
    );
    let mut reset = ThenFail(&bytes[..10], io::ErrorKind::ConnectionReset);
    assert_eq!(
        read_frame(&mut reset),
        Err(FrameError::Io(io::ErrorKind::ConnectionReset))
    );
}

#[test]
fn write_frame_writes_header_and_payload() {
    let mut out = Vec::new();
    write_frame(&mut out, b"NAME", b"xy").unwrap();
    assert_eq!(out, b"NAME\x00\x00\x00\x02xy");
}
