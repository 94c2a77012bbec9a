//! Issue 17 from the browser's side: a file uploaded with `POST /api/v1/files`
//! (`application/octet-stream`, its name and a thumbnail in front of it), offered, and
//! accepted, declined or cancelled with the WebSocket's `accept_file`, `decline_file`,
//! `cancel_file`; `files` lists transfers; the thumbnail is served from `/thumb`.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::{json, Value};
use support::faults::{hello, wait_event};
use support::{get, pair, read_response, HttpResp, Node, Ws};

/// A tiny PNG-signature thumbnail (the node checks the magic bytes, not the pixels).
fn thumb() -> Vec<u8> {
    let mut t = b"\x89PNG\r\n\x1a\n".to_vec();
    t.extend_from_slice(&[7u8; 500]);
    t
}

/// `POST /api/v1/files` as the UI sends it; `extra` header lines end in \r\n.
fn upload(node: &Node, to: &str, name: &str, thumb: &[u8], file: &[u8], extra: &str) -> HttpResp {
    let mut s = TcpStream::connect(node.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let port = node.port;
    let head = format!(
        "POST /api/v1/files HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: purr_token={}\r\n\
         Origin: http://127.0.0.1:{port}\r\nSec-Fetch-Site: same-origin\r\n\
         X-Purr-To: {to}\r\nX-Purr-File-Name: {name}\r\nX-Purr-Thumbnail-Length: {}\r\n{extra}\
         Content-Length: {}\r\n\r\n",
        node.token(),
        thumb.len(),
        thumb.len() + file.len()
    );
    let head = if extra.contains("Content-Type") {
        head
    } else {
        head.replace(
            "Content-Length",
            "Content-Type: application/octet-stream\r\nContent-Length",
        )
    };
    s.write_all(head.as_bytes()).unwrap();
    // A refused upload is answered before its body is read; the write may then fail.
    let _ = s.write_all(thumb).and_then(|()| s.write_all(file));
    read_response(&mut s).expect("an answer")
}

fn json_of(r: &HttpResp) -> Value {
    serde_json::from_slice(&r.body).unwrap_or_default()
}

fn file_event(ws: &mut Ws, id: &str, state: &str) -> Value {
    wait_event(ws, &format!("{id} {state}"), |v| {
        v["cmd"] == "file" && v["file"]["id"] == id && v["file"]["state"] == state
    })
}

fn outgoing(node: &Node) -> usize {
    std::fs::read_dir(node.data_dir.join("files/outgoing"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn a_browser_uploads_offers_and_the_other_ui_accepts_declines_or_cancels() {
    let (a, b) = pair();
    let mut wa = hello(&a);
    let mut wb = hello(&b);
    let data: Vec<u8> = (0..700_000u32).map(|i| (i % 251) as u8).collect();

    // Uploaded and offered, with its name (percent-encoded UTF-8) and thumbnail.
    let r = upload(&a, &b.id, "caf%C3%A9%20%2F..%2Fx.png", &thumb(), &data, "");
    assert_eq!(r.status, 201, "{}", r.text());
    let t = json_of(&r);
    let id = t["id"].as_str().unwrap().to_string();
    assert_eq!(t["name"], "café ..x.png");
    assert_eq!(
        (t["thumb"].as_bool(), t["size"].as_u64()),
        (Some(true), Some(700_000))
    );
    assert_eq!(outgoing(&a), 1);

    // B's UI hears of it, lists it, shows the thumbnail, accepts it.
    file_event(&mut wb, &id, "offered");
    wb.send(json!({"cmd": "files"}));
    let files = wb.recv_cmd("files");
    assert!(files["files"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["id"] == id));
    let th = get(
        b.addr(),
        &format!("/api/v1/files/{id}/thumb"),
        &format!("Authorization: Bearer {}\r\n", b.token()),
    );
    assert_eq!(th.status, 200);
    assert_eq!(th.body, thumb());
    assert_eq!(th.header("content-type").as_deref(), Some("image/png"));
    assert_eq!(
        th.header("x-content-type-options").as_deref(),
        Some("nosniff")
    );
    wb.send(json!({"cmd": "accept_file", "id": id}));
    file_event(&mut wb, &id, "done");
    file_event(&mut wa, &id, "done");
    let got = std::fs::read(b.data_dir.join("files/café ..x.png")).unwrap();
    assert_eq!(got, data);

    // Declined by B's UI: A's UI sees it end with the reason.
    let r = upload(&a, &b.id, "two.bin", &[], b"hello", "");
    assert_eq!(r.status, 201, "{}", r.text());
    let id2 = json_of(&r)["id"].as_str().unwrap().to_string();
    file_event(&mut wb, &id2, "offered");
    wb.send(json!({"cmd": "decline_file", "id": id2}));
    let ended = file_event(&mut wa, &id2, "ended");
    assert!(
        ended["file"]["reason"]
            .as_str()
            .unwrap()
            .contains("declined"),
        "{ended}"
    );

    // Cancelled by A's UI while B has not answered.
    let r = upload(&a, &b.id, "three.bin", &[], b"x", "");
    let id3 = json_of(&r)["id"].as_str().unwrap().to_string();
    file_event(&mut wb, &id3, "offered");
    wa.send(json!({"cmd": "cancel_file", "id": id3}));
    file_event(&mut wb, &id3, "ended");

    // A command on an unknown or finished transfer: an error naming it, to that UI.
    wb.send(json!({"cmd": "accept_file", "id": id}));
    let e = wb.recv_cmd("error");
    assert_eq!(e["request"], "accept_file", "{e}");
    wb.send(json!({"cmd": "cancel_file", "id": "nope"}));
    assert_eq!(wb.recv_cmd("error")["request"], "cancel_file");
}

#[test]
fn uploads_keep_the_guards_and_leave_nothing_when_refused() {
    let (a, b) = pair();
    let before = outgoing(&a);
    let r = upload(
        &a,
        &b.id,
        "x.bin",
        &[],
        b"data",
        "Content-Type: text/plain\r\n",
    );
    assert_eq!(r.status, 415, "{}", r.text());
    // Without its name header an octet-stream body is not an upload: 415.
    let mut s = TcpStream::connect(a.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "POST /api/v1/files HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: 4\r\n\r\ndata",
        a.port,
        a.token()
    )
    .unwrap();
    assert_eq!(read_response(&mut s).unwrap().status, 415);
    // A foreign site's browser request.
    let mut s = TcpStream::connect(a.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "POST /api/v1/files HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nCookie: purr_token={}\r\n\
         Origin: http://evil.example\r\nX-Purr-To: {}\r\nX-Purr-File-Name: x\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: 4\r\n\r\ndata",
        a.port,
        a.token(),
        b.id
    )
    .unwrap();
    assert_eq!(read_response(&mut s).unwrap().status, 403);
    // A thumbnail that is not an image, an unknown peer, a body cut short: refused,
    // and no upload is left behind.
    let r = upload(&a, &b.id, "x.bin", b"<svg onload=alert(1)>", b"data", "");
    assert_eq!(r.status, 400, "{}", r.text());
    let r = upload(&a, &"ab".repeat(32), "x.bin", &[], b"data", "");
    assert_eq!(r.status, 404, "{}", r.text());
    let mut s = TcpStream::connect(a.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "POST /api/v1/files HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAuthorization: Bearer {}\r\n\
         X-Purr-To: {}\r\nX-Purr-File-Name: x\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\nonly this",
        a.port,
        a.token(),
        b.id
    )
    .unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    // Larger than the node takes: 413 before anything is read.
    let mut s = TcpStream::connect(a.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "POST /api/v1/files HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAuthorization: Bearer {}\r\n\
         X-Purr-To: {}\r\nX-Purr-File-Name: x\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: 99999999999999\r\n\r\n",
        a.port,
        a.token(),
        b.id
    )
    .unwrap();
    assert_eq!(read_response(&mut s).unwrap().status, 413);
    a.wait_for("no upload left behind", Duration::from_secs(5), |a| {
        outgoing(a) == before
    });
}
