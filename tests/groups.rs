//! Group conversations between three real nodes on loopback (issue 18): created over
//! the JSON API, every message seen once and in the same order by every member, a
//! member stopped catches up from the others on restart, a removed member gets nothing
//! written after its removal; the author sees per member who holds and who has read
//! each message, and every roster change is a system line naming who made it.

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

/// The ids of a group's messages (not its system lines) as `node` shows them, in
/// display order.
fn ids(node: &Node, id: &str) -> Vec<String> {
    items(node, id)
        .iter()
        .filter(|m| m["kind"] == "text")
        .filter_map(|m| m["id"].as_str().map(str::to_string))
        .collect()
}

/// Every item of a group's history (messages and system lines), in display order.
fn items(node: &Node, id: &str) -> Vec<Value> {
    node.api(&format!("groups/{id}/messages?limit=500"))
        .as_array()
        .cloned()
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

    // Creating it was a roster change: its system line comes first.
    let created = ws.recv_cmd("group_message");
    assert_eq!(
        (&created["message"]["kind"], &created["message"]["change"]),
        (&json!("system"), &json!("created"))
    );
    ws.send(json!({"cmd": "group_send", "group": gid, "text": "hello"}));
    let m = ws.recv_cmd("group_message");
    assert_eq!(
        (&m["message"]["group"], &m["message"]["text"]),
        (&json!(gid), &json!("hello"))
    );

    ws.send(json!({"cmd": "group_history", "group": gid}));
    let h = ws.recv_cmd("group_history");
    assert_eq!(h["group"], gid);
    assert_eq!(h["messages"][0]["id"], created["message"]["id"]);
    assert_eq!(h["messages"][1]["id"], m["message"]["id"]);
    // Our user reads it: no answer but an updated group (nothing unread: it is ours).
    ws.send(json!({"cmd": "group_read", "group": gid, "upto": m["message"]["id"]}));
    let g = ws.recv_cmd("group");
    assert_eq!(g["group"]["unread"], 0);

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

/// The item `id` of a group's history as `node` shows it.
fn item(node: &Node, group: &str, id: &str) -> Value {
    items(node, group)
        .into_iter()
        .find(|m| m["id"] == id)
        .unwrap_or(Value::Null)
}

fn sorted(mut ids: Vec<&str>) -> Value {
    ids.sort();
    json!(ids)
}

/// Delivered to 2 of 2, then read by 1 of 2, seen by the author in history and as
/// `group_receipt` events; the reader's unread count follows its read mark; system
/// lines name who created, added and removed, the same on every member; the removed
/// member is told who removed it.
#[test]
fn the_author_sees_who_holds_and_who_read_and_every_roster_change_is_a_line() {
    let a = Node::start();
    // B and C commit 300 ms late, so their receipts (sent once committed) come after
    // A's answer to the send, which this test checks is still empty: on a loaded
    // machine A's own commit once came after B's receipt.
    let b = Node::builder()
        .arg("--store-commit-delay-ms")
        .arg("300")
        .arg("--connect")
        .arg(format!("127.0.0.1:{}", a.port))
        .start();
    let c = Node::builder()
        .arg("--store-commit-delay-ms")
        .arg("300")
        .arg("--connect")
        .arg(format!("127.0.0.1:{}", a.port))
        .arg("--connect")
        .arg(format!("127.0.0.1:{}", b.port))
        .start();
    assert!(
        eventually(WAIT, || connected(&a, &b)
            && connected(&a, &c)
            && connected(&b, &c)),
        "the three did not connect"
    );
    for (x, y) in [(&a, &b), (&b, &a), (&a, &c), (&c, &a), (&b, &c), (&c, &b)] {
        befriend(x, y);
    }
    let r = post(
        &a,
        "groups",
        &json!({"name": "receipts", "members": [b.id, c.id]}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let gid = serde_json::from_str::<Value>(&r.text()).expect("json")["id"]
        .as_str()
        .expect("id")
        .to_string();
    for n in [&b, &c] {
        assert!(eventually(WAIT, || phase(n, &gid) == "invited"));
        let r = post(n, &format!("groups/{gid}/accept"), &json!({}));
        assert_eq!(r.status, 200, "{}", r.text());
    }
    for n in [&a, &b, &c] {
        assert!(
            eventually(WAIT, || group(n, &gid)
                .is_some_and(|g| g["members"].as_array().map(Vec::len) == Some(3))),
            "not all three members"
        );
    }
    let mut ws = a.ws();
    ws.send(json!({"cmd": "hello"}));
    ws.recv_cmd("peers");

    let m = say(&a, &gid, "did you get this?");
    let mid = m["id"].as_str().expect("id").to_string();
    assert_eq!(m["kind"], "text");
    assert_eq!((&m["delivered"], &m["read"]), (&json!([]), &json!([])));
    // Delivered to both (2/2), read by none.
    let both = sorted(vec![&b.id, &c.id]);
    assert!(
        eventually(WAIT, || item(&a, &gid, &mid)["delivered"] == both),
        "not delivered to both: {}",
        item(&a, &gid, &mid)
    );
    assert_eq!(item(&a, &gid, &mid)["read"], json!([]));
    for _ in 0..2 {
        let e = ws.recv_cmd("group_receipt");
        assert_eq!((&e["group"], &e["message"]), (&json!(gid), &json!(mid)));
        assert_eq!(e["kind"], "delivered", "{e}");
    }
    // B's copy is not marked as ours, and is unread there.
    assert!(item(&b, &gid, &mid).get("delivered").is_none());
    assert!(eventually(WAIT, || group(&b, &gid).is_some_and(|g| g["unread"] == 1)));

    // B reads it: read by 1 of 2.
    let r = post(&b, &format!("groups/{gid}/read"), &json!({"upto": mid}));
    assert_eq!(r.status, 204, "{}", r.text());
    assert!(
        eventually(WAIT, || item(&a, &gid, &mid)["read"] == json!([b.id])),
        "not read by B: {}",
        item(&a, &gid, &mid)
    );
    assert_eq!(item(&a, &gid, &mid)["delivered"], both);
    let e = ws.recv_cmd("group_receipt");
    assert_eq!((&e["member"], &e["kind"]), (&json!(b.id), &json!("read")));
    assert_eq!(group(&b, &gid).expect("group")["unread"], 0);
    assert_eq!(group(&c, &gid).expect("group")["unread"], 1);
    // A read mark naming nothing of the group is refused.
    let r = post(
        &b,
        &format!("groups/{gid}/read"),
        &json!({"upto": "00".repeat(16)}),
    );
    assert_eq!(r.status, 404, "{}", r.text());

    // A removes C: one more line; C is told who did it.
    let r = post(
        &a,
        &format!("groups/{gid}/remove"),
        &json!({"member": c.id}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(eventually(WAIT, || group(&c, &gid)
        .is_some_and(
            |g| g["phase"] == "removed" && g["removed_by"] == a.id
        )));
    let lines = |n: &Node| -> Vec<(Value, Value, Value)> {
        items(n, &gid)
            .into_iter()
            .filter(|m| m["kind"] == "system")
            .map(|m| (m["change"].clone(), m["by"].clone(), m["member"].clone()))
            .collect()
    };
    let want = vec![
        (json!("created"), json!(a.id), Value::Null),
        (json!("added"), json!(a.id), json!(b.id)),
        (json!("added"), json!(a.id), json!(c.id)),
        (json!("removed"), json!(a.id), json!(c.id)),
    ];
    assert!(
        eventually(WAIT, || lines(&b) == want),
        "B's lines: {:?}",
        lines(&b)
    );
    assert_eq!(lines(&a), want);
    // One order, the same ids, on both members.
    let all_ids =
        |n: &Node| -> Vec<Value> { items(n, &gid).iter().map(|m| m["id"].clone()).collect() };
    assert_eq!(all_ids(&a), all_ids(&b));
    // C, no longer in the roster, is still known by name to B.
    let known = group(&b, &gid).expect("group")["known"].clone();
    assert!(
        known
            .as_array()
            .is_some_and(|k| k.iter().any(|x| x["id"] == c.id && x["name"] != "")),
        "{known}"
    );
    assert_eq!(group(&b, &gid).expect("group")["removed_by"], Value::Null);
}
