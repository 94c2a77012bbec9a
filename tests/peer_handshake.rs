//! The handshake state machine, in memory with both roles, against honest peers and
//! against a forger that builds frames from the public primitives.

use ed25519_dalek::SigningKey;
use purr::peer::auth;
use purr::peer::frame::{self, Frame, DATA, HAND};
use purr::peer::hand::{Hand, HandError};
use purr::peer::handshake::{Established, Handshake, HandshakeError, Step};
use purr::peer::inner::{Inner, InnerError, Mess, MsgId, NameError};
use purr::peer::session::{Keys, RecordError, Role, Session};
use x25519_dalek::{PublicKey, StaticSecret};

fn alice() -> SigningKey {
    SigningKey::from_bytes(&[0xa1; 32])
}

fn bob() -> SigningKey {
    SigningKey::from_bytes(&[0xb0; 32])
}

fn mallory() -> SigningKey {
    SigningKey::from_bytes(&[0x66; 32])
}

fn id(key: &SigningKey) -> [u8; 32] {
    key.verifying_key().to_bytes()
}

/// Splits concatenated frames.
fn frames(mut bytes: &[u8]) -> Vec<Frame> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        out.push(frame::read_frame(&mut bytes).unwrap());
    }
    out
}

fn hand_frame(payload: &[u8]) -> Frame {
    Frame {
        cmd: HAND,
        payload: payload.to_vec(),
    }
}

fn cont(step: Step) -> (Handshake, Vec<Frame>) {
    match step {
        Step::Continue(hs, out) => (hs, frames(&out)),
        Step::Done(_) => panic!("finished too early"),
    }
}

fn done(step: Step) -> Established {
    match step {
        Step::Done(est) => est,
        Step::Continue(..) => panic!("not finished"),
    }
}

/// An initiator (alice) and its HAND payload.
fn initiator() -> (Handshake, Vec<u8>) {
    let (hs, first) = Handshake::initiator(&alice(), [0x11; 32], 35035, "alice").unwrap();
    let hand = frames(&first).remove(0).payload;
    (hs, hand)
}

fn responder() -> Handshake {
    Handshake::responder(&bob(), [0x22; 32], 35036, "bob").unwrap()
}

/// Runs a full in-memory handshake; returns (initiator's, responder's) result.
fn handshake(init: (Handshake, Vec<u8>), resp: Handshake) -> (Established, Established) {
    let (init, hand) = init;
    let (resp, out_r) = cont(resp.on_frame(hand_frame(&hand)).unwrap());
    let [resp_hand, resp_auth] = <[Frame; 2]>::try_from(out_r).unwrap();
    let (init, out_i) = cont(init.on_frame(resp_hand).unwrap());
    let est_i = done(init.on_frame(resp_auth).unwrap());
    let est_r = done(resp.on_frame(out_i.into_iter().next().unwrap()).unwrap());
    (est_i, est_r)
}

/// Builds frames by hand from the public primitives, with any HAND content and any
/// signing key: the peer an attacker (or a buggy implementation) would be.
struct Forger {
    eph: [u8; 32],
    hand: Hand,
}

impl Forger {
    fn claiming(id: [u8; 32]) -> Forger {
        let eph = [0x77; 32];
        let hand = Hand {
            id,
            eph: PublicKey::from(&StaticSecret::from(eph)).to_bytes(),
            port: 4000,
            name: "forger".into(),
        };
        Forger { eph, hand }
    }

    /// The forger's session and transcript hash when it plays `role` against a peer
    /// that sent `peer_hand`.
    fn session(&self, role: Role, peer_hand: &[u8]) -> (Session, [u8; 32]) {
        let own = self.hand.encode();
        let th = match role {
            Role::Initiator => auth::transcript_hash(&own, peer_hand),
            Role::Responder => auth::transcript_hash(peer_hand, &own),
        };
        let peer_eph = Hand::parse(peer_hand).unwrap().eph;
        let shared = auth::x25519_shared(&StaticSecret::from(self.eph), &peer_eph).unwrap();
        let keys = Keys::derive(&th, &shared).unwrap();
        (Session::new(&keys, role), th)
    }
}

fn data(session: &mut Session, inner: &Inner) -> Frame {
    let mut plain = Vec::new();
    inner.encode(&mut plain);
    sealed(session, &plain)
}

fn sealed(session: &mut Session, plain: &[u8]) -> Frame {
    let mut wire = Vec::new();
    session.seal(plain, &mut wire).unwrap();
    frames(&wire).remove(0)
}

