//! Schema v3 migration on data dirs the previous release really wrote (issue 15, point
//! 3): `tests/fixtures/v2-datadir/` was written by commit 11648c2 (schema v2; how, in
//! `tests/fixtures/README.md`), and `v2-datadir.expect.json` holds what it contains, read
//! back from that database. Opened by today's code, every contact, message, status,
//! unread count and the pending outbox must still be there, through the store and
//! through a running node. A v1 file is made from the same fixture by taking away what
//! v2 added (no release ever wrote v1 alone: every build carried the v2 migration).

mod support;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use purr::store::{self, Direction, MsgId, NodeId, Status};
use serde_json::Value;
use sha2::{Digest, Sha256};

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn expected() -> Value {
    let text = std::fs::read_to_string(fixture_dir().join("v2-datadir.expect.json"))
        .expect("the fixture's expect.json");
    serde_json::from_str(&text).expect("expect.json is JSON")
}

/// A copy of the fixture (SQLite's first open folds the WAL into the file: the
/// committed files must stay as the release left them).
fn copy_fixture() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dest = tmp.path().join("data");
    std::fs::create_dir(&dest).expect("data dir");
    for entry in std::fs::read_dir(fixture_dir().join("v2-datadir")).expect("fixture") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), dest.join(entry.file_name())).expect("copy");
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    // git keeps no file modes but the executable bit: secrets get theirs back.
    for secret in ["identity.key", "ui.token"] {
        std::fs::set_permissions(dest.join(secret), std::fs::Permissions::from_mode(0o600))
            .expect("chmod");
    }
    tmp
}

fn hex_array<const N: usize>(v: &Value) -> [u8; N] {
    purr::hex::decode_array(v.as_str().expect("hex string")).expect("hex")
}

fn status(word: &str) -> Status {
    store::parse_status(word).expect("a status word")
}

