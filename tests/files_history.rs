//! Issue 17, what a conversation keeps of its files: the node's own upload copies are
//! deleted once their transfer is over (a file the user named by path never is), the
//! files stay in `history` / `GET /api/v1/messages?files=1` after a restart with their
//! final state and caption, and leftovers in `files/outgoing` are swept at start.

mod support;

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};
use support::faults::{hello, wait_event};
use support::files::{accept, make_file, offer, post, wait_state};
use support::{eventually, read_response, HttpResp, Node};

/// `POST /api/v1/files` as the UI sends it, with an optional caption header.
fn upload(node: &Node, to: &str, name: &str, file: &[u8], caption: Option<&str>) -> HttpResp {
    let mut s = TcpStream::connect(node.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let port = node.port;
    let caption = caption
        .map(|c| format!("X-Purr-Caption: {c}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "POST /api/v1/files HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: purr_token={}\r\n\
         Origin: http://127.0.0.1:{port}\r\nSec-Fetch-Site: same-origin\r\n\
         Content-Type: application/octet-stream\r\nX-Purr-To: {to}\r\n\
         X-Purr-File-Name: {name}\r\n{caption}Content-Length: {}\r\nConnection: close\r\n\r\n",
        node.token(),
        file.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    let _ = s.write_all(file);
    read_response(&mut s).expect("an answer")
}

fn uploaded(node: &Node, to: &str, name: &str, file: &[u8], caption: Option<&str>) -> String {
    let r = upload(node, to, name, file, caption);
    assert_eq!(r.status, 201, "{}", r.text());
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    v["id"].as_str().unwrap().to_string()
}

fn outgoing(node: &Node) -> Vec<PathBuf> {
    std::fs::read_dir(node.data_dir.join("files").join("outgoing"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

/// The files of the newest history page with `peer`, by id.
fn page_files(node: &Node, peer: &str) -> Vec<Value> {
    let page = node.api(&format!("messages?peer={peer}&files=1"));
    page["files"].as_array().cloned().expect("files")
}

fn find<'a>(files: &'a [Value], id: &str) -> &'a Value {
    files
        .iter()
        .find(|f| f["id"] == id)
        .unwrap_or_else(|| panic!("{id} not in {files:?}"))
}

fn start_a(data: &Path, b: &Node) -> Node {
    let a = Node::builder()
        .data_dir(data)
        .arg("--connect")
        .arg(format!("127.0.0.1:{}", b.port))
        .start();
    assert!(
        eventually(Duration::from_secs(10), || a.sees_online(&b.id)
            && b.sees_online(&a.id)),
        "A and B did not connect"
    );
    a
}

#[test]
fn upload_copies_go_when_their_transfer_ends_and_files_stay_in_history_after_a_restart() {
    let b = Node::start();
    let tmp = tempfile::tempdir().unwrap();
    let a_data = tmp.path().join("a");
    let mut a = start_a(&a_data, &b);

    // A message first, so the files have a place among messages.
    let r = post(
        &a,
        "messages",
        &json!({"to": b.id, "text": "here they come"}),
    );
    assert_eq!(r.status, 201, "{}", r.text());

    // 1. An upload, delivered: its copy goes. The caption travels with the offer.
    let done = uploaded(
        &a,
        &b.id,
        "cat.png",
        &[1u8; 3000],
        Some("look%20at%20him%0Ahi"),
    );
    assert_eq!(outgoing(&a).len(), 1, "the upload is stored first");
    let offered = wait_state(&b, &done, "offered", Duration::from_secs(10));
    assert_eq!(offered["caption"], "look at him\nhi");
    accept(&b, &done);
    wait_state(&b, &done, "done", Duration::from_secs(20));
    let t = wait_state(&a, &done, "done", Duration::from_secs(10));
    assert!(
        eventually(Duration::from_secs(5), || outgoing(&a).is_empty()),
        "the delivered upload's copy is still there: {:?}",
        outgoing(&a)
    );
    assert_eq!(t["content"], false, "its content is gone: {t}");

    // 2. An upload the peer declines: its copy goes too.
    let declined = uploaded(&a, &b.id, "dog.bin", &[2u8; 100], None);
    wait_state(&b, &declined, "offered", Duration::from_secs(10));
    let r = post(&b, &format!("files/{declined}/decline"), &json!({}));
    assert_eq!(r.status, 200, "{}", r.text());
    wait_state(&a, &declined, "ended", Duration::from_secs(10));
    assert!(
        eventually(Duration::from_secs(5), || outgoing(&a).is_empty()),
        "the declined upload's copy is still there"
    );

    // 3. A file the user named by path, cancelled: never deleted.
    let src = make_file(tmp.path(), "mine.bin", 5000);
    let cancelled = offer(&a, &b, &src);
    let r = post(&a, &format!("files/{cancelled}/cancel"), &json!({}));
    assert_eq!(r.status, 200, "{}", r.text());
    wait_state(&b, &cancelled, "ended", Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(300));
    assert!(src.exists(), "the user's own file was deleted");

    // A path inside the upload folder is refused: nothing the user names is deleted.
    let inside = a_data.join("files").join("outgoing").join("x.bin");
    std::fs::write(&inside, b"x").unwrap();
    let r = post(
        &a,
        "files",
        &json!({"to": b.id, "path": inside.display().to_string()}),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    // A bidi override in a caption is refused, as in a name.
    let r = upload(&a, &b.id, "c.txt", b"c", Some("a%E2%80%AEb"));
    assert_eq!(r.status, 400, "{}", r.text());

    // 4. A restart: the leftover in outgoing is swept; the files stay in history.
    assert!(a.stop_within(Duration::from_secs(10)).is_some());
    drop(a);
    let a = start_a(&a_data, &b);
    assert!(outgoing(&a).is_empty(), "leftovers: {:?}", outgoing(&a));
    let files = page_files(&a, &b.id);
    assert_eq!(files.len(), 3, "{files:?}");
    let f = find(&files, &done);
    assert_eq!(
        (&f["state"], &f["caption"]),
        (&json!("done"), &json!("look at him\nhi"))
    );
    assert_eq!(f["thumb"], false);
    let f = find(&files, &declined);
    assert_eq!(f["state"], "ended");
    assert!(f["reason"].as_str().unwrap().contains("declined"), "{f}");
    let f = find(&files, &cancelled);
    assert_eq!(
        (&f["state"], &f["reason"]),
        (&json!("ended"), &json!("cancelled by the user"))
    );
    // Oldest first, and the plain SPEC array stays as it was.
    let created: Vec<i64> = files
        .iter()
        .map(|f| f["created"].as_i64().unwrap())
        .collect();
    assert!(created.windows(2).all(|w| w[0] <= w[1]), "{created:?}");
    assert!(a.api(&format!("messages?peer={}", b.id)).is_array());
    // `purr history` shows them among the messages, one line each.
    let out = std::process::Command::new(support::BIN)
        .args(["history", &b.id, "--data-dir"])
        .arg(&a.data_dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(
        lines[0].ends_with("me: here they come  [delivered]"),
        "{text}"
    );
    assert!(
        lines[1].ends_with("me: [file] cat.png (3.0 kB) done — look at him ⏎ hi"),
        "{text}"
    );
    assert!(
        lines[2].ends_with("me: [file] dog.bin (100 B) ended: ended by the peer: declined"),
        "{text}"
    );
    assert!(lines[3].contains("[file] mine.bin"), "{text}");

    // The receiver's side, over the WebSocket: the history event carries the files,
    // the received one done and its content there.
    let mut ws = hello(&b);
    ws.send(json!({"cmd": "history", "peer": a.id}));
    let h = wait_event(&mut ws, "history", |v| v["cmd"] == "history");
    let files = h["files"].as_array().cloned().expect("files in history");
    assert_eq!(files.len(), 3, "{files:?}");
    let f = find(&files, &done);
    assert_eq!((&f["state"], &f["content"]), (&json!("done"), &json!(true)));
}

#[test]
fn a_decline_and_a_cancel_made_while_the_other_side_is_away_reach_it_when_it_is_back() {
    let tmp = tempfile::tempdir().unwrap();
    let b_data = tmp.path().join("b");
    let b_port = support::free_port();
    let start_b = || Node::builder().data_dir(&b_data).port(b_port).start();
    let mut b = start_b();
    let a_data = tmp.path().join("a");
    let mut a = start_a(&a_data, &b);

    // Declined while the sender is away; the receiver restarts before it is back.
    let one = offer(&a, &b, &make_file(tmp.path(), "one.bin", 1000));
    wait_state(&b, &one, "offered", Duration::from_secs(10));
    let a_id = a.id.clone();
    assert!(a.stop_within(Duration::from_secs(10)).is_some());
    drop(a);
    assert!(eventually(Duration::from_secs(10), || !b.sees_online(&a_id)));
    let r = post(&b, &format!("files/{one}/decline"), &json!({}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(b.stop_within(Duration::from_secs(10)).is_some());
    drop(b);
    b = start_b();
    a = start_a(&a_data, &b);
    let t = wait_state(&a, &one, "ended", Duration::from_secs(10));
    assert_eq!(t["reason"], "ended by the peer: declined");

    // Cancelled by the sender while the receiver is away; the sender restarts too.
    let two = offer(&a, &b, &make_file(tmp.path(), "two.bin", 1000));
    wait_state(&b, &two, "offered", Duration::from_secs(10));
    assert!(b.stop_within(Duration::from_secs(10)).is_some());
    drop(b);
    let r = post(&a, &format!("files/{two}/cancel"), &json!({}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(a.stop_within(Duration::from_secs(10)).is_some());
    drop(a);
    let b = start_b();
    let a = start_a(&a_data, &b);
    let t = wait_state(&b, &two, "ended", Duration::from_secs(10));
    assert_eq!(t["reason"], "ended by the peer: cancelled by the user");

    // Told once: after another session nothing changes, and both keep the end.
    let page = page_files(&a, &b.id);
    assert_eq!(find(&page, &two)["state"], "ended");
    assert_eq!(find(&page, &one)["reason"], "ended by the peer: declined");
}

mod hostile {
    //! Captions and ends from a peer that is a test, not a purr node.

    use std::process::Command;
    use std::time::{Duration, Instant};

    use purr::peer::files::{Cancel, Offer};
    use purr::peer::inner::{Inner, MsgId};

    use super::support::fake_peer::{id_hex, FakePeer};
    use super::support::faults::{hello, wait_event};
    use super::support::files::{make_file, post, transfer, wait_state};
    use super::support::{Node, BIN};
    use serde_json::json;

    const SEED: [u8; 32] = [0x7c; 32];

    fn until<T>(peer: &mut FakePeer, mut f: impl FnMut(Inner) -> Option<T>) -> T {
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end {
            if let Some(t) = peer.recv().and_then(&mut f) {
                return t;
            }
        }
        panic!("the node did not answer in time");
    }

    fn offer(id: MsgId, caption: Option<String>) -> Inner {
        Inner::FileOffer(Offer {
            id,
            name: "a.bin".into(),
            size: 10,
            mime: "application/octet-stream".into(),
            chunk: 131_072,
            thumb: None,
            caption,
        })
    }

    #[test]
    fn captions_are_cleaned_and_ends_are_said_again_and_taken_once() {
        let node = Node::start();
        let mut ws = hello(&node);
        let mut evil = FakePeer::connect(node.addr(), SEED, "evil");
        evil.send(&Inner::Caps(vec!["files".into()])).unwrap();

        // A caption with a bidi override, a NUL and 5,000 characters: kept cleaned, cut.
        let one = MsgId([1; 16]);
        let caption = format!("see\u{202e}gpj.exe\u{0}\n{}", "é".repeat(5000));
        evil.send(&offer(one, Some(caption))).unwrap();
        let t = wait_state(&node, &one.to_string(), "offered", Duration::from_secs(10));
        // The offer made the stranger a contact, and the UIs hear it.
        wait_event(&mut ws, "evil as a contact", |v| {
            v["cmd"] == "peer" && v["peer"]["id"] == id_hex(SEED) && v["peer"]["stranger"] == false
        });
        let kept = t["caption"].as_str().expect("caption");
        assert!(kept.starts_with("seegpj.exe\n"), "{kept:?}");
        assert_eq!(kept.chars().count(), 1024);

        // Declined while the peer is here; the peer missed it and offers again: the
        // node acknowledges and says again that it was declined.
        let r = post(&node, &format!("files/{one}/decline"), &json!({}));
        assert_eq!(r.status, 200, "{}", r.text());
        until(&mut evil, |m| {
            matches!(m, Inner::FileCancel(c) if c.id == one).then_some(())
        });
        evil.send(&offer(one, None)).unwrap();
        let again = until(&mut evil, |m| match m {
            Inner::FileCancel(Cancel { id, reason }) if id == one => Some(reason),
            _ => None,
        });
        assert_eq!(again, "declined");

        // An FCAN is taken once: the same one again, or one for an unknown id, changes
        // nothing and closes nothing.
        let two = MsgId([2; 16]);
        evil.send(&offer(two, None)).unwrap();
        wait_state(&node, &two.to_string(), "offered", Duration::from_secs(10));
        for reason in ["first", "second"] {
            let c = Cancel {
                id: two,
                reason: reason.into(),
            };
            evil.send(&Inner::FileCancel(c)).unwrap();
        }
        let c = Cancel {
            id: MsgId([9; 16]),
            reason: "nothing".into(),
        };
        evil.send(&Inner::FileCancel(c)).unwrap();
        let t = wait_state(&node, &two.to_string(), "ended", Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(200));
        let t2 = transfer(&node, &two.to_string()).expect("known");
        assert_eq!(t["reason"], "ended by the peer: first");
        assert_eq!(t2["reason"], "ended by the peer: first");

        // `purr send-file --caption`: the words travel in the offer.
        let dir = tempfile::tempdir().unwrap();
        let src = make_file(dir.path(), "c.bin", 100);
        let to = id_hex(SEED);
        let run = |extra: &[&str]| {
            Command::new(BIN)
                .args(["send-file", &to, src.to_str().unwrap()])
                .args(extra)
                .arg("--data-dir")
                .arg(&node.data_dir)
                .output()
                .unwrap()
        };
        let out = run(&["--caption", "for you\nboth lines"]);
        assert!(out.status.success(), "{out:?}");
        let got = until(&mut evil, |m| match m {
            Inner::FileOffer(o) => Some(o.caption),
            _ => None,
        });
        assert_eq!(got.as_deref(), Some("for you\nboth lines"));
        // A caption that would hide a name is refused before anything is offered.
        let out = run(&["--caption", "x\u{202e}y"]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("invisible character"), "{err}");
    }
}
