//! Known-answer vectors for purr/1 from an independent implementation
//! (`tests/vectors/purr1.json`, a copy of `shared/vectors/purr1.json`). Every value in
//! the file except the fingerprint (not part of the peer core) is reproduced byte for
//! byte, once from the individual steps and once by running the state machine.

use ed25519_dalek::SigningKey;
use purr::peer::auth;
use purr::peer::frame::{self, DATA, HAND};
use purr::peer::hand::Hand;
use purr::peer::handshake::{Handshake, Step};
use purr::peer::inner::{Inner, Mess, MsgId};
use purr::peer::session::{self, Keys, Role, Session};
use serde_json::Value;
use x25519_dalek::{PublicKey, StaticSecret};

const VECTORS: &str = include_str!("vectors/purr1.json");

// Port and name are not separate fields in the file; they are visible in the decoded
// hand_payload values: {"v":1,...,"port":35035,"name":"alice@pi"} and 35036/"bob@router".
const INITIATOR_PORT: u16 = 35035;
const INITIATOR_NAME: &str = "alice@pi";
const RESPONDER_PORT: u16 = 35036;
const RESPONDER_NAME: &str = "bob@router";

struct V(Value);

impl V {
    fn load() -> V {
        V(serde_json::from_str(VECTORS).expect("vector file is JSON"))
    }

    fn bytes(&self, path: &str) -> Vec<u8> {
        let value = path
            .split('.')
            .fold(&self.0, |v, key| &v[key])
            .as_str()
            .unwrap_or_else(|| panic!("no string at {path}"));
        assert!(purr::hex::is_lower_hex(value, value.len()), "{path}");
        (0..value.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&value[i..i + 2], 16).unwrap())
            .collect()
    }

    fn array<const N: usize>(&self, path: &str) -> [u8; N] {
        self.bytes(path)
            .try_into()
            .unwrap_or_else(|_| panic!("{path} is not {N} bytes"))
    }
}

struct Side {
    identity: SigningKey,
    eph: [u8; 32],
    port: u16,
    name: &'static str,
}

fn sides(v: &V) -> (Side, Side) {
    let initiator = Side {
        identity: SigningKey::from_bytes(&v.array("initiator.identity_secret")),
        eph: v.array("initiator.ephemeral_secret"),
        port: INITIATOR_PORT,
        name: INITIATOR_NAME,
    };
    let responder = Side {
        identity: SigningKey::from_bytes(&v.array("responder.identity_secret")),
        eph: v.array("responder.ephemeral_secret"),
        port: RESPONDER_PORT,
        name: RESPONDER_NAME,
    };
    (initiator, responder)
}

fn hand_of(side: &Side) -> Hand {
    Hand {
        id: side.identity.verifying_key().to_bytes(),
        eph: PublicKey::from(&StaticSecret::from(side.eph)).to_bytes(),
        port: side.port,
        name: side.name.to_owned(),
    }
}

fn mess() -> Mess {
    Mess {
        id: "00112233445566778899aabbccddeeff".parse::<MsgId>().unwrap(),
        ts: 1_764_115_200_000,
        text: "hello\0 мяу 🐱".to_owned(),
    }
}

fn encoded(inner: &Inner) -> Vec<u8> {
    let mut out = Vec::new();
    inner.encode(&mut out);
    out
}

fn hand_frame(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    frame::encode_into(&HAND, payload, &mut out).unwrap();
    out
}

fn payload_of(frame_bytes: &[u8]) -> Vec<u8> {
    let frame = frame::read_frame(&mut &frame_bytes[..]).unwrap();
    assert_eq!(frame.cmd, DATA);
    frame.payload
}

#[test]
fn identities_and_ephemeral_keys() {
    let v = V::load();
    let (i, r) = sides(&v);
    assert_eq!(
        i.identity.verifying_key().to_bytes().to_vec(),
        v.bytes("initiator.id")
    );
    assert_eq!(
        r.identity.verifying_key().to_bytes().to_vec(),
        v.bytes("responder.id")
    );
    assert_eq!(
        hand_of(&i).eph.to_vec(),
        v.bytes("initiator.ephemeral_public")
    );
    assert_eq!(
        hand_of(&r).eph.to_vec(),
        v.bytes("responder.ephemeral_public")
    );
}

