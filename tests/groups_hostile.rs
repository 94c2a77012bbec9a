//! A hostile group member against a real node (issue 18): a scripted peer (the
//! fake-peer support) owns a group the node joined, then sends a forged author, a bad
//! signature, a sequence gap, a roster signed by a non-owner, a roster rollback, and
//! records for 10,000 groups that do not exist. Each is dropped and counted in
//! `GET /api/v1/diag` (`groups.dropped`), the gap is asked for, the session stays, the
//! node stays alive with bounded memory, and its user can still create groups.

mod support;

use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use purr::peer::group::{Author, GroupId, GroupMsg, GroupRef, Invite, Roster, Summary};
use purr::peer::inner::{Inner, Mess, MsgId};
use serde_json::{json, Value};
use support::fake_peer::{id_hex, FakePeer};
use support::files::post;
use support::{eventually, Node};

const EVIL: [u8; 32] = [0xe1; 32];
/// A member the roster names who never connects (its key signs the forged roster).
const MALLORY: [u8; 32] = [0x3a; 32];
const WAIT: Duration = Duration::from_secs(30);

fn key(seed: [u8; 32]) -> SigningKey {
    SigningKey::from_bytes(&seed)
}

fn pubkey(seed: [u8; 32]) -> [u8; 32] {
    key(seed).verifying_key().to_bytes()
}

/// Reads records until `f` picks one (bounded).
fn until<T>(peer: &mut FakePeer, mut f: impl FnMut(Inner) -> Option<T>) -> T {
    let end = Instant::now() + WAIT;
    while Instant::now() < end {
        if let Some(t) = peer.recv().and_then(&mut f) {
            return t;
        }
    }
    panic!("the node did not answer in time");
}

/// A 1:1 message from the peer, acknowledged: the session carries chat.
fn still_chats(peer: &mut FakePeer, n: u8) {
    let id = MsgId([n; 16]);
    let mess = Mess {
        id,
        ts: 1,
        text: format!("still here {n}"),
    };
    peer.send(&Inner::Mess(mess)).expect("send");
    until(peer, |m| match m {
        Inner::Ackn(ids) if ids.contains(&id) => Some(()),
        _ => None,
    });
}

fn gmsg(g: GroupId, author: [u8; 32], seq: u64, lamport: u64, roster: u64) -> GroupMsg {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&seq.to_be_bytes());
    id[8] = author[0];
    id[9] = 0x99;
    GroupMsg {
        group: g,
        id: MsgId(id),
        author,
        seq,
        lamport,
        roster,
        ts: 0,
        text: format!("#{seq}"),
        sig: [0; 64],
    }
}

fn dropped(node: &Node) -> Value {
    node.api("diag")["groups"]["dropped"].clone()
}

fn count(node: &Node, what: &str) -> u64 {
    dropped(node)[what].as_u64().unwrap_or(u64::MAX)
}

fn group_ids(node: &Node, gid: &str) -> Vec<u64> {
    node.api(&format!("groups/{gid}/messages?limit=500"))
        .as_array()
        .map(|a| a.iter().filter_map(|m| m["seq"].as_u64()).collect())
        .unwrap_or_default()
}

