//! Issue 17, point 6: a hostile peer's file messages end the transfer concerned with a
//! reason; the node and the connection go on.

mod support;

use std::time::{Duration, Instant};

use purr::peer::files::{Cancel, Chunk, Offer};
use purr::peer::inner::{Inner, Mess, MsgId};
use support::fake_peer::FakePeer;
use support::files::{accept, transfer, wait_state};
use support::Node;

const SEED: [u8; 32] = [0x5e; 32];

fn offer(id: u8, name: &str, size: u64) -> Inner {
    Inner::FileOffer(Offer {
        id: MsgId([id; 16]),
        name: name.into(),
        size,
        mime: "application/octet-stream".into(),
        chunk: 131_072,
        thumb: None,
        caption: None,
    })
}

/// Reads records until `f` picks one (bounded).
fn until<T>(peer: &mut FakePeer, mut f: impl FnMut(Inner) -> Option<T>) -> T {
    let end = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end {
        if let Some(t) = peer.recv().and_then(&mut f) {
            return t;
        }
    }
    panic!("the node did not answer in time");
}

fn cancel_of(peer: &mut FakePeer, want: MsgId) -> String {
    until(peer, |m| match m {
        Inner::FileCancel(Cancel { id, reason }) if id == want => Some(reason),
        _ => None,
    })
}

#[test]
fn hostile_offers_and_chunks_end_their_transfer_and_nothing_else() {
    let node = Node::start();
    let mut evil = FakePeer::connect(node.addr(), SEED, "evil");
    evil.send(&Inner::Caps(vec!["files".into()])).unwrap();

    // A 1 TB offer is refused with a reason.
    evil.send(&offer(1, "huge.iso", 1 << 40)).unwrap();
    let why = cancel_of(&mut evil, MsgId([1; 16]));
    assert!(why.contains("too large"), "{why}");

    // Names are cleaned up, never paths.
    let bidi = "invoice_\u{202e}gpj.exe";
    let long = "n".repeat(10_000);
    for (i, name) in [
        (2u8, "../../etc/passwd"),
        (3, bidi),
        (4, long.as_str()),
        (5, "con"),
    ] {
        evil.send(&offer(i, name, 10)).unwrap();
        until(&mut evil, |m| match m {
            Inner::Ackn(ids) if ids.contains(&MsgId([i; 16])) => Some(()),
            _ => None,
        });
    }
    let name = |i: u8| {
        transfer(&node, &MsgId([i; 16]).to_string()).expect("stored")["name"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(name(2), "etcpasswd");
    assert_eq!(name(3), "invoice_gpj.exe");
    assert!(name(4).len() <= 200);
    assert_eq!(name(5), "_con");

    // A chunk whose data does not match its hash ends that transfer.
    let id = MsgId([2; 16]);
    accept(&node, &id.to_string());
    until(&mut evil, |m| {
        matches!(m, Inner::FileRequest(_)).then_some(())
    });
    let bad = Chunk {
        id,
        index: 0,
        hash: [0; 32],
        data: vec![7; 10],
    };
    evil.send(&Inner::FileChunk(bad)).unwrap();
    let why = cancel_of(&mut evil, id);
    assert!(why.contains("hash"), "{why}");
    wait_state(&node, &id.to_string(), "ended", Duration::from_secs(5));

    // A chunk past the end of the file, too.
    let id = MsgId([3; 16]);
    accept(&node, &id.to_string());
    until(&mut evil, |m| {
        matches!(m, Inner::FileRequest(_)).then_some(())
    });
    let past = Chunk {
        id,
        index: 9,
        hash: [0; 32],
        data: vec![7; 10],
    };
    evil.send(&Inner::FileChunk(past)).unwrap();
    let why = cancel_of(&mut evil, id);
    assert!(why.contains("past the end"), "{why}");

    // A chunk for a transfer nobody knows is dropped; the session still carries chat.
    let stray = Chunk {
        id: MsgId([9; 16]),
        index: 0,
        hash: [0; 32],
        data: vec![1],
    };
    evil.send(&Inner::FileChunk(stray)).unwrap();
    let mid = MsgId([0x77; 16]);
    let mess = Mess {
        id: mid,
        ts: 1,
        text: "still here".into(),
    };
    evil.send(&Inner::Mess(mess)).unwrap();
    until(&mut evil, |m| match m {
        Inner::Ackn(ids) if ids.contains(&mid) => Some(()),
        _ => None,
    });
    assert!(node.sees_online(&support::fake_peer::id_hex(SEED)));
}