#[test]
fn hand_payloads_encode_and_parse() {
    let v = V::load();
    let (i, r) = sides(&v);
    for (side, path) in [
        (&i, "initiator.hand_payload"),
        (&r, "responder.hand_payload"),
    ] {
        assert_eq!(hand_of(side).encode(), v.bytes(path), "{path}");
        assert_eq!(Hand::parse(&v.bytes(path)), Ok(hand_of(side)), "{path}");
    }
}

#[test]
fn transcript_shared_secret_okm_and_keys() {
    let v = V::load();
    let (i, r) = sides(&v);
    let th = auth::transcript_hash(
        &v.bytes("initiator.hand_payload"),
        &v.bytes("responder.hand_payload"),
    );
    assert_eq!(th.to_vec(), v.bytes("transcript_hash"));

    let from_i = auth::x25519_shared(&StaticSecret::from(i.eph), &hand_of(&r).eph).unwrap();
    let from_r = auth::x25519_shared(&StaticSecret::from(r.eph), &hand_of(&i).eph).unwrap();
    assert_eq!(from_i.to_vec(), v.bytes("x25519_shared"));
    assert_eq!(from_r.to_vec(), v.bytes("x25519_shared"));

    let okm = session::hkdf_okm(&th, &from_i).unwrap();
    assert_eq!(okm.to_vec(), v.bytes("hkdf_okm"));
    let keys = Keys::derive(&th, &from_i).unwrap();
    assert_eq!(keys.i2r_enc.to_vec(), v.bytes("keys.i2r_enc"));
    assert_eq!(keys.i2r_mac.to_vec(), v.bytes("keys.i2r_mac"));
    assert_eq!(keys.r2i_enc.to_vec(), v.bytes("keys.r2i_enc"));
    assert_eq!(keys.r2i_mac.to_vec(), v.bytes("keys.r2i_mac"));
}

#[test]
fn auth_signatures() {
    let v = V::load();
    let (i, r) = sides(&v);
    let th = v.array("transcript_hash");
    let sig_i = auth::sign_auth(&i.identity, Role::Initiator, &th);
    let sig_r = auth::sign_auth(&r.identity, Role::Responder, &th);
    assert_eq!(sig_i.to_vec(), v.bytes("initiator_auth_signature"));
    assert_eq!(sig_r.to_vec(), v.bytes("responder_auth_signature"));
    let id_i = v.array("initiator.id");
    let id_r = v.array("responder.id");
    assert_eq!(
        auth::verify_auth(&id_i, Role::Initiator, &th, &sig_i),
        Ok(())
    );
    assert_eq!(
        auth::verify_auth(&id_r, Role::Responder, &th, &sig_r),
        Ok(())
    );
    // The role byte is bound: the initiator's signature is no responder signature.
    assert!(auth::verify_auth(&id_i, Role::Responder, &th, &sig_i).is_err());
}

#[test]
fn mess_inner_body() {
    let v = V::load();
    let mut expected = b"MESS".to_vec();
    expected.extend(v.bytes("mess_inner_body"));
    assert_eq!(encoded(&Inner::Mess(mess())), expected);
    assert_eq!(Inner::parse(&expected), Ok(Inner::Mess(mess())));
}

