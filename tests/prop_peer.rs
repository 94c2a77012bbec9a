//! Property tests of the peer protocol's parsers of untrusted bytes (SPEC §7): frames,
//! `HAND`, the handshake state machine, the record layer and every inner kind.
//!
//! Two kinds of property, per layer:
//! - **no panic**: arbitrary bytes (and mutations of valid encodings, which get past the
//!   first checks) only ever produce a value or an error;
//! - **round trip**: whatever the encoder emits, the parser gives back unchanged.
//!
//! Case counts are chosen so the whole file runs in a few seconds in a debug build.

use std::io::Read;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use ed25519_dalek::SigningKey;
use proptest::collection::vec;
use proptest::prelude::*;
use purr::peer::addrs::{AddrKind, Addrs, Announced};
use purr::peer::files;
use purr::peer::frame::{self, FrameError, HEADER_LEN, MAX_FRAME_LEN};
use purr::peer::hand::{Hand, MAX_HAND_LEN};
use purr::peer::handshake::{Handshake, Step};
use purr::peer::inner::{kind, Inner, ListEntry, Mess, MsgId};
use purr::peer::reach;
use purr::peer::session::{Keys, RecordError, Role, Session};

/// Hands out `data` in chunks of the given sizes (cycled), like a TCP stream would.
struct Chunked<'a> {
    data: &'a [u8],
    sizes: Vec<usize>,
    next: usize,
}

impl Read for Chunked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let size = self.sizes[self.next % self.sizes.len()].max(1);
        self.next += 1;
        let n = size.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

fn cmd() -> impl Strategy<Value = [u8; 4]> {
    prop::array::uniform4(0x21u8..=0x7e)
}

/// SPEC §7 names: 1..=64 characters, none a control character.
/// A valid display name: 1..=64 characters, no controls, not blank (`rules`).
fn name() -> impl Strategy<Value = String> {
    "[^\\p{Cc}]{1,64}".prop_filter("a valid name", |n| purr::rules::validate_name(n).is_ok())
}

fn socket_addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<u32>(), 1u16..)
            .prop_map(|(ip, port)| { SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(ip), port)) }),
        (any::<u128>(), 1u16.., prop_oneof![Just(0u32), any::<u32>()]).prop_map(
            |(ip, port, scope)| {
                SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(ip), port, 0, scope))
            }
        ),
    ]
}

fn msg_id() -> impl Strategy<Value = MsgId> {
    any::<[u8; 16]>().prop_map(MsgId)
}

fn addr_kind() -> impl Strategy<Value = AddrKind> {
    prop_oneof![
        Just(AddrKind::Lan),
        Just(AddrKind::Vpn),
        Just(AddrKind::Other)
    ]
}

fn list_entry() -> impl Strategy<Value = ListEntry> {
    (
        any::<[u8; 32]>(),
        vec((socket_addr(), addr_kind()), 0..=4),
        name(),
        any::<bool>(),
    )
        .prop_map(|(id, addrs, name, with_kinds)| ListEntry {
            id,
            kinds: match with_kinds {
                true => addrs.iter().map(|a| a.1).collect(),
                false => Vec::new(),
            },
            addrs: addrs.into_iter().map(|a| a.0).collect(),
            name,
        })
}

