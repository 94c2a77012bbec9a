//! Handshake benchmark: complete `purr/1` handshakes (both roles, in memory, one core)
//! per second, against the cost of the primitive operations they are made of, measured
//! by this program in the same run.
//!
//! One complete handshake is: `Handshake::initiator` and `Handshake::responder` (each
//! derives its X25519 public key), the responder answers the initiator's `HAND` with its
//! own `HAND` and `AUTH` record, the initiator verifies that `AUTH` and sends its own, the
//! responder verifies it. Frames are passed as bytes through `frame::read_frame`, exactly
//! as the blocking driver does, just without a socket.
//!
//! The primitive baseline per complete handshake is, for each of the two sides: 2 X25519
//! (public key from the ephemeral secret, shared secret), 1 Ed25519 sign, 1 Ed25519
//! strict verify from the 32-byte key on the wire, 1 HKDF-SHA256 expand to 128 bytes.
//!
//! `cargo bench --bench handshake -- [--quick]` prints a Markdown section and `@summary`
//! lines for `scripts/bench.sh`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use purr::peer::frame;
use purr::peer::handshake::{Handshake, Step};
use x25519_dalek::{PublicKey, StaticSecret};

/// Ephemeral secrets differ per handshake (as they do in a node), without the cost of
/// the OS random source: a counter spread over the 32 bytes.
fn eph(n: u64, side: u8) -> [u8; 32] {
    let mut e = [side; 32];
    e[..8].copy_from_slice(&n.to_le_bytes());
    e[8..16].copy_from_slice(&n.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes());
    e
}

fn frames(bytes: &[u8]) -> Vec<frame::Frame> {
    let mut rest = bytes;
    let mut out = Vec::new();
    while !rest.is_empty() {
        out.push(frame::read_frame(&mut rest).expect("a whole frame"));
    }
    out
}

fn cont(step: Step) -> (Handshake, Vec<u8>) {
    match step {
        Step::Continue(hs, out) => (hs, out),
        Step::Done(_) => panic!("handshake finished too early"),
    }
}

fn done(step: Step) -> purr::peer::Established {
    match step {
        Step::Done(est) => est,
        Step::Continue(..) => panic!("handshake did not finish"),
    }
}

/// One complete in-memory handshake; returns both transcript hashes (equal).
fn handshake(i_key: &SigningKey, r_key: &SigningKey, n: u64) -> ([u8; 32], [u8; 32]) {
    let (hs_i, hand_i) =
        Handshake::initiator(i_key, eph(n, 1), 35035, "alice@pi").expect("initiator");
    let hs_r = Handshake::responder(r_key, eph(n, 2), 35036, "bob@router").expect("responder");
    let mut from_i = frames(&hand_i).into_iter();
    let (hs_r, out_r) = cont(hs_r.on_frame(from_i.next().expect("HAND")).expect("r HAND"));
    let mut from_r = frames(&out_r).into_iter();
    let (hs_i, out_i) = cont(hs_i.on_frame(from_r.next().expect("HAND")).expect("i HAND"));
    let est_i = done(hs_i.on_frame(from_r.next().expect("AUTH")).expect("i AUTH"));
    let auth_i = frames(&out_i).into_iter().next().expect("AUTH");
    let est_r = done(hs_r.on_frame(auth_i).expect("r AUTH"));
    (est_i.th, est_r.th)
}

/// The primitives of one side of a handshake.
fn primitives(own: &SigningKey, peer_id: &[u8; 32], peer_sig: &[u8; 64], n: u64) -> [u8; 128] {
    let secret = StaticSecret::from(eph(n, 1));
    let public = PublicKey::from(&secret); // X25519 #1
    let shared = secret.diffie_hellman(&public); // X25519 #2
    let th = [0x5a; 32];
    let mut okm = [0u8; 128];
    hkdf::Hkdf::<sha2::Sha256>::new(Some(&th), shared.as_bytes())
        .expand(b"purr/1 keys", &mut okm)
        .expect("128 bytes is a valid length");
    let sig = own.sign(&th);
    let key = VerifyingKey::from_bytes(peer_id).expect("valid key");
    key.verify_strict(&th, &ed25519_dalek::Signature::from_bytes(peer_sig))
        .expect("valid signature");
    black_box(sig);
    okm
}

