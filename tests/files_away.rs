//! Issue 17: a transfer that ends while its sender is away still reaches the sender.
//! The receiver's `FDON` (or `FCAN`) goes out on the session it finished on; if that
//! session is gone — the sender was `kill -9`ed during the final check, or the link
//! dropped — the sender, back, would wait for ever in "offered". So a sender offers
//! again, on every new session, every transfer not over, and a receiver answers an
//! offer it knows with how it ended: `FDON`, or `FCAN` with its reason, also after its
//! own restart (the finished transfer then lives only in its store).
//! (Found by tests/files_kill_rounds.rs: a sender killed while the receiver verified.)
//! Likewise a receiver whose session was replaced by a newer connection (no "peer
//! down" in between) asks again for what it lacks on the new one (found by
//! tests/files_link_cut.rs, where both nodes dial on the heal).

mod support;

use std::time::{Duration, Instant};

use purr::peer::files::{Cancel, Chunk, Done, End, Offer};
use purr::peer::inner::{Inner, MsgId};
use serde_json::json;
use sha2::{Digest, Sha256};
use support::fake_peer::{id_hex, FakePeer};
use support::files::{accept, make_file, post, wait_state};
use support::{eventually, Node};

const SEED: [u8; 32] = [0x3a; 32];

/// Reads records until `f` picks one (bounded).
fn until<T>(peer: &mut FakePeer, mut f: impl FnMut(Inner) -> Option<T>) -> Option<T> {
    let end = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end {
        if let Some(t) = peer.recv().and_then(&mut f) {
            return Some(t);
        }
    }
    None
}

/// A fake peer that takes files, connected to `node`.
fn connect(node: &Node) -> FakePeer {
    let mut p = FakePeer::connect(node.addr(), SEED, "away");
    p.send(&Inner::Caps(vec!["files".into()])).unwrap();
    p
}

fn offer_of(id: MsgId, data: &[u8]) -> Inner {
    Inner::FileOffer(Offer {
        id,
        name: format!("{id}.bin"),
        size: data.len() as u64,
        mime: "application/octet-stream".into(),
        chunk: 131_072,
        thumb: None,
        caption: None,
    })
}