#[test]
fn data_frames_seal_and_open() {
    let v = V::load();
    let keys = Keys::from_okm(&v.array("hkdf_okm"));
    let mut initiator = Session::new(&keys, Role::Initiator);
    let mut responder = Session::new(&keys, Role::Responder);
    let auth_i = Inner::Auth(v.array("initiator_auth_signature"));
    let auth_r = Inner::Auth(v.array("responder_auth_signature"));

    let mut out = Vec::new();
    let iv = v.array("records.initiator_auth_seq0.iv");
    initiator
        .seal_with_iv(&encoded(&auth_i), &iv, &mut out)
        .unwrap();
    assert_eq!(out, v.bytes("records.initiator_auth_seq0.frame"));

    out.clear();
    let iv = v.array("records.responder_auth_seq0.iv");
    responder
        .seal_with_iv(&encoded(&auth_r), &iv, &mut out)
        .unwrap();
    assert_eq!(out, v.bytes("records.responder_auth_seq0.frame"));

    out.clear();
    let iv = v.array("records.initiator_mess_seq1.iv");
    initiator
        .seal_with_iv(&encoded(&Inner::Mess(mess())), &iv, &mut out)
        .unwrap();
    assert_eq!(out, v.bytes("records.initiator_mess_seq1.frame"));

    // And each opens on the other side, in order.
    let opened = |s: &mut Session, path: &str| {
        Inner::parse(&s.open(&payload_of(&v.bytes(path))).unwrap()).unwrap()
    };
    assert_eq!(
        opened(&mut responder, "records.initiator_auth_seq0.frame"),
        auth_i
    );
    assert_eq!(
        opened(&mut initiator, "records.responder_auth_seq0.frame"),
        auth_r
    );
    assert_eq!(
        opened(&mut responder, "records.initiator_mess_seq1.frame"),
        Inner::Mess(mess())
    );
}

/// The state machine itself, fed the vector inputs, emits exactly the vector bytes.
#[test]
fn state_machine_reproduces_every_frame() {
    let v = V::load();
    let (i, r) = sides(&v);
    let (init, first) = Handshake::initiator(&i.identity, i.eph, i.port, i.name).unwrap();
    let init = init.with_auth_iv(v.array("records.initiator_auth_seq0.iv"));
    let resp = Handshake::responder(&r.identity, r.eph, r.port, r.name)
        .unwrap()
        .with_auth_iv(v.array("records.responder_auth_seq0.iv"));
    assert_eq!(first, hand_frame(&v.bytes("initiator.hand_payload")));

    let Step::Continue(resp, out_r) = resp.on_frame(read(&first)).unwrap() else {
        panic!("responder finished early")
    };
    let mut expected_r = hand_frame(&v.bytes("responder.hand_payload"));
    expected_r.extend(v.bytes("records.responder_auth_seq0.frame"));
    assert_eq!(out_r, expected_r);

    let (resp_hand, resp_auth) = split_frame(&out_r);
    let Step::Continue(init, out_i) = init.on_frame(resp_hand).unwrap() else {
        panic!("initiator finished early")
    };
    assert_eq!(out_i, v.bytes("records.initiator_auth_seq0.frame"));

    let Step::Done(mut est_i) = init.on_frame(resp_auth).unwrap() else {
        panic!("initiator not done")
    };
    let Step::Done(est_r) = resp.on_frame(read(&out_i)).unwrap() else {
        panic!("responder not done")
    };
    assert_eq!(est_i.th.to_vec(), v.bytes("transcript_hash"));
    assert_eq!(est_r.th, est_i.th);
    assert_eq!(est_i.peer_id.to_vec(), v.bytes("responder.id"));
    assert_eq!(est_r.peer_id.to_vec(), v.bytes("initiator.id"));
    assert_eq!(
        (est_i.peer_port, est_i.peer_name.as_str()),
        (RESPONDER_PORT, RESPONDER_NAME)
    );
    assert_eq!(
        (est_r.peer_port, est_r.peer_name.as_str()),
        (INITIATOR_PORT, INITIATOR_NAME)
    );

    let mut out = Vec::new();
    let iv = v.array("records.initiator_mess_seq1.iv");
    est_i
        .session
        .seal_with_iv(&encoded(&Inner::Mess(mess())), &iv, &mut out)
        .unwrap();
    assert_eq!(out, v.bytes("records.initiator_mess_seq1.frame"));
}

fn read(bytes: &[u8]) -> frame::Frame {
    frame::read_frame(&mut &bytes[..]).unwrap()
}

fn split_frame(bytes: &[u8]) -> (frame::Frame, frame::Frame) {
    let mut rest = bytes;
    let first = frame::read_frame(&mut rest).unwrap();
    let second = frame::read_frame(&mut rest).unwrap();
    assert!(rest.is_empty());
    (first, second)
}
