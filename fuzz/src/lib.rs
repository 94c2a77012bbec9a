//! Fixtures shared by the fuzz targets and by the seed-corpus generator
//! (`tests/fuzz_seeds.rs`, which includes this file with `#[path]`).
//!
//! Everything is deterministic: fixed identities, fixed X25519 ephemeral secrets (the
//! handshake's RNG seam, `Handshake::initiator/responder`), fixed `AUTH` IVs
//! (`with_auth_iv`) and fixed record IVs (`seal_with_iv`). So a recorded session replays
//! byte for byte into a target: the responder target, fed the initiator's recorded
//! bytes, completes the handshake and goes on to open records, which is where the
//! fuzzer should spend its time.
#![allow(dead_code)] // the generator uses some fixtures, each target others

use std::sync::{Arc, OnceLock};

use ed25519_dalek::SigningKey;
use purr::bus::StateHandle;
use purr::conn::handshake::HANDSHAKE_MAX_FRAME;
use purr::http::guard;
use purr::http::request::Request;
use purr::http::{Action, HttpContext};
use purr::peer::addrs;
use purr::peer::files;
use purr::peer::frame::{self, DATA};
use purr::peer::group;
use purr::peer::handshake::{Handshake, Step};
use purr::peer::inner::{Inner, ListEntry, Mess, MsgId};
use purr::peer::session::{Keys, Session, IV_LEN};

/// The UI token of the HTTP target's node (64 hex), also in the recorded requests.
pub const TOKEN: &str = "abababababababababababababababababababababababababababababababab";

/// Ports and names in the recorded `HAND`s.
pub const INITIATOR_PORT: u16 = 35035;
pub const RESPONDER_PORT: u16 = 35036;
pub const INITIATOR_NAME: &str = "alice@fuzz";
pub const RESPONDER_NAME: &str = "bob@fuzz";

pub fn initiator_key() -> SigningKey {
    SigningKey::from_bytes(&[0x49; 32])
}

pub fn responder_key() -> SigningKey {
    SigningKey::from_bytes(&[0x52; 32])
}

const INITIATOR_EPH: [u8; 32] = [0x69; 32];
const RESPONDER_EPH: [u8; 32] = [0x72; 32];

/// The fixed IV of record number `seq` sent by the side whose role byte is `role`.
pub fn iv(role: u8, seq: u8) -> [u8; IV_LEN] {
    let mut iv = [seq; IV_LEN];
    iv[0] = role;
    iv
}

/// The dialling side, and the `HAND` frame it sends first.
pub fn initiator() -> (Handshake, Vec<u8>) {
    let (hs, hand) = Handshake::initiator(
        &initiator_key(),
        INITIATOR_EPH,
        INITIATOR_PORT,
        INITIATOR_NAME,
    )
    .expect("fixture initiator");
    (hs.with_auth_iv(iv(b'I', 0)), hand)
}

/// The accepting side.
pub fn responder() -> Handshake {
    Handshake::responder(
        &responder_key(),
        RESPONDER_EPH,
        RESPONDER_PORT,
        RESPONDER_NAME,
    )
    .expect("fixture responder")
    .with_auth_iv(iv(b'R', 0))
}

/// Fixed session keys for the record target.
pub fn record_keys() -> Keys {
    let okm: [u8; 128] = std::array::from_fn(|i| (i as u8).wrapping_mul(29).wrapping_add(7));
    Keys::from_okm(&okm)
}