/// A forged responder answers a real initiator with its HAND and the first record
/// `first(session, th)`; returns what the initiator makes of that record.
fn against_initiator(
    forger: &Forger,
    first: impl FnOnce(&mut Session, &[u8; 32]) -> Frame,
) -> Result<Step, HandshakeError> {
    let (init, init_hand) = initiator();
    let (mut session, th) = forger.session(Role::Responder, &init_hand);
    let (init, _auth) = cont(init.on_frame(hand_frame(&forger.hand.encode()))?);
    init.on_frame(first(&mut session, &th))
}

/// A forged initiator against a real responder, symmetric to [`against_initiator`].
fn against_responder(
    forger: &Forger,
    first: impl FnOnce(&mut Session, &[u8; 32]) -> Frame,
) -> Result<Step, HandshakeError> {
    let own = forger.hand.encode();
    let (resp, out) = cont(responder().on_frame(hand_frame(&own))?);
    let (mut session, th) = forger.session(Role::Initiator, &out[0].payload);
    resp.on_frame(first(&mut session, &th))
}

#[test]
fn honest_peers_agree_and_exchange_records_both_ways() {
    let (mut a, mut b) = handshake(initiator(), responder());
    assert_eq!((a.peer_id, b.peer_id), (id(&bob()), id(&alice())));
    assert_eq!((a.peer_name.as_str(), a.peer_port), ("bob", 35036));
    assert_eq!((b.peer_name.as_str(), b.peer_port), ("alice", 35035));
    assert_eq!((a.role, b.role), (Role::Initiator, Role::Responder));
    assert_eq!(a.th, b.th);
    // AUTH used seq 0 in each direction.
    assert_eq!((a.session.send_seq(), a.session.recv_seq()), (1, 1));

    let mess = Inner::Mess(Mess {
        id: MsgId([1; 16]),
        ts: 5,
        text: "hi bob".into(),
    });
    let to_b = data(&mut a.session, &mess);
    assert_eq!(
        Inner::parse(&b.session.open(&to_b.payload).unwrap()),
        Ok(mess)
    );
    let to_a = data(&mut b.session, &Inner::Ackn(vec![MsgId([1; 16])]));
    let ackn = Inner::parse(&a.session.open(&to_a.payload).unwrap());
    assert_eq!(ackn, Ok(Inner::Ackn(vec![MsgId([1; 16])])));
}

#[test]
fn roles_swapped_also_succeed() {
    let init = Handshake::initiator(&bob(), [3; 32], 9, "bob").unwrap();
    let init = (init.0, frames(&init.1).remove(0).payload);
    let resp = Handshake::responder(&alice(), [4; 32], 8, "alice").unwrap();
    let (b, a) = handshake(init, resp);
    assert_eq!((b.peer_id, a.peer_id), (id(&alice()), id(&bob())));
}

#[test]
fn random_ephemerals_give_fresh_keys_per_connection() {
    let run = || {
        let (hs, first) = Handshake::initiator_random(&alice(), 1, "a").unwrap();
        let resp = Handshake::responder_random(&bob(), 2, "b").unwrap();
        handshake((hs, frames(&first).remove(0).payload), resp)
    };
    let (first, _) = run();
    let (second, _) = run();
    assert_ne!(first.th, second.th);
}

#[test]
fn impersonation_is_refused_in_both_directions() {
    // Claims bob's id, signs with mallory's key.
    let forger = Forger::claiming(id(&bob()));
    let auth = |role: Role| {
        move |s: &mut Session, th: &[u8; 32]| {
            data(s, &Inner::Auth(auth::sign_auth(&mallory(), role, th)))
        }
    };
    let bad = HandshakeError::BadAuthSignature { peer: id(&bob()) };
    assert_eq!(
        against_initiator(&forger, auth(Role::Responder)).err(),
        Some(bad.clone())
    );
    assert_eq!(
        against_responder(&forger, auth(Role::Initiator)).err(),
        Some(bad)
    );
}

#[test]
fn the_same_forger_with_the_right_key_is_accepted() {
    // Control for the forgery tests: the harness itself produces acceptable frames.
    let forger = Forger::claiming(id(&mallory()));
    let step = against_initiator(&forger, |s, th| {
        data(
            s,
            &Inner::Auth(auth::sign_auth(&mallory(), Role::Responder, th)),
        )
    });
    assert_eq!(done(step.unwrap()).peer_id, id(&mallory()));
}