/// Every inner kind SPEC §7 defines, with bodies inside the limits, and unknown kinds.
fn inner() -> impl Strategy<Value = Inner> {
    prop_oneof![
        vec(any::<u8>(), 64).prop_map(|sig| Inner::Auth(sig.try_into().expect("64 bytes"))),
        vec(list_entry(), 0..=5).prop_map(Inner::List),
        (msg_id(), any::<u64>(), "(?s).{1,200}").prop_map(|(id, ts, text)| Inner::Mess(Mess {
            id,
            ts,
            text
        })),
        vec(msg_id(), 0..=20).prop_map(Inner::Ackn),
        vec(msg_id(), 0..=20).prop_map(Inner::Read),
        name().prop_map(Inner::Name),
        Just(Inner::Ping),
        Just(Inner::Pong),
        vec("[a-z0-9-]{1,64}", 0..=8).prop_map(Inner::Caps),
        vec(msg_id(), 0..=20).prop_map(Inner::Rack),
        (
            msg_id(),
            "(?s).{0,300}",
            any::<u64>(),
            "[a-z/+.-]{0,40}",
            1u32..=131_072,
            proptest::option::of(vec(any::<u8>(), 0..100)),
            proptest::option::of("(?s).{0,50}")
        )
            .prop_map(|(id, name, size, mime, chunk, thumb, caption)| {
                Inner::FileOffer(files::Offer {
                    id,
                    name,
                    size,
                    mime,
                    chunk,
                    thumb,
                    caption,
                })
            }),
        (msg_id(), vec((0u64..1000, 1u64..10), 0..8), any::<u32>()).prop_map(
            |(id, steps, window)| {
                // Sorted, disjoint, non-touching ranges from (gap, length) steps.
                let mut at = 0u64;
                let have = steps
                    .into_iter()
                    .map(|(gap, len)| {
                        let start = at + gap + 1;
                        at = start + len;
                        (start, at)
                    })
                    .collect();
                Inner::FileRequest(files::Request { id, have, window })
            }
        ),
        (msg_id(), any::<u32>()).prop_map(|(id, n)| Inner::FileCredit(files::Credit { id, n })),
        (
            msg_id(),
            any::<u64>(),
            any::<[u8; 32]>(),
            vec(any::<u8>(), 0..300)
        )
            .prop_map(|(id, index, hash, data)| Inner::FileChunk(files::Chunk {
                id,
                index,
                hash,
                data
            })),
        (msg_id(), any::<[u8; 32]>())
            .prop_map(|(id, root)| Inner::FileEnd(files::End { id, root })),
        msg_id().prop_map(|id| Inner::FileDone(files::Done { id })),
        (msg_id(), "(?s).{0,100}")
            .prop_map(|(id, reason)| Inner::FileCancel(files::Cancel { id, reason })),
        vec((socket_addr(), addr_kind()), 0..=16).prop_map(|addrs| Inner::Addr(Addrs {
            addrs: addrs
                .into_iter()
                .map(|(addr, kind)| Announced { addr, kind })
                .collect()
        })),
        (any::<[u8; 16]>(), any::<u64>(), vec(socket_addr(), 0..=16))
            .prop_map(|(nonce, ts, addrs)| Inner::ReachAsk(reach::Ask { nonce, ts, addrs })),
        (
            any::<[u8; 16]>(),
            any::<u64>(),
            vec((socket_addr(), 0usize..9, any::<u32>()), 0..=16)
        )
            .prop_map(|(nonce, ts, results)| Inner::ReachAnswer(reach::Answer {
                nonce,
                ts,
                results: results
                    .into_iter()
                    .map(|(addr, o, ms)| reach::Tried {
                        addr,
                        outcome: [
                            reach::Outcome::Ok,
                            reach::Outcome::OtherKey,
                            reach::Outcome::Handshake,
                            reach::Outcome::Refused,
                            reach::Outcome::TimedOut,
                            reach::Outcome::Unreachable,
                            reach::Outcome::NotKnown,
                            reach::Outcome::Busy,
                            reach::Outcome::Failed,
                        ][o],
                        ms,
                    })
                    .collect(),
            })),
        cmd()
            .prop_filter("an unknown kind", |k| !KNOWN.contains(k))
            .prop_map(Inner::Unknown),
    ]
}

const KNOWN: [[u8; 4]; 28] = [
    kind::AUTH,
    kind::LIST,
    kind::MESS,
    kind::ACKN,
    kind::READ,
    kind::NAME,
    kind::PING,
    kind::PONG,
    kind::CAPS,
    kind::RACK,
    kind::FOFR,
    kind::FREQ,
    kind::FACK,
    kind::FCHK,
    kind::FEND,
    kind::FDON,
    kind::FCAN,
    kind::GROS,
    kind::GMSG,
    kind::GSYN,
    kind::GINV,
    kind::GACC,
    kind::GDEC,
    kind::GRCP,
    kind::GLEV,
    kind::ADDR,
    kind::RBCK,
    kind::RBRS,
];