/// One message of every inner kind SPEC §7 defines, plus an unknown kind.
pub fn every_inner_kind() -> Vec<Inner> {
    let id = |b: u8| MsgId([b; 16]);
    vec![
        Inner::List(vec![
            ListEntry {
                id: responder_key().verifying_key().to_bytes(),
                addrs: vec![
                    "192.168.1.20:35036".parse().expect("addr"),
                    "[fe80::1%2]:35036".parse().expect("addr"),
                ],
                name: "bob@router".into(),
                kinds: Vec::new(),
            },
            ListEntry {
                id: [0x11; 32],
                addrs: vec![],
                name: "carol".into(),
                kinds: Vec::new(),
            },
        ]),
        Inner::Mess(Mess {
            id: id(0xa1),
            ts: 1_764_115_200_000,
            text: "hello\u{0} мяу 🐱".into(),
        }),
        Inner::Ackn(vec![id(0xa1), id(0xa2)]),
        Inner::Read(vec![id(0xa1)]),
        Inner::Name("alice@kitchen".into()),
        Inner::Ping,
        Inner::Pong,
        Inner::Caps(vec!["read-ack".into(), "some-future-thing".into()]),
        Inner::Rack(vec![id(0xa1)]),
        Inner::FileOffer(files::Offer {
            id: id(0xf1),
            name: "cat.png".into(),
            size: 300_000,
            mime: "image/png".into(),
            chunk: 131_072,
            thumb: Some(vec![0x89, 0x50]),
            caption: Some("look".into()),
        }),
        Inner::FileRequest(files::Request {
            id: id(0xf1),
            have: vec![(0, 1)],
            window: 16,
        }),
        Inner::FileCredit(files::Credit { id: id(0xf1), n: 1 }),
        Inner::FileChunk(files::Chunk {
            id: id(0xf1),
            index: 1,
            hash: [0x5a; 32],
            data: b"chunk bytes".to_vec(),
        }),
        Inner::FileEnd(files::End {
            id: id(0xf1),
            root: [0xa5; 32],
        }),
        Inner::FileDone(files::Done { id: id(0xf1) }),
        Inner::FileCancel(files::Cancel {
            id: id(0xf1),
            reason: "declined".into(),
        }),
        // Groups: a first roster signed by its owner (the initiator) and a message by it.
        Inner::GroupRoster(Box::new(first_roster())),
        Inner::GroupMsg(Box::new(
            group::GroupMsg {
                group: GROUP,
                id: id(0xb1),
                author: initiator_key().verifying_key().to_bytes(),
                seq: 1,
                lamport: 2,
                roster: 1,
                ts: 1_764_115_200_000,
                text: "hello, group".into(),
                sig: [0; 64],
            }
            .sign(&initiator_key()),
        )),
        Inner::GroupSync(group::Summary {
            group: GROUP,
            v: 1,
            have: vec![(group::Author(initiator_key().verifying_key().to_bytes()), 1)],
        }),
        Inner::GroupInvite(group::Invite {
            group: GROUP,
            name: "lab".into(),
            owner: group::Author(initiator_key().verifying_key().to_bytes()),
        }),
        Inner::GroupAccept(group::GroupRef { group: GROUP }),
        Inner::GroupDecline(group::GroupRef { group: GROUP }),
        Inner::GroupReceipt(group::Receipt {
            group: GROUP,
            delivered: 2,
            read: 1,
        }),
        Inner::GroupLeave(Box::new(group::Leave::sign(
            GROUP,
            responder_key().verifying_key().to_bytes(),
            1,
            &responder_key(),
        ))),
        Inner::Addr(addrs::Addrs {
            addrs: vec![
                addrs::Announced {
                    addr: "192.168.1.20:35036".parse().expect("addr"),
                    kind: addrs::AddrKind::Lan,
                },
                addrs::Announced {
                    addr: "100.101.1.2:35036".parse().expect("addr"),
                    kind: addrs::AddrKind::Vpn,
                },
            ],
        }),
        Inner::ReachAsk(purr::peer::reach::Ask {
            nonce: [0x52; 16],
            ts: 1_733_370_000_000,
            addrs: vec!["10.0.0.1:35035".parse().expect("address")],
        }),
        Inner::ReachAnswer(purr::peer::reach::Answer {
            nonce: [0x52; 16],
            ts: 1_733_370_000_100,
            results: vec![purr::peer::reach::Tried {
                addr: "10.0.0.1:35035".parse().expect("address"),
                outcome: purr::peer::reach::Outcome::TimedOut,
                ms: 3000,
            }],
        }),
        Inner::Unknown(*b"XTRA"),
    ]
}

/// The fixtures' group.
const GROUP: group::GroupId = group::GroupId([0x6c; 16]);

/// Version 1 of [`GROUP`]'s roster: the initiator owns it, the responder is a member.
fn first_roster() -> group::SignedRoster {
    let owner = initiator_key().verifying_key().to_bytes();
    let mut members = vec![owner, responder_key().verifying_key().to_bytes()];
    members.sort();
    group::Roster {
        group: GROUP,
        version: 1,
        lamport: 1,
        signer: owner,
        owner,
        prev: [0; 32],
        name: "lab".into(),
        members,
    }
    .sign(&initiator_key())
}

