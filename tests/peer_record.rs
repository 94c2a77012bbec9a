//! The record layer: sealing and opening `DATA` frames between two in-memory sessions.

use purr::peer::frame::{self, DATA, HEADER_LEN, MAX_FRAME_LEN};
use purr::peer::session::{Keys, RecordError, Role, Session, MAX_INNER_LEN};

fn keys() -> Keys {
    let okm: [u8; 128] = std::array::from_fn(|i| (i as u8).wrapping_mul(37).wrapping_add(11));
    Keys::from_okm(&okm)
}

fn pair() -> (Session, Session) {
    let keys = keys();
    (
        Session::new(&keys, Role::Initiator),
        Session::new(&keys, Role::Responder),
    )
}

/// Seals `inner` and returns the DATA payload, after checking the frame reads back.
fn seal(session: &mut Session, inner: &[u8]) -> Vec<u8> {
    let mut wire = Vec::new();
    session.seal(inner, &mut wire).unwrap();
    let frame = frame::read_frame(&mut wire.as_slice()).unwrap();
    assert_eq!(frame.cmd, DATA);
    frame.payload
}

fn patterned(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

#[test]
fn round_trips_at_block_and_size_boundaries() {
    let (mut tx, mut rx) = pair();
    let sizes = [
        0,
        1,
        15,
        16,
        17,
        4095,
        4096,
        4097,
        65535,
        65536,
        65537,
        MAX_INNER_LEN,
    ];
    for len in sizes {
        let inner = patterned(len);
        let payload = seal(&mut tx, &inner);
        // iv + whole blocks with at least one byte of padding + tag.
        assert_eq!(payload.len(), 16 + (len / 16 + 1) * 16 + 32, "len {len}");
        assert_eq!(rx.open(&payload).unwrap(), inner, "len {len}");
    }
    assert_eq!(
        (tx.send_seq(), rx.recv_seq()),
        (sizes.len() as u64, sizes.len() as u64)
    );
}

#[test]
fn largest_inner_fills_exactly_one_max_frame() {
    let (mut tx, mut rx) = pair();
    let mut wire = Vec::new();
    tx.seal(&patterned(MAX_INNER_LEN), &mut wire).unwrap();
    assert_eq!(wire.len(), HEADER_LEN + MAX_FRAME_LEN);
    let frame = frame::read_frame(&mut wire.as_slice()).unwrap();
    assert_eq!(rx.open(&frame.payload).unwrap(), patterned(MAX_INNER_LEN));
    assert_eq!(
        tx.seal(&patterned(MAX_INNER_LEN + 1), &mut Vec::new()),
        Err(RecordError::TooLarge {
            len: MAX_INNER_LEN + 1
        })
    );
}

#[test]
fn zero_bodies_come_back_exact() {
    // Guards against any "strip trailing zeros" style unpadding.
    let (mut tx, mut rx) = pair();
    for len in [1, 15, 16, 17, 1000] {
        let zeros = vec![0u8; len];
        assert_eq!(rx.open(&seal(&mut tx, &zeros)).unwrap(), zeros, "len {len}");
    }
}

#[test]
fn seal_appends_to_existing_output() {
    let (mut tx, mut rx) = pair();
    let mut wire = b"already here".to_vec();
    tx.seal(b"one", &mut wire).unwrap();
    tx.seal(b"two", &mut wire).unwrap();
    let mut rest = &wire[12..];
    assert_eq!(&wire[..12], b"already here");
    for expected in [&b"one"[..], b"two"] {
        let frame = frame::read_frame(&mut rest).unwrap();
        assert_eq!(rx.open(&frame.payload).unwrap(), expected);
    }
    assert!(rest.is_empty());
}

#[test]
fn fresh_iv_per_record() {
    let (mut tx, _) = pair();
    let a = seal(&mut tx, b"same");
    let b = seal(&mut tx, b"same");
    assert_ne!(a[..16], b[..16]);
}

#[test]
fn any_flipped_bit_is_refused_and_does_not_advance() {
    let (mut tx, _) = pair();
    let payload = seal(&mut tx, &patterned(40)); // iv 16 | ct 48 | tag 32
                                                 // First and last bit of the IV, of the ciphertext, of the tag.
    for (at, bit) in [(0, 0), (15, 7), (16, 0), (63, 7), (64, 0), (95, 7)] {
        let (_, mut rx) = pair();
        let mut bad = payload.clone();
        bad[at] ^= 1 << bit;
        assert_eq!(
            rx.open(&bad),
            Err(RecordError::BadTag),
            "byte {at} bit {bit}"
        );
        assert_eq!(rx.recv_seq(), 0);
        // The untouched record still opens: the failure did not consume seq 0.
        assert!(rx.open(&payload).is_ok());
    }
}

#[test]
fn replayed_record_is_refused() {
    let (mut tx, mut rx) = pair();
    let payload = seal(&mut tx, b"once");
    assert_eq!(rx.open(&payload).unwrap(), b"once");
    assert_eq!(rx.open(&payload), Err(RecordError::BadTag));
}

#[test]
fn reordered_records_are_refused() {
    let (mut tx, mut rx) = pair();
    let first = seal(&mut tx, b"first");
    let second = seal(&mut tx, b"second");
    assert_eq!(rx.open(&second), Err(RecordError::BadTag));
    // The refused attempt did not move the counter: in order, both open.
    assert_eq!(rx.open(&first).unwrap(), b"first");
    assert_eq!(rx.open(&second).unwrap(), b"second");
}

#[test]
fn truncated_and_misaligned_records_are_refused() {
    let (mut tx, mut rx) = pair();
    let payload = seal(&mut tx, &patterned(40));
    assert_eq!(
        rx.open(&payload[..63]),
        Err(RecordError::TooShort { len: 63 })
    );
    assert_eq!(rx.open(&[]), Err(RecordError::TooShort { len: 0 }));
    // Dropping one whole block keeps the length legal; the tag catches it.
    let mut cut_block = payload[..16].to_vec();
    cut_block.extend_from_slice(&payload[32..]);
    assert_eq!(rx.open(&cut_block), Err(RecordError::BadTag));
    // Dropping one byte breaks block alignment, refused before any MAC work.
    assert_eq!(
        rx.open(&payload[..payload.len() - 1]),
        Err(RecordError::NotBlockAligned { len: 47 })
    );
    assert_eq!(rx.open(&payload).unwrap(), patterned(40));
}

#[test]
fn wrong_direction_keys_are_refused() {
    let keys = keys();
    let mut initiator = Session::new(&keys, Role::Initiator);
    let payload = seal(&mut initiator, b"to the responder");
    // Another initiator-side session receives with r2i keys: it must not accept i2r.
    let mut also_initiator = Session::new(&keys, Role::Initiator);
    assert_eq!(also_initiator.open(&payload), Err(RecordError::BadTag));
    // Reflecting a record back at its sender fails too.
    assert_eq!(initiator.open(&payload), Err(RecordError::BadTag));
    let mut responder = Session::new(&keys, Role::Responder);
    assert_eq!(responder.open(&payload).unwrap(), b"to the responder");
}

#[test]
fn other_session_keys_are_refused() {
    let (mut tx, _) = pair();
    let payload = seal(&mut tx, b"hello");
    let other = Keys::from_okm(&[9u8; 128]);
    let mut stranger = Session::new(&other, Role::Responder);
    assert_eq!(stranger.open(&payload), Err(RecordError::BadTag));
}