fn encoded(inner: &Inner) -> Vec<u8> {
    let mut out = Vec::new();
    inner.encode(&mut out);
    out
}

/// A valid encoding with a few bytes overwritten: gets past the kind and often the JSON
/// syntax, so the field checks behind them see hostile values too.
fn mutated(valid: Vec<u8>, edits: Vec<(usize, u8)>) -> Vec<u8> {
    let mut bytes = valid;
    for (at, byte) in edits {
        if !bytes.is_empty() {
            let i = at % bytes.len();
            bytes[i] = byte;
        }
    }
    bytes
}

fn session_pair(okm: &[u8; 128]) -> (Session, Session) {
    let keys = Keys::from_okm(okm);
    (
        Session::new(&keys, Role::Initiator),
        Session::new(&keys, Role::Responder),
    )
}

/// The DATA payload of a sealed frame (checked to be one well-formed frame).
fn sealed(tx: &mut Session, inner: &[u8]) -> Vec<u8> {
    let mut wire = Vec::new();
    tx.seal(inner, &mut wire).expect("seal");
    let frame = frame::read_frame(&mut wire.as_slice()).expect("a whole frame");
    assert_eq!(frame.cmd, frame::DATA);
    assert_eq!(wire.len(), HEADER_LEN + frame.payload.len());
    frame.payload
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn frame_reader_never_panics_and_respects_its_limit(
        bytes in vec(any::<u8>(), 0..2048),
        limit in prop_oneof![Just(MAX_FRAME_LEN), Just(MAX_HAND_LEN), 0usize..64],
        sizes in vec(1usize..16, 1..4),
    ) {
        let mut src = Chunked { data: &bytes, sizes, next: 0 };
        match frame::read_frame_limited(&mut src, limit) {
            Ok(f) => {
                prop_assert!(f.payload.len() <= limit);
                // What was read is exactly the frame at the start of the input.
                let mut again = Vec::new();
                frame::encode_into(&f.cmd, &f.payload, &mut again).unwrap();
                prop_assert_eq!(&again[..], &bytes[..again.len()]);
            }
            Err(FrameError::TooLarge { len, max }) => {
                prop_assert!(len > max as u64);
                prop_assert_eq!(max, limit.min(MAX_FRAME_LEN));
            }
            Err(_) => {}
        }
    }

    #[test]
    fn frame_header_parse_matches_the_encoder(header in any::<[u8; 8]>()) {
        if let Ok((cmd, len)) = frame::parse_header(&header, MAX_FRAME_LEN) {
            let mut out = Vec::new();
            frame::encode_into(&cmd, &vec![0; len], &mut out).unwrap();
            prop_assert_eq!(&out[..HEADER_LEN], &header[..]);
        }
    }

    #[test]
    fn frames_round_trip_through_any_chunking(
        frames in vec((cmd(), vec(any::<u8>(), 0..600)), 1..5),
        sizes in vec(1usize..700, 1..5),
    ) {
        let mut wire = Vec::new();
        for (cmd, payload) in &frames {
            frame::encode_into(cmd, payload, &mut wire).unwrap();
        }
        let mut src = Chunked { data: &wire, sizes, next: 0 };
        for (cmd, payload) in &frames {
            let f = frame::read_frame(&mut src).unwrap();
            prop_assert_eq!(&f.cmd, cmd);
            prop_assert_eq!(&f.payload, payload);
        }
        prop_assert_eq!(frame::read_frame(&mut src), Err(FrameError::Closed));
    }

    #[test]
    fn hand_parse_never_panics(bytes in vec(any::<u8>(), 0..1100)) {
        let _ = Hand::parse(&bytes);
    }

    #[test]
    fn inner_parse_never_panics(bytes in vec(any::<u8>(), 0..600)) {
        if let Ok(inner) = Inner::parse(&bytes) {
            prop_assert!(inner.validate().is_ok());
        }
    }

    #[test]
    fn inner_parse_never_panics_on_mutated_bodies(
        inner in inner(),
        edits in vec((any::<usize>(), any::<u8>()), 1..4),
    ) {
        let bytes = mutated(encoded(&inner), edits);
        if let Ok(parsed) = Inner::parse(&bytes) {
            // Whatever is accepted is valid and re-encodes to something that parses alike.
            prop_assert!(parsed.validate().is_ok());
            prop_assert_eq!(Inner::parse(&encoded(&parsed)), Ok(parsed));
        }
    }

    #[test]
    fn every_inner_kind_round_trips(inner in inner()) {
        prop_assert!(inner.validate().is_ok());
        prop_assert_eq!(Inner::parse(&encoded(&inner)), Ok(inner));
    }

    #[test]
    fn list_entries_round_trip(entries in vec(list_entry(), 0..=16)) {
        let list = Inner::List(entries);
        prop_assert_eq!(Inner::parse(&encoded(&list)), Ok(list));
    }
}