#[test]
fn auth_is_bound_to_role_and_transcript() {
    let forger = Forger::claiming(id(&mallory()));
    let bad = Some(HandshakeError::BadAuthSignature {
        peer: id(&mallory()),
    });
    // Signed as the wrong role (a reflected initiator AUTH).
    let wrong_role = against_initiator(&forger, |s, th| {
        data(
            s,
            &Inner::Auth(auth::sign_auth(&mallory(), Role::Initiator, th)),
        )
    });
    assert_eq!(wrong_role.err(), bad);
    // A genuine signature from another connection (another th).
    let replayed = against_initiator(&forger, |s, _| {
        data(
            s,
            &Inner::Auth(auth::sign_auth(&mallory(), Role::Responder, &[0; 32])),
        )
    });
    assert_eq!(replayed.err(), bad);
}

#[test]
fn first_record_must_be_auth() {
    let forger = Forger::claiming(id(&mallory()));
    let mess = Inner::Mess(Mess {
        id: MsgId([0; 16]),
        ts: 0,
        text: "hi".into(),
    });
    let got = against_initiator(&forger, |s, _| data(s, &mess));
    assert_eq!(
        got.err(),
        Some(HandshakeError::ExpectedAuth { got: *b"MESS" })
    );
    let got = against_responder(&forger, |s, _| data(s, &Inner::Ping));
    assert_eq!(
        got.err(),
        Some(HandshakeError::ExpectedAuth { got: *b"PING" })
    );
    let got = against_responder(&forger, |s, _| sealed(s, b"AUTHshort"));
    assert_eq!(
        got.err(),
        Some(HandshakeError::Inner(InnerError::AuthLength { len: 5 }))
    );
    let garbage = Frame {
        cmd: DATA,
        payload: vec![0; 64],
    };
    let got = against_initiator(&forger, |_, _| garbage);
    assert_eq!(got.err(), Some(HandshakeError::Record(RecordError::BadTag)));
}

#[test]
fn low_order_ephemeral_keys_are_refused() {
    let low_order: [[u8; 32]; 3] = [
        [0; 32],
        {
            let mut one = [0; 32];
            one[0] = 1;
            one
        },
        // A point of order 8 on Curve25519.
        purr::hex::decode_array("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800")
            .unwrap(),
    ];
    for eph in low_order {
        let mut forger = Forger::claiming(id(&mallory()));
        forger.hand.eph = eph;
        let to_responder = responder().on_frame(hand_frame(&forger.hand.encode()));
        assert_eq!(to_responder.err(), Some(HandshakeError::LowOrderEphemeral));
        let (init, _) = initiator();
        let to_initiator = init.on_frame(hand_frame(&forger.hand.encode()));
        assert_eq!(to_initiator.err(), Some(HandshakeError::LowOrderEphemeral));
    }
}

/// A valid HAND payload as JSON text, for editing.
fn hand_text() -> String {
    String::from_utf8(Forger::claiming(id(&mallory())).hand.encode()).unwrap()
}

fn hand_error(payload: &[u8]) -> Option<HandshakeError> {
    responder().on_frame(hand_frame(payload)).err()
}