/// Opens the store of `dir` (migrating it) and checks it against expect.json.
fn check_store(dir: &Path, expect: &Value) {
    let (done, _rx) = crossbeam_channel::unbounded();
    let (writer, reader) = store::open(dir, store::WriterConfig::default(), done).expect("open");
    let version: i64 = rusqlite::Connection::open(dir.join("purr.db"))
        .expect("open")
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .expect("user_version");
    assert_eq!(version, store::SCHEMA_VERSION);
    assert_eq!(store::SCHEMA_VERSION, 6);
    // v4: the transfer tables exist, empty.
    assert!(reader.active_transfers().expect("transfers").is_empty());
    // v5: the group tables exist, empty.
    assert!(reader.groups().expect("groups").is_empty());

    // Contacts: names, verified flags, unread counts, times, addresses.
    let contacts = reader.contacts().expect("contacts");
    let unread = reader.unread_counts().expect("unread");
    let want = expect["contacts"].as_object().expect("contacts");
    assert_eq!(contacts.len(), want.len());
    for c in &contacts {
        let w = &want[&purr::hex::encode(&c.id)];
        assert_eq!(c.name, w["name"].as_str().expect("name"));
        assert_eq!(c.verified, w["verified"].as_bool().expect("verified"));
        assert_eq!(c.first_seen, w["first_seen"].as_i64().expect("first_seen"));
        assert_eq!(c.last_seen, w["last_seen"].as_i64());
        let addrs: Vec<String> = c.addrs.iter().map(ToString::to_string).collect();
        let want_addrs: Vec<String> = w["addrs"]
            .as_array()
            .expect("addrs")
            .iter()
            .map(|a| a.as_str().expect("addr").to_string())
            .collect();
        assert_eq!(addrs, want_addrs);
        let n = unread.get(&c.id).copied().unwrap_or(0);
        assert_eq!(
            n,
            w["unread"].as_u64().expect("unread"),
            "unread of {}",
            c.name
        );
    }

    // Every message, byte for byte (by hash), with its seq, direction, status, receipt.
    let mut by_peer: BTreeMap<NodeId, Vec<&Value>> = BTreeMap::new();
    for m in expect["messages"].as_array().expect("messages") {
        by_peer.entry(hex_array(&m["peer"])).or_default().push(m);
    }
    let mut seen = 0;
    for (peer, want) in &by_peer {
        let rows = reader.history(peer, None, 500).expect("history");
        assert_eq!(rows.len(), want.len());
        for (row, w) in rows.iter().zip(want) {
            assert_eq!(row.seq, w["seq"].as_i64().expect("seq"));
            assert_eq!(row.id, MsgId(hex_array(&w["id"])));
            assert_eq!(row.peer, *peer);
            let dir = match w["direction"].as_str() {
                Some("in") => Direction::In,
                _ => Direction::Out,
            };
            assert_eq!(row.direction, dir);
            assert_eq!(row.status, status(w["status"].as_str().expect("status")));
            assert_eq!(row.read_sent, w["read_sent"].as_i64() == Some(1));
            assert_eq!(row.ts, w["ts"].as_i64().expect("ts"));
            let hash = purr::hex::encode(&Sha256::digest(row.text.as_bytes()));
            assert_eq!(hash, w["text_sha256"].as_str().expect("hash"));
            seen += 1;
        }
    }
    assert_eq!(seen, expect["messages"].as_array().expect("messages").len());

    // The pending outbox, in order.
    let mut pending: Vec<(i64, String)> = Vec::new();
    for c in &contacts {
        for m in reader.outbox(&c.id).expect("outbox") {
            pending.push((m.seq, m.id.to_string()));
        }
    }
    pending.sort();
    let pending: Vec<String> = pending.into_iter().map(|(_, id)| id).collect();
    let want: Vec<String> = expect["pending_outbox"]
        .as_array()
        .expect("pending_outbox")
        .iter()
        .map(|v| v.as_str().expect("id").to_string())
        .collect();
    assert_eq!(pending, want);
    assert_eq!(
        reader.max_seq().expect("max seq"),
        expect["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .filter_map(|m| m["seq"].as_i64())
            .max()
            .expect("messages")
    );
    drop(writer);
}

#[test]
fn a_v2_data_dir_from_the_last_release_migrates_to_v3_with_everything_in_it() {
    let tmp = copy_fixture();
    let expect = expected();
    assert_eq!(expect["user_version"], 2);
    check_store(&tmp.path().join("data"), &expect);
    // Opening again changes nothing.
    check_store(&tmp.path().join("data"), &expect);
}

#[test]
fn a_v1_data_dir_migrates_through_v2_to_v3() {
    let tmp = copy_fixture();
    let dir = tmp.path().join("data");
    let expect = expected();
    // Take away what v2 added: v1 had no read receipts on disk.
    let conn = rusqlite::Connection::open(dir.join("purr.db")).expect("open");
    conn.execute_batch(
        "DROP INDEX messages_unsent_reads;
         ALTER TABLE messages DROP COLUMN read_sent;
         PRAGMA user_version = 1;",
    )
    .expect("make v1");
    drop(conn);
    let mut expect_v1 = expect.clone();
    for m in expect_v1["messages"].as_array_mut().expect("messages") {
        m["read_sent"] = 0.into(); // v2 starts every message at 0
    }
    check_store(&dir, &expect_v1);
}

#[test]
fn a_node_started_on_the_v2_data_dir_shows_the_same_history_unread_and_outbox() {
    let tmp = copy_fixture();
    let expect = expected();
    let node = support::Node::builder()
        .data_dir(&tmp.path().join("data"))
        .start();
    assert_eq!(node.id, expect["me"].as_str().expect("me"));
    let peers = node.peers();
    let by_id: HashMap<&str, &Value> = peers
        .iter()
        .map(|p| (p["id"].as_str().expect("id"), p))
        .collect();
    for (id, w) in expect["contacts"].as_object().expect("contacts") {
        let p = by_id.get(id.as_str()).expect("every contact listed");
        assert_eq!(p["name"], w["name"]);
        assert_eq!(p["verified"], w["verified"]);
        assert_eq!(p["unread"], w["unread"]);
    }
    for (id, _) in expect["contacts"].as_object().expect("contacts") {
        let page = node.api(&format!("messages?peer={id}&limit=500"));
        let got: Vec<(&str, &str)> = page
            .as_array()
            .expect("a page")
            .iter()
            .map(|m| {
                (
                    m["id"].as_str().expect("id"),
                    m["status"].as_str().expect("status"),
                )
            })
            .collect();
        let want: Vec<(&str, &str)> = expect["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .filter(|m| m["peer"] == id.as_str())
            .map(|m| {
                (
                    m["id"].as_str().expect("id"),
                    m["status"].as_str().expect("status"),
                )
            })
            .collect();
        assert_eq!(got, want, "history with {id}");
    }
    // The outbox is still pending (its peers are offline): nothing was lost or sent.
    std::thread::sleep(Duration::from_millis(200));
    let pending: usize = expect["contacts"]
        .as_object()
        .expect("contacts")
        .keys()
        .map(|id| {
            node.api(&format!("messages?peer={id}&limit=500"))
                .as_array()
                .expect("a page")
                .iter()
                .filter(|m| m["status"] == "pending")
                .count()
        })
        .sum();
    assert_eq!(
        pending,
        expect["pending_outbox"].as_array().expect("outbox").len()
    );
}