/// Calls `f` for about `round`; returns calls per second.
fn rate(round: Duration, f: &mut dyn FnMut(u64)) -> f64 {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < round {
        f(n);
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (rounds, round) = if quick {
        (1, Duration::from_millis(50))
    } else {
        (7, Duration::from_millis(400))
    };
    let i_key = SigningKey::from_bytes(&[1; 32]);
    let r_key = SigningKey::from_bytes(&[2; 32]);
    let (th_i, th_r) = handshake(&i_key, &r_key, 0);
    assert_eq!(th_i, th_r, "both sides agree");

    let th = [0x5a; 32];
    let sig_i = i_key.sign(&th).to_bytes();
    let sig_r = r_key.sign(&th).to_bytes();
    let id_i = i_key.verifying_key().to_bytes();
    let id_r = r_key.verifying_key().to_bytes();

    let (mut best_hs, mut best_prim) = (0f64, 0f64);
    for _ in 0..rounds {
        best_hs = best_hs.max(rate(round, &mut |n| {
            black_box(handshake(&i_key, &r_key, n));
        }));
        // Both sides' primitives = one complete handshake's worth.
        best_prim = best_prim.max(rate(round, &mut |n| {
            black_box(primitives(&i_key, &id_r, &sig_r, n));
            black_box(primitives(&r_key, &id_i, &sig_i, n));
        }));
    }
    // Single primitives, for the "what limits us" paragraph (µs each).
    let secret = StaticSecret::from([9; 32]);
    let peer_pub = PublicKey::from(&StaticSecret::from([8; 32]));
    let x = 1e6
        / rate(round, &mut |_| {
            black_box(secret.diffie_hellman(black_box(&peer_pub)));
        });
    let sign = 1e6
        / rate(round, &mut |_| {
            black_box(i_key.sign(black_box(&th)));
        });
    let verify = 1e6
        / rate(round, &mut |_| {
            let key = VerifyingKey::from_bytes(black_box(&id_r)).expect("key");
            black_box(key.verify_strict(&th, &ed25519_dalek::Signature::from_bytes(&sig_r)))
                .expect("ok");
        });
    let decompress = 1e6
        / rate(round, &mut |_| {
            black_box(purr::peer::hand::identity_key(black_box(&id_r)).expect("key"));
        });

    let ratio = best_hs / best_prim;
    let met = best_hs >= 1500.0;
    println!("### 2. Handshakes (both roles, in memory, one core)\n");
    println!(
        "Command: `cargo bench --bench handshake`. Best of {rounds} alternating rounds of {} ms.\n",
        round.as_millis()
    );
    println!("| what | rate | baseline: primitives alone | ratio | target |");
    println!("|---|---|---|---|---|");
    println!(
        "| complete handshakes (initiator + responder) | **{best_hs:.0}/s** ({:.0} µs each) | {best_prim:.0}/s ({:.0} µs: 2×(2 X25519 + sign + verify + HKDF)) | {ratio:.2} | **≥1,500/s** |",
        1e6 / best_hs,
        1e6 / best_prim
    );
    println!(
        "\nSingle operations on this machine: X25519 {x:.1} µs, Ed25519 sign {sign:.1} µs, \
         Ed25519 strict verify (key from bytes) {verify:.1} µs, `identity_key` \
         (decompress + canonical re-compression + weak-key check) {decompress:.1} µs.\n"
    );
    println!(
        "@summary | handshakes per second (both roles, one core) | {best_hs:.0}/s ({ratio:.2}× the primitives' rate) | ≥1,500/s | {} |",
        if met { "met" } else { "MISSED" }
    );
    let extra = 1e6 / best_hs - 1e6 / best_prim;
    println!(
        "\n**What limits us.** Elliptic-curve arithmetic: per side two X25519 \
         scalar multiplications, one Ed25519 signature and one verification (a double-scalar \
         multiplication, the most expensive of the four). The handshake spends {extra:.0} µs \
         more than these alone. Most of that is point decoding of identity keys: \
         `identity_key` ({decompress:.1} µs) runs three times per side — on its own id when \
         its `HAND` is built, on the peer's id when the peer's `HAND` is parsed, and again \
         inside the `AUTH` check — where the baseline decodes the key once per verify; the remainder is JSON for `HAND`, the transcript hash, \
         the `AUTH` record (seal/open with a random IV) and copying the signing key. \
         Parsing the peer's key once and reusing it would recover most of the gap; the \
         curve operations themselves are what `curve25519-dalek` makes of this CPU.\n"
    );
}