/// Appends `inner` sealed as a `DATA` frame with a fixed IV.
pub fn seal(session: &mut Session, role: u8, inner: &Inner, out: &mut Vec<u8>) {
    let mut plain = Vec::new();
    inner.encode(&mut plain);
    let seq = u8::try_from(session.send_seq()).expect("few records");
    session
        .seal_with_iv(&plain, &iv(role, seq), out)
        .expect("seal");
}

/// What a connection thread does with the bytes from a peer: the handshake (frames at
/// most [`HANDSHAKE_MAX_FRAME`]), then records until the first error. `expected_peer` is
/// the only id that can ever authenticate (only the fixtures hold the secret keys).
pub fn drive(mut hs: Handshake, expected_peer: [u8; 32], mut input: &[u8]) {
    let mut session = loop {
        let Ok(frame) = frame::read_frame_limited(&mut input, HANDSHAKE_MAX_FRAME) else {
            return;
        };
        match hs.on_frame(frame) {
            Ok(Step::Continue(next, _out)) => hs = next,
            Ok(Step::Done(est)) => {
                assert_eq!(est.peer_id, expected_peer, "a forged AUTH was accepted");
                break est.session;
            }
            Err(_) => return,
        }
    };
    open_records(&mut session, input);
}

/// Reads `DATA` frames from `input` and opens and parses each, as the connection reader
/// does, stopping at the first failure (which closes a real connection).
pub fn open_records(session: &mut Session, mut input: &[u8]) {
    while let Ok(frame) = frame::read_frame(&mut input) {
        if frame.cmd != DATA {
            return;
        }
        let before = session.recv_seq();
        let Ok(plain) = session.open(&frame.payload) else {
            assert_eq!(
                session.recv_seq(),
                before,
                "a refused record advanced the session"
            );
            return;
        };
        assert_eq!(session.recv_seq(), before + 1);
        match Inner::parse(&plain) {
            Ok(Inner::Auth(_)) | Err(_) => return,
            Ok(inner) => check_inner_round_trip(&inner),
        }
    }
}

/// Whatever `Inner::parse` accepts is valid and survives encode → parse unchanged.
pub fn check_inner_round_trip(inner: &Inner) {
    assert_eq!(inner.validate(), Ok(()));
    let mut again = Vec::new();
    inner.encode(&mut again);
    assert_eq!(Inner::parse(&again).as_ref(), Ok(inner));
}

/// The HTTP target's context: a token and a state handle whose commands are dropped by
/// a thread, so API requests get their `503` at once instead of waiting for a node.
pub fn http_context() -> &'static HttpContext {
    static CTX: OnceLock<HttpContext> = OnceLock::new();
    CTX.get_or_init(|| {
        let (state, rx) = StateHandle::detached();
        std::thread::spawn(move || for _ in rx {});
        HttpContext {
            state,
            token: Some(Arc::from(TOKEN)),
            files_dir: Arc::from(std::path::Path::new("/nonexistent/purr-files")),
        }
    })
}

/// Routes `req` and checks the guards of SPEC §3 held for anything that got through.
pub fn route_checked(req: &Request) {
    let ctx = http_context();
    let presented_ok = guard::presented_token(req).is_some_and(|t| t == TOKEN);
    match purr::http::route(req, ctx) {
        Action::File(_) => {
            assert!(guard::host_ok(req.header("host")), "a file with a bad Host");
            assert!(presented_ok, "a file without the token");
        }
        Action::WebSocket => {
            assert!(
                guard::host_ok(req.header("host")),
                "WebSocket with a bad Host"
            );
            assert!(presented_ok, "WebSocket without the token");
            assert!(
                guard::origin_ok(req.header("origin"), req.header("host")),
                "WebSocket from a foreign Origin"
            );
        }
        Action::Respond(resp) => {
            let _ = resp.to_bytes(req.method == "HEAD", req.wants_close());
            if resp.status < 400 {
                assert!(
                    guard::host_ok(req.header("host")),
                    "{} with a bad Host",
                    resp.status
                );
                let login = resp.status == 303 && req.query_param("token") == Some(TOKEN);
                assert!(login || presented_ok, "{} without the token", resp.status);
            }
        }
    }
}