#[test]
fn a_hostile_member_is_dropped_and_counted_and_the_node_and_session_stay() {
    let node = Node::start();
    let mut evil = FakePeer::connect(node.addr(), EVIL, "evil");
    evil.send(&Inner::Caps(vec!["groups".into()]))
        .expect("caps");
    still_chats(&mut evil, 1); // a message makes it a contact: invitations need one
    let (f, m) = (pubkey(EVIL), pubkey(MALLORY));

    // The evil peer owns a group of three (itself, Mallory, the node); the node joins.
    let g = GroupId([0x61; 16]);
    let gid = g.to_string();
    evil.send(&Inner::GroupInvite(Invite {
        group: g,
        name: "trap".into(),
        owner: Author(f),
    }))
    .expect("invite");
    assert!(
        eventually(WAIT, || node
            .api("groups")
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x["id"] == gid.as_str()))),
        "no invitation"
    );
    let r = post(&node, &format!("groups/{gid}/accept"), &json!({}));
    assert_eq!(r.status, 200, "{}", r.text());
    until(&mut evil, |i| match i {
        Inner::GroupAccept(GroupRef { group }) if group == g => Some(()),
        _ => None,
    });
    let v1 = Roster {
        group: g,
        version: 1,
        lamport: 1,
        signer: f,
        owner: f,
        prev: [0; 32],
        name: "trap".into(),
        members: vec![f],
    }
    .sign(&key(EVIL));
    let mut members = vec![f, m, pubkey_of(&node)];
    members.sort();
    let v2 = Roster {
        version: 2,
        lamport: 2,
        prev: v1.hash(),
        members,
        ..v1.roster.clone()
    }
    .sign(&key(EVIL));
    for r in [&v1, &v2] {
        evil.send(&Inner::GroupRoster(Box::new(r.clone())))
            .expect("roster");
    }
    assert!(
        eventually(WAIT, || node.api("groups")[0]["phase"] == "member"),
        "the node did not join: {}",
        node.api("groups")
    );
    let before = dropped(&node);
    assert!(before.is_object(), "no groups.dropped in diag");
    let rss_before = node.rss_kib();

    // A forged author: Mallory named, the evil key signs.
    evil.send(&Inner::GroupMsg(Box::new(
        gmsg(g, m, 1, 3, 2).sign(&key(EVIL)),
    )))
    .expect("forged");
    // A bad signature: its own message with the signature flipped.
    let mut bad = gmsg(g, f, 1, 3, 2).sign(&key(EVIL));
    bad.sig[0] ^= 1;
    evil.send(&Inner::GroupMsg(Box::new(bad))).expect("bad sig");
    assert!(
        eventually(WAIT, || count(&node, "bad_signature") == 2),
        "forged author and bad signature not counted: {}",
        dropped(&node)
    );

    // A sequence gap: #1, then #3; the node asks for #2 (a GSYN holding 1).
    let good = |seq: u64| Inner::GroupMsg(Box::new(gmsg(g, f, seq, 3 + seq, 2).sign(&key(EVIL))));
    evil.send(&good(1)).expect("seq 1");
    evil.send(&good(3)).expect("seq 3");
    until(&mut evil, |i| match i {
        Inner::GroupSync(Summary { group, have, .. })
            if group == g && have.contains(&(Author(f), 1)) =>
        {
            Some(())
        }
        _ => None,
    });
    evil.send(&good(2)).expect("seq 2");
    assert!(
        eventually(WAIT, || group_ids(&node, &gid) == vec![1, 2, 3]),
        "the gap was not filled in order: {:?}",
        group_ids(&node, &gid)
    );

    // A roster signed by a non-owner (Mallory), and one claiming the owner as signer
    // but signed by Mallory.
    let v3 = |signer: [u8; 32], seed: [u8; 32]| {
        Roster {
            version: 3,
            lamport: 10,
            signer,
            prev: v2.hash(),
            members: v2.roster.members.clone(),
            name: "taken over".into(),
            ..v2.roster.clone()
        }
        .sign(&key(seed))
    };
    for r in [v3(m, MALLORY), v3(f, MALLORY)] {
        evil.send(&Inner::GroupRoster(Box::new(r))).expect("v3");
    }
    // A rollback: another version 1 (a repeat of the real v2 is no rollback).
    let other_v1 = Roster {
        name: "rolled back".into(),
        ..v1.roster.clone()
    }
    .sign(&key(EVIL));
    evil.send(&Inner::GroupRoster(Box::new(other_v1)))
        .expect("rollback");
    evil.send(&Inner::GroupRoster(Box::new(v2.clone())))
        .expect("repeat");
    assert!(
        eventually(WAIT, || count(&node, "bad_roster") == 2
            && count(&node, "rollback") == 1),
        "bad rosters and the rollback not counted as such: {}",
        dropped(&node)
    );
    assert_eq!(
        node.api("groups")[0]["version"],
        2,
        "a bad roster was taken"
    );
    assert_eq!(node.api("groups")[0]["name"], "trap");
    still_chats(&mut evil, 2);

    // 10,000 fake groups: invitations for new ones, rosters, messages and summaries for
    // groups the node is not in.
    const FAKE: u32 = 10_000;
    let start = Instant::now();
    for i in 0..FAKE {
        let mut id = [0u8; 16];
        id[..4].copy_from_slice(&i.to_be_bytes());
        id[15] = 0x1a;
        evil.send(&Inner::GroupInvite(Invite {
            group: GroupId(id),
            name: format!("spam {i}"),
            owner: Author(f),
        }))
        .expect("fake invite");
        id[15] = 0x2b;
        let u = GroupId(id);
        let r = Roster {
            group: u,
            ..v1.roster.clone()
        }
        .sign(&key(EVIL));
        evil.send(&Inner::GroupRoster(Box::new(r)))
            .expect("fake roster");
        evil.send(&Inner::GroupMsg(Box::new(
            gmsg(u, f, 1, 1, 1).sign(&key(EVIL)),
        )))
        .expect("fake message");
        evil.send(&Inner::GroupSync(Summary {
            group: u,
            v: 1,
            have: vec![(Author(f), 1)],
        }))
        .expect("fake sync");
    }
    still_chats(&mut evil, 3); // the session stays, and everything before was handled
    eprintln!(
        "{} fake records for {FAKE} groups sent and handled in {:?}",
        4 * FAKE,
        start.elapsed()
    );
    let after = dropped(&node);
    eprintln!("groups.dropped after the flood: {after}");
    assert_eq!(
        after["unknown_group"].as_u64(),
        Some(3 * u64::from(FAKE)),
        "every roster, message and summary for an unknown group counted"
    );
    let known = node.api("diag")["groups"]["known"].as_u64().unwrap_or(0);
    assert_eq!(
        known, 17,
        "one group and 16 pending invitations from one contact, no more"
    );
    assert_eq!(
        after["invitations"].as_u64(),
        Some(u64::from(FAKE) - 16),
        "invitations past the pending cap counted"
    );
    // The user can still make groups of their own.
    let r = post(&node, "groups", &json!({"name": "mine", "members": []}));
    assert_eq!(r.status, 201, "{}", r.text());
    // Memory: bounded (the groups table is capped; nothing is kept per dropped record).
    let rss_after = node.rss_kib();
    eprintln!("RSS {rss_before} KiB before the hostile records, {rss_after} KiB after");
    assert!(
        rss_after < rss_before + 8 * 1024,
        "RSS grew from {rss_before} to {rss_after} KiB"
    );
    // The group and the node are as they were.
    assert_eq!(group_ids(&node, &gid), vec![1, 2, 3]);
    assert!(node.sees_online(&id_hex(EVIL)));
}

/// The node's own public key (its id in hex, as bytes).
fn pubkey_of(node: &Node) -> [u8; 32] {
    purr::hex::decode_array::<32>(&node.id).expect("node id")
}
