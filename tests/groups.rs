//! Group conversations between three real nodes on loopback (issue 18): created over
//! the JSON API, every message seen once and in the same order by every member, a
//! member stopped catches up from the others on restart, a removed member gets nothing
//! written after its removal.

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::files::post;
use support::{eventually, Node};

const WAIT: Duration = Duration::from_secs(15);

/// A 1:1 message from `from` to `to`, so each is the other's contact once it arrives.
fn befriend(from: &Node, to: &Node) {
    let r = post(from, "messages", &json!({"to": to.id, "text": "hi"}));
    assert_eq!(r.status, 201, "{}", r.text());
}

fn group(node: &Node, id: &str) -> Option<Value> {
    node.api("groups")
        .as_array()?
        .iter()
        .find(|g| g["id"] == id)
        .cloned()
}

fn phase(node: &Node, id: &str) -> String {
    group(node, id)
        .and_then(|g| g["phase"].as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The ids of a group's messages as `node` shows them, in display order.
fn ids(node: &Node, id: &str) -> Vec<String> {
    node.api(&format!("groups/{id}/messages?limit=500"))
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|m| m["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn say(node: &Node, group: &str, text: &str) -> Value {
    let r = post(
        node,
        &format!("groups/{group}/messages"),
        &json!({"text": text}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    serde_json::from_str(&r.text()).expect("json")
}

/// [`say`] from another thread (a `Node` stays on the test's).
fn say_at(addr: std::net::SocketAddr, token: &str, group: &str, text: &str) -> Value {
    let body = json!({ "text": text }).to_string();
    let r = support::http(
        addr,
        &format!(
            "POST /api/v1/groups/{group}/messages HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    serde_json::from_str(&r.text()).expect("json")
}

fn connected(a: &Node, b: &Node) -> bool {
    a.sees_online(&b.id) && b.sees_online(&a.id)
}

#[test]
fn three_members_see_every_message_once_in_one_order_catch_up_and_removal_holds() {
    let a = Node::start();
    let b = Node::builder()
        .arg("--connect")
        .arg(format!("127.0.0.1:{}", a.port))
        .start();
    let c_dir = tempfile::tempdir().expect("tempdir");
    let c_data = c_dir.path().join("c");
    let start_c = || {
        Node::builder()
            .data_dir(&c_data)
            .arg("--connect")
            .arg(format!("127.0.0.1:{}", a.port))
            .arg("--connect")
            .arg(format!("127.0.0.1:{}", b.port))
            .start()
    };
    let mut c = start_c();
    assert!(
        eventually(WAIT, || connected(&a, &b)
            && connected(&a, &c)
            && connected(&b, &c)),
        "the three did not connect"
    );
    for (x, y) in [(&a, &b), (&b, &a), (&a, &c), (&c, &a), (&b, &c), (&c, &b)] {
        befriend(x, y);
    }

    // A creates the group with B and C; they accept.
    let r = post(
        &a,
        "groups",
        &json!({"name": "cats", "members": [b.id, c.id]}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let g: Value = serde_json::from_str(&r.text()).expect("json");
    let gid = g["id"].as_str().expect("id").to_string();
    assert_eq!(g["phase"], "member");
    for n in [&b, &c] {
        assert!(
            eventually(WAIT, || phase(n, &gid) == "invited"),
            "no invitation"
        );
        let r = post(n, &format!("groups/{gid}/accept"), &json!({}));
        assert_eq!(r.status, 200, "{}", r.text());
    }
    for n in [&a, &b, &c] {
        assert!(
            eventually(WAIT, || group(n, &gid).is_some_and(|g| g["phase"]
                == "member"
                && g["members"].as_array().map(Vec::len) == Some(3))),
            "not all three members: {:?}",
            group(n, &gid)
        );
    }
    // A non-member and a non-owner are refused with typed errors.
    let r = post(
        &b,
        &format!("groups/{gid}/remove"),
        &json!({"member": c.id}),
    );
    assert_eq!(r.status, 403, "{}", r.text());
    let r = post(
        &a,
        "groups/00112233445566778899aabbccddeeff/accept",
        &json!({}),
    );
    assert_eq!(r.status, 404, "{}", r.text());

    // Everyone writes at once; all see each message once, in one order.
    let sent: Vec<Value> = std::thread::scope(|s| {
        let writers: Vec<_> = [("a", &a), ("b", &b), ("c", &c)]
            .into_iter()
            .map(|(who, n)| {
                let (addr, token, gid) = (n.addr(), n.token(), &gid);
                s.spawn(move || {
                    (0..5)
                        .map(|i| say_at(addr, &token, gid, &format!("{who}{i}"))["id"].clone())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        writers
            .into_iter()
            .flat_map(|w| w.join().expect("writer"))
            .collect()
    });
    let all = |n: &Node| ids(n, &gid).len() == sent.len();
    assert!(
        eventually(WAIT, || all(&a) && all(&b) && all(&c)),
        "not every message everywhere: {} {} {}",
        ids(&a, &gid).len(),
        ids(&b, &gid).len(),
        ids(&c, &gid).len()
    );
    let order = ids(&a, &gid);
    assert_eq!(order, ids(&b, &gid), "A and B differ in order");
    assert_eq!(order, ids(&c, &gid), "A and C differ in order");
    let mut unique = order.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), sent.len(), "a message shown twice");

    // C stops; A and B write; C restarts and catches up.
    assert!(
        c.stop_within(Duration::from_secs(10)).is_some(),
        "C did not stop"
    );
    assert!(
        eventually(WAIT, || !a.sees_online(&c.id) && !b.sees_online(&c.id)),
        "C still seen online"
    );
    let mut missed = Vec::new();
    for i in 0..3 {
        missed.push(say(&a, &gid, &format!("a-while-c-away{i}"))["id"].clone());
        missed.push(say(&b, &gid, &format!("b-while-c-away{i}"))["id"].clone());
    }
    drop(c);
    let c = start_c();
    let total = sent.len() + missed.len();
    assert!(
        eventually(WAIT, || ids(&c, &gid).len() == total),
        "C did not catch up: {} of {total}",
        ids(&c, &gid).len()
    );
    assert_eq!(
        ids(&a, &gid),
        ids(&c, &gid),
        "C's order differs after catching up"
    );

    // A removes C; what A writes next never reaches C.
    let r = post(
        &a,
        &format!("groups/{gid}/remove"),
        &json!({"member": c.id}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let after = say(&a, &gid, "c is gone");
    let after_id = after["id"].as_str().expect("id").to_string();
    let after_lamport = after["lamport"].as_u64().expect("lamport");
    assert!(
        eventually(WAIT, || ids(&b, &gid).contains(&after_id)),
        "B did not get A's message after the removal"
    );
    // C's database holds nothing stamped after its removal (give any stray copy time).
    std::thread::sleep(Duration::from_millis(1500));
    let db = rusqlite::Connection::open_with_flags(
        c_data.join("purr.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open C's db");
    let max: i64 = db
        .query_row(
            "SELECT coalesce(max(lamport), 0) FROM group_messages",
            [],
            |r| r.get(0),
        )
        .expect("query");
    assert!(
        u64::try_from(max).unwrap_or(u64::MAX) < after_lamport,
        "C holds a message stamped after its removal"
    );
    assert!(!ids(&c, &gid).contains(&after_id));
    assert!(
        eventually(WAIT, || phase(&c, &gid) == "removed"),
        "C not told of its removal: {:?}",
        group(&c, &gid)
    );
}

/// The WebSocket's group commands and events: a UI creates, writes, reads back, and is
/// told precisely what it may not do.
#[test]
fn a_ui_drives_a_group_over_the_websocket() {
    let (a, b) = support::pair();
    let mut ws = a.ws();
    ws.send(json!({"cmd": "hello"}));
    ws.recv_cmd("peers");
    ws.send(json!({"cmd": "group_create", "name": "ui", "members": []}));
    let g = ws.recv_cmd("group");
    assert_eq!(g["group"]["name"], "ui");
    assert_eq!(g["group"]["phase"], "member");
    let gid = g["group"]["id"].as_str().expect("id").to_string();

    ws.send(json!({"cmd": "group_send", "group": gid, "text": "hello"}));
    let m = ws.recv_cmd("group_message");
    assert_eq!(
        (&m["message"]["group"], &m["message"]["text"]),
        (&json!(gid), &json!("hello"))
    );

    ws.send(json!({"cmd": "group_history", "group": gid}));
    let h = ws.recv_cmd("group_history");
    assert_eq!(h["group"], gid);
    assert_eq!(h["messages"][0]["id"], m["message"]["id"]);

    ws.send(json!({"cmd": "groups"}));
    let all = ws.recv_cmd("groups");
    assert_eq!(all["groups"][0]["id"], gid);

    // B (dialled by A: a contact of A's) may be invited, someone unknown may not; an
    // unknown group takes no message.
    ws.send(json!({"cmd": "group_invite", "group": gid, "member": b.id}));
    ws.send(json!({"cmd": "group_invite", "group": gid, "member": "ab".repeat(32)}));
    let e = ws.recv_cmd("error");
    assert_eq!(e["request"], "group_invite", "{e}");
    ws.send(json!({"cmd": "group_send", "group": "00".repeat(16), "text": "x"}));
    let e = ws.recv_cmd("error");
    assert_eq!(e["request"], "group_send", "{e}");
    assert!(
        e["error"].as_str().unwrap_or("").contains("no such group"),
        "{e}"
    );
}
