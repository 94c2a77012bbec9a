//! Issue 17: a link cut mid-transfer. Two hosts on a private LAN (network namespaces, a
//! bridge, discovery on inside them); the receiver's interface goes down while a file
//! is on its way and stays down until both nodes have given the session up, then comes
//! back. The nodes find each other again by themselves, the receiver asks for what it
//! lacks, and the file arrives identical, with only the unsynced tail and the window
//! sent again; a message typed during the cut arrives too. (Both nodes dial on the
//! heal: when the connection the receiver resumed on lost that race, it used to wait
//! for ever on the lost one's credit — tests/files_away.rs has that case alone.)

mod support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::files::{chunks_sent, make_file, sha256};
use support::lan::{make_contacts, wait_for_mesh, Host, Lan};
use support::Node;

const CHUNK: u64 = 128 * 1024;
/// As in files_kill_rounds.rs: 8 MiB written but not yet held, plus the window.
const MAX_RESENT_CHUNKS: u64 = 8 * 1024 * 1024 / CHUNK + 16;

/// The transfer `id` as `node` (in `host`) sees it.
fn transfer(host: &Host, node: &Node, id: &str) -> Option<Value> {
    let (_, list) = host.api(node, "GET", "files", None)?;
    list.as_array()?.iter().find(|t| t["id"] == id).cloned()
}

fn state_bytes(host: &Host, node: &Node, id: &str) -> (String, u64) {
    transfer(host, node, id).map_or((String::new(), 0), |t| {
        (
            t["state"].as_str().unwrap_or_default().to_string(),
            t["bytes"].as_u64().unwrap_or(0),
        )
    })
}

/// Waits (bounded) until `f` holds for what `node` says of `id`; panics with it.
fn wait_for(
    host: &Host,
    node: &Node,
    id: &str,
    within: Duration,
    what: &str,
    f: impl Fn(&str, u64) -> bool,
) -> (String, u64) {
    let end = Instant::now() + within;
    let mut last = (String::new(), 0);
    while Instant::now() < end {
        last = state_bytes(host, node, id);
        if f(&last.0, last.1) {
            return last;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("transfer {id}: not {what} within {within:?}: {last:?}");
}

#[test]
fn a_transfer_resumes_by_itself_after_the_link_was_cut_and_comes_back() {
    require_netns!();
    let lan = Lan::builder(2).ipv4_only().build();
    let logs = tempfile::tempdir().unwrap();
    let send_log = logs.path().join("send.log");
    let (hs, hr) = (&lan.hosts[0], &lan.hosts[1]);
    let s = hs.node().stderr_log(&send_log).start();
    let r = hr.node().stderr_log(&logs.path().join("recv.log")).start();
    // Contacts keep a session (issue 21): they talk first.
    make_contacts(hs, &s, hr, &r);
    wait_for_mesh(&[hs, hr], &[&s, &r], Duration::from_secs(15));

    let src_dir = tempfile::tempdir().unwrap();
    let len = 40 * 1024 * 1024 + 7;
    let chunks = (len as u64).div_ceil(CHUNK);
    let src = make_file(src_dir.path(), "cut.bin", len);
    let body = json!({"to": r.id, "path": src.display().to_string()});
    let (status, t) = hs.api(&s, "POST", "files", Some(body)).expect("offer");
    assert_eq!(status, 201, "{t}");
    let id = t["id"].as_str().expect("id").to_string();
    wait_for(hr, &r, &id, Duration::from_secs(10), "offered", |st, _| {
        st == "offered"
    });
    let (status, t) = hr
        .api(&r, "POST", &format!("files/{id}/accept"), Some(json!({})))
        .expect("accept");
    assert_eq!(status, 200, "{t}");
    wait_for(
        hr,
        &r,
        &id,
        Duration::from_secs(30),
        "a quarter in",
        |_, b| b >= len as u64 / 4,
    );

    // Cut: the receiver's cable goes dead (administratively down) mid-transfer.
    lan.set_up(1, false);
    let cut = Instant::now();
    // A message typed during the cut: it must arrive after the heal, and it gives the
    // sender's writer something to write into the dead link.
    let (status, m) = hs
        .api(
            &s,
            "POST",
            "messages",
            Some(json!({"to": r.id, "text": "typed during the cut"})),
        )
        .expect("send");
    assert_eq!(status, 201, "{m}");
    let (_, held_at_cut) = state_bytes(hr, &r, &id);
    assert!(
        held_at_cut < len as u64,
        "the file was through before the cut"
    );
    // Down until both sides have given the session up (their retransmissions time out,
    // or 45 s of silence, PROTOCOL §7): what comes next is a new session. Offline only
    // when the node says so (a node that does not answer says nothing).
    let online = |host: &Host, node: &Node, peer: &str| {
        host.peers(node)
            .map(|list| list.iter().any(|p| p["id"] == peer && p["online"] == true))
    };
    let gone = support::eventually(Duration::from_secs(70), || {
        online(hs, &s, &r.id) == Some(false) && online(hr, &r, &s.id) == Some(false)
    });
    assert!(gone, "the session outlived 70 s of a dead link");
    let (state, held) = state_bytes(hr, &r, &id);
    assert_eq!(
        state, "paused",
        "the receiver pauses while its peer is away"
    );
    eprintln!(
        "sessions gone {:.1} s after the cut; the receiver held {held} of {len} bytes",
        cut.elapsed().as_secs_f64()
    );
    lan.set_up(1, true);
    let back = Instant::now();

    wait_for(hr, &r, &id, Duration::from_secs(60), "done", |st, _| {
        st == "done" || st == "ended"
    });
    let (state, _) = state_bytes(hr, &r, &id);
    assert_eq!(state, "done");
    wait_for(
        hs,
        &s,
        &id,
        Duration::from_secs(10),
        "done (sender)",
        |st, _| st == "done",
    );
    assert_eq!(
        sha256(&r.data_dir.join("files").join("cut.bin")),
        sha256(&src)
    );
    let mid = m["id"].as_str().expect("message id").to_string();
    let (_, history) = hr
        .api(&r, "GET", &format!("messages?peer={}", s.id), None)
        .expect("history");
    assert!(
        history
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x["id"] == mid.as_str())),
        "the message typed during the cut did not arrive: {history}"
    );
    let sent = chunks_sent(&send_log, &id);
    let resent = sent.saturating_sub(chunks);
    eprintln!(
        "done {:.1} s after the link came back: {chunks} chunks, {sent} sent, {resent} again",
        back.elapsed().as_secs_f64()
    );
    assert!(
        resent <= MAX_RESENT_CHUNKS,
        "{resent} chunks sent again after the cut (bound {MAX_RESENT_CHUNKS})"
    );
}