#[test]
fn a_receiver_answers_an_offer_it_finished_while_the_sender_was_away() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let mut node = Node::builder().data_dir(&data_dir).start();
    let (done_id, declined_id) = (MsgId([0xd0; 16]), MsgId([0xdc; 16]));
    let data = b"the whole file, one chunk".to_vec();
    let mut sender = connect(&node);
    for id in [done_id, declined_id] {
        sender.send(&offer_of(id, &data)).unwrap();
        until(&mut sender, |m| match m {
            Inner::Ackn(ids) if ids.contains(&id) => Some(()),
            _ => None,
        })
        .expect("ACKN of the offer");
    }
    // One is received whole; we hang up without reading its FDON (as a sender killed
    // while the receiver checked the file never reads it).
    accept(&node, &done_id.to_string());
    until(&mut sender, |m| match m {
        Inner::FileRequest(r) if r.id == done_id => Some(()),
        _ => None,
    })
    .expect("FREQ");
    let hash: [u8; 32] = Sha256::digest(&data).into();
    let chunk = Chunk {
        id: done_id,
        index: 0,
        hash,
        data: data.clone(),
    };
    sender.send(&Inner::FileChunk(chunk)).unwrap();
    let root = Sha256::digest(hash).into();
    sender
        .send(&Inner::FileEnd(End { id: done_id, root }))
        .unwrap();
    wait_state(&node, &done_id.to_string(), "done", Duration::from_secs(10));
    drop(sender);
    // The other is declined while we are away.
    let r = post(&node, &format!("files/{declined_id}/decline"), &json!({}));
    assert_eq!(r.status, 200, "{}", r.text());

    // Back, we offer both again: the node says how each ended. Once from this run's
    // memory, once after a restart, from its store.
    for round in ["same run", "after a restart"] {
        if round == "after a restart" {
            node.stop_within(Duration::from_secs(10)).expect("stops");
            node = Node::builder().data_dir(&data_dir).start();
        }
        assert!(eventually(Duration::from_secs(5), || !node.sees_online(&id_hex(SEED))));
        let mut sender = connect(&node);
        sender.send(&offer_of(done_id, &data)).unwrap();
        sender.send(&offer_of(declined_id, &data)).unwrap();
        let (mut done, mut cancel) = (false, None);
        until(&mut sender, |m| {
            match m {
                Inner::FileDone(Done { id }) if id == done_id => done = true,
                Inner::FileCancel(Cancel { id, reason }) if id == declined_id => {
                    cancel = Some(reason)
                }
                _ => {}
            }
            (done && cancel.is_some()).then_some(())
        });
        assert!(done, "{round}: no FDON for the file received");
        assert_eq!(cancel.as_deref(), Some("declined"), "{round}");
        drop(sender);
    }
    // Still one file of that name: the offer again was not taken as a new one.
    let names: Vec<_> = std::fs::read_dir(data_dir.join("files"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
}

#[test]
fn a_sender_offers_again_on_a_new_session_until_the_transfer_is_over() {
    let node = Node::start();
    let mut receiver = connect(&node);
    let peer = id_hex(SEED);
    assert!(eventually(Duration::from_secs(5), || node.sees_online(&peer)));
    let src_dir = tempfile::tempdir().unwrap();
    let src = make_file(src_dir.path(), "away.bin", 1000);
    let r = post(
        &node,
        "files",
        &json!({"to": peer, "path": src.display().to_string()}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let id: MsgId = serde_json::from_slice::<serde_json::Value>(&r.body).unwrap()["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let offered = |p: &mut FakePeer| {
        until(p, |m| match m {
            Inner::FileOffer(o) if o.id == id => Some(()),
            _ => None,
        })
    };
    offered(&mut receiver).expect("the offer");
    receiver.send(&Inner::Ackn(vec![id])).unwrap();
    // Stored on our side, acknowledged; we go away and finish it "elsewhere".
    std::thread::sleep(Duration::from_millis(200));
    drop(receiver);
    assert!(eventually(Duration::from_secs(5), || !node.sees_online(&peer)));
    let mut receiver = connect(&node);
    offered(&mut receiver).expect("the acknowledged offer, again on the new session");
    receiver.send(&Inner::FileDone(Done { id })).unwrap();
    wait_state(&node, &id.to_string(), "done", Duration::from_secs(5));
}

#[test]
fn a_receiver_asks_again_on_a_connection_that_took_over_from_the_one_it_asked_on() {
    let node = Node::start();
    let id = MsgId([0x7a; 16]);
    let data = vec![0x42u8; 200_000];
    let mut first = connect(&node);
    first.send(&offer_of(id, &data)).unwrap();
    until(&mut first, |m| match m {
        Inner::Ackn(ids) if ids.contains(&id) => Some(()),
        _ => None,
    })
    .expect("ACKN of the offer");
    accept(&node, &id.to_string());
    until(&mut first, |m| match m {
        Inner::FileRequest(r) if r.id == id => Some(()),
        _ => None,
    })
    .expect("FREQ on the first connection");
    // A second connection of the same peer while the first stays open and silent: the
    // node probes the first, hears nothing for PROBE_WAIT (3 s), and the second takes
    // over — the first never "went down". The node must ask again on the second.
    let mut second = connect(&node);
    let request = until(&mut second, |m| match m {
        Inner::FileRequest(r) if r.id == id => Some(r),
        _ => None,
    });
    drop(first);
    let request = request.expect("FREQ again on the connection that took over");
    assert!(request.have.is_empty(), "{request:?}");
    // And the file completes on it.
    let chunk = 131_072;
    let mut root = Sha256::new();
    for (index, part) in data.chunks(chunk).enumerate() {
        let hash: [u8; 32] = Sha256::digest(part).into();
        root.update(hash);
        let c = Chunk {
            id,
            index: index as u64,
            hash,
            data: part.to_vec(),
        };
        second.send(&Inner::FileChunk(c)).unwrap();
    }
    let root = root.finalize().into();
    second.send(&Inner::FileEnd(End { id, root })).unwrap();
    wait_state(&node, &id.to_string(), "done", Duration::from_secs(10));
}