#[test]
fn malformed_hands_are_refused() {
    let text = hand_text();
    let ok_id = purr::hex::encode(&id(&mallory()));
    let ok_eph = purr::hex::encode(&Forger::claiming(id(&mallory())).hand.eph);
    let bad_eph = format!("g{}", &ok_eph[1..]);
    let cases: Vec<(String, HandError)> = vec![
        (
            text.replace(r#""v":1"#, r#""v":2"#),
            HandError::UnsupportedVersion(2),
        ),
        (
            text.replace(&ok_id, &ok_id.to_uppercase()),
            HandError::BadHex { field: "id" },
        ),
        (
            text.replace(&ok_id, &ok_id[..62]),
            HandError::BadHex { field: "id" },
        ),
        (
            text.replace(&ok_eph, &bad_eph),
            HandError::BadHex { field: "eph" },
        ),
        (text.replace(":4000,", ":0,"), HandError::BadPort(0)),
        (text.replace(":4000,", ":65536,"), HandError::BadPort(65536)),
        (
            text.replace("forger", ""),
            HandError::BadName(NameError::Empty),
        ),
        (
            text.replace("forger", &"n".repeat(65)),
            HandError::BadName(NameError::TooLong { chars: 65 }),
        ),
        (
            text.replace("forger", "a\\nb"),
            HandError::BadName(NameError::Control),
        ),
    ];
    for (payload, expected) in cases {
        assert_eq!(
            hand_error(payload.as_bytes()),
            Some(HandshakeError::Hand(expected)),
            "{payload}"
        );
    }
    for not_json in [
        "",
        "not json",
        "[1]",
        r#"{"v":1}"#,
        &text.replace(":4000", ":\"4000\""),
    ] {
        assert!(
            matches!(
                hand_error(not_json.as_bytes()),
                Some(HandshakeError::Hand(HandError::NotJson(_)))
            ),
            "{not_json}"
        );
    }
}

#[test]
fn hand_size_limit_is_one_kib_inclusive() {
    let text = hand_text();
    let pad = 1024 - text.len() - r#","pad":"""#.len();
    let at_limit = text.replacen('}', &format!(r#","pad":"{}"}}"#, "x".repeat(pad)), 1);
    assert_eq!(at_limit.len(), 1024);
    assert!(responder()
        .on_frame(hand_frame(at_limit.as_bytes()))
        .is_ok());
    let over = at_limit.replacen("xx", "xxx", 1);
    assert_eq!(
        hand_error(over.as_bytes()),
        Some(HandshakeError::Hand(HandError::TooLarge { len: 1025 }))
    );
}

#[test]
fn frames_out_of_place_are_refused() {
    let unexpected = |cmd: [u8; 4], state| Some(HandshakeError::UnexpectedFrame { cmd, state });
    let ping = Frame {
        cmd: *b"PING",
        payload: vec![],
    };
    assert_eq!(
        responder().on_frame(ping.clone()).err(),
        unexpected(*b"PING", "awaiting HAND")
    );
    let early_data = Frame {
        cmd: DATA,
        payload: vec![0; 64],
    };
    assert_eq!(
        responder().on_frame(early_data.clone()).err(),
        unexpected(DATA, "awaiting HAND")
    );
    assert_eq!(
        initiator().0.on_frame(early_data).err(),
        unexpected(DATA, "awaiting HAND")
    );

    // A second HAND from the initiator, where its AUTH should be.
    let (_, init_hand) = initiator();
    let (resp, _) = cont(responder().on_frame(hand_frame(&init_hand)).unwrap());
    assert_eq!(
        resp.on_frame(hand_frame(&init_hand)).err(),
        unexpected(HAND, "awaiting AUTH")
    );
    // Any other command in that state.
    let (resp, _) = cont(responder().on_frame(hand_frame(&init_hand)).unwrap());
    assert_eq!(
        resp.on_frame(ping).err(),
        unexpected(*b"PING", "awaiting AUTH")
    );
}

#[test]
fn connecting_to_ourselves_is_reported_after_auth() {
    let (init, first) = Handshake::initiator(&alice(), [5; 32], 1, "me").unwrap();
    let resp = Handshake::responder(&alice(), [6; 32], 1, "me").unwrap();
    let (resp, out_r) = cont(resp.on_frame(frames(&first).remove(0)).unwrap());
    let [hand, auth] = <[Frame; 2]>::try_from(out_r).unwrap();
    let (init, out_i) = cont(init.on_frame(hand).unwrap());
    assert_eq!(
        init.on_frame(auth).err(),
        Some(HandshakeError::SelfConnection)
    );
    let own_auth = out_i.into_iter().next().unwrap();
    assert_eq!(
        resp.on_frame(own_auth).err(),
        Some(HandshakeError::SelfConnection)
    );
}

#[test]
fn forged_self_id_is_an_auth_failure_not_a_self_connection() {
    let forger = Forger::claiming(id(&alice()));
    let step = against_initiator(&forger, |s, th| {
        data(
            s,
            &Inner::Auth(auth::sign_auth(&mallory(), Role::Responder, th)),
        )
    });
    assert_eq!(
        step.err(),
        Some(HandshakeError::BadAuthSignature { peer: id(&alice()) })
    );
}

#[test]
fn bad_local_configuration_is_refused() {
    let err = Handshake::initiator(&alice(), [1; 32], 0, "a").err();
    assert_eq!(err, Some(HandshakeError::Local(HandError::BadPort(0))));
    let err = Handshake::responder(&alice(), [1; 32], 1, &"x".repeat(65)).err();
    assert_eq!(
        err,
        Some(HandshakeError::Local(HandError::BadName(
            NameError::TooLong { chars: 65 }
        )))
    );
}