proptest! {
    // Each case does Ed25519 and X25519 work: fewer cases, still a few seconds in debug.
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn hand_round_trips(seed in any::<[u8; 32]>(), eph in any::<[u8; 32]>(), port in 1u16.., name in name()) {
        let hand = Hand {
            id: SigningKey::from_bytes(&seed).verifying_key().to_bytes(),
            eph,
            port,
            name,
        };
        prop_assert!(hand.check().is_ok());
        let bytes = hand.encode();
        prop_assert!(bytes.len() <= MAX_HAND_LEN, "{} bytes", bytes.len());
        prop_assert_eq!(Hand::parse(&bytes), Ok(hand));
    }

    #[test]
    fn hand_parse_never_panics_on_mutated_hands(
        seed in any::<[u8; 32]>(),
        name in name(),
        edits in vec((any::<usize>(), any::<u8>()), 1..4),
    ) {
        let hand = Hand {
            id: SigningKey::from_bytes(&seed).verifying_key().to_bytes(),
            eph: [7; 32],
            port: 35035,
            name,
        };
        let bytes = mutated(hand.encode(), edits);
        if let Ok(parsed) = Hand::parse(&bytes) {
            prop_assert!(parsed.check().is_ok());
        }
    }

    #[test]
    fn handshakes_complete_between_any_two_identities(
        seeds in any::<([u8; 32], [u8; 32])>(),
        ephs in any::<([u8; 32], [u8; 32])>(),
        names in (name(), name()),
    ) {
        prop_assume!(seeds.0 != seeds.1);
        let (ik, rk) = (SigningKey::from_bytes(&seeds.0), SigningKey::from_bytes(&seeds.1));
        let (ini, hand) = Handshake::initiator(&ik, ephs.0, 1, &names.0).unwrap();
        let res = Handshake::responder(&rk, ephs.1, 2, &names.1).unwrap();
        let (res, from_responder) = match res.on_frame(frame::read_frame(&mut hand.as_slice()).unwrap()).unwrap() {
            Step::Continue(hs, out) => (hs, out),
            Step::Done(_) => unreachable!("responder cannot finish on HAND"),
        };
        let mut wire = from_responder.as_slice();
        let (ini, ini_auth) = match ini.on_frame(frame::read_frame(&mut wire).unwrap()).unwrap() {
            Step::Continue(hs, out) => (hs, out),
            Step::Done(_) => unreachable!(),
        };
        let Step::Done(ini_est) = ini.on_frame(frame::read_frame(&mut wire).unwrap()).unwrap() else {
            unreachable!()
        };
        let Step::Done(res_est) = res.on_frame(frame::read_frame(&mut ini_auth.as_slice()).unwrap()).unwrap() else {
            unreachable!()
        };
        prop_assert_eq!(ini_est.th, res_est.th);
        prop_assert_eq!(ini_est.peer_id, rk.verifying_key().to_bytes());
        prop_assert_eq!(res_est.peer_id, ik.verifying_key().to_bytes());
        prop_assert_eq!((&ini_est.peer_name, &res_est.peer_name), (&names.1, &names.0));
    }

    #[test]
    fn handshake_never_panics_on_arbitrary_frames(
        frames in vec((prop_oneof![Just(frame::HAND), Just(frame::DATA), cmd()], vec(any::<u8>(), 0..300)), 1..4),
        initiator in any::<bool>(),
    ) {
        let key = SigningKey::from_bytes(&[5; 32]);
        let mut hs = Some(if initiator {
            Handshake::initiator(&key, [6; 32], 9, "fuzz").unwrap().0
        } else {
            Handshake::responder(&key, [6; 32], 9, "fuzz").unwrap()
        });
        for (cmd, payload) in frames {
            let Some(current) = hs.take() else { break };
            match current.on_frame(frame::Frame { cmd, payload }) {
                Ok(Step::Continue(next, _)) => hs = Some(next),
                // A forged AUTH would have to break Ed25519: never reached by chance.
                Ok(Step::Done(_)) => prop_assert!(false, "authenticated by random bytes"),
                Err(_) => {}
            }
        }
    }

    #[test]
    fn records_round_trip_in_order(
        okm in prop::array::uniform32(any::<u8>()).prop_map(|a| {
            let mut okm = [0u8; 128];
            for (i, b) in okm.iter_mut().enumerate() { *b = a[i % 32] ^ (i as u8); }
            okm
        }),
        records in vec(vec(any::<u8>(), 0..300), 1..8),
    ) {
        let (mut tx, mut rx) = session_pair(&okm);
        for (i, inner) in records.iter().enumerate() {
            let payload = sealed(&mut tx, inner);
            prop_assert_eq!(&rx.open(&payload).unwrap(), inner);
            prop_assert_eq!(rx.recv_seq(), i as u64 + 1);
        }
    }

    /// SPEC §7 "Verify the tag before decrypting; any failure closes": a single flipped
    /// bit anywhere in a sealed payload (IV, ciphertext or tag) is refused, and the
    /// refusal does not move the receive counter: the untouched record still opens.
    #[test]
    fn any_single_bit_flip_in_a_sealed_record_is_refused(
        okm_byte in any::<u8>(),
        records in vec(vec(any::<u8>(), 0..200), 1..6),
        which in any::<usize>(),
        bit in any::<usize>(),
    ) {
        let okm = [okm_byte; 128];
        let (mut tx, mut rx) = session_pair(&okm);
        let payloads: Vec<Vec<u8>> = records.iter().map(|r| sealed(&mut tx, r)).collect();
        let target = which % payloads.len();
        for (i, payload) in payloads.iter().enumerate() {
            if i == target {
                let mut flipped = payload.clone();
                let bit = bit % (flipped.len() * 8);
                flipped[bit / 8] ^= 1 << (bit % 8);
                let before = rx.recv_seq();
                let err = rx.open(&flipped).unwrap_err();
                prop_assert_eq!(err, RecordError::BadTag);
                prop_assert_eq!(rx.recv_seq(), before, "a refused record must not advance the session");
            }
            prop_assert_eq!(&rx.open(payload).unwrap(), &records[i]);
        }
    }

    /// The implicit sequence number: a replayed or reordered record fails its tag.
    #[test]
    fn replayed_or_reordered_records_are_refused(
        records in vec(vec(any::<u8>(), 0..64), 2..6),
        skip in any::<usize>(),
    ) {
        let (mut tx, mut rx) = session_pair(&[3; 128]);
        let payloads: Vec<Vec<u8>> = records.iter().map(|r| sealed(&mut tx, r)).collect();
        let skip = 1 + skip % (payloads.len() - 1);
        prop_assert_eq!(rx.open(&payloads[skip]), Err(RecordError::BadTag));
        prop_assert_eq!(&rx.open(&payloads[0]).unwrap(), &records[0]);
        prop_assert_eq!(rx.open(&payloads[0]), Err(RecordError::BadTag), "replay");
    }

    #[test]
    fn record_open_never_panics(bytes in vec(any::<u8>(), 0..400)) {
        let (_, mut rx) = session_pair(&[1; 128]);
        prop_assert!(rx.open(&bytes).is_err());
        prop_assert_eq!(rx.recv_seq(), 0);
    }
}
