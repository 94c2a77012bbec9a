//! Regression (issue 16, point 4): history pages were bounded by count only. 200 texts
//! of 64 KiB of control characters from a peer (each `\u0001` is 6 bytes of JSON) made
//! one `GET /api/v1/messages?limit=500` a ~79 MB answer, held (twice) for as long as a
//! client did not read it; four such clients took the node past 600 MB. Pages now stop
//! at about 1 MiB of JSON (at least one message) and say so, and paging on with
//! `before` still yields every message once, in order, on the API and the WebSocket.

mod support;

use std::collections::HashSet;
use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{get, http, HttpResp, Node};

const TEXTS: usize = 200;
const TEXT_BYTES: usize = 64 * 1024;
/// The page bound (1 MiB of JSON) plus one message that crosses it (a 64 KiB text of
/// control characters is ~384 KiB of JSON).
const MAX_PAGE_JSON: usize = (1 << 20) + 400 * 1024;

/// B sends A `TEXTS` texts of `TEXT_BYTES` control characters; returns once A has
/// them all (as unread messages from B).
fn flood(a: &Node, b: &Node) {
    let token = b.token();
    let start = Instant::now();
    for i in 0..TEXTS {
        // A different control character each time, all escaped as \u00XX in JSON.
        let c = char::from(1 + (i % 8) as u8);
        let body = json!({"to": a.id, "text": c.to_string().repeat(TEXT_BYTES)}).to_string();
        let r = http(
            b.addr(),
            &format!(
                "POST /api/v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            ),
        );
        assert_eq!(r.status, 201, "text {i}: {}", r.text());
    }
    let unread = || {
        a.peers()
            .iter()
            .find(|p| p["id"] == b.id.as_str())
            .and_then(|p| p["unread"].as_u64())
    };
    assert!(
        support::eventually(Duration::from_secs(30), || unread() == Some(TEXTS as u64)),
        "A did not get all {TEXTS} texts: {:?}",
        unread()
    );
    eprintln!("{TEXTS} texts sent and received in {:?}", start.elapsed());
}

fn page(a: &Node, path: &str) -> HttpResp {
    let r = get(
        a.addr(),
        path,
        &format!("Authorization: Bearer {}\r\n", a.token()),
    );
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    r
}

/// The seqs of a page, checked: oldest first, each message whole.
fn seqs(messages: &[Value]) -> Vec<i64> {
    for m in messages {
        assert_eq!(m["text"].as_str().map(str::len), Some(TEXT_BYTES));
    }
    let seqs: Vec<i64> = messages.iter().filter_map(|m| m["seq"].as_i64()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    seqs
}

/// Every seq once, newest page first: a page of `TEXTS` in all, in order.
fn check_all(pages: Vec<Vec<i64>>) {
    let all: Vec<i64> = pages.into_iter().rev().flatten().collect();
    assert_eq!(all.len(), TEXTS, "{all:?}");
    assert!(all.windows(2).all(|w| w[0] < w[1]), "{all:?}");
    assert_eq!(all.iter().collect::<HashSet<_>>().len(), TEXTS);
}

#[test]
fn history_pages_are_bounded_by_bytes_and_page_on_to_every_message() {
    let (a, b) = support::pair();
    flood(&a, &b);

    // The API: the page stops near 1 MiB and its `Link` names the next one.
    let mut path = format!("/api/v1/messages?peer={}&limit=500", b.id);
    let mut pages = Vec::new();
    for _ in 0..TEXTS {
        let r = page(&a, &path);
        assert!(r.body.len() <= MAX_PAGE_JSON, "{} bytes", r.body.len());
        let messages: Vec<Value> = serde_json::from_slice(&r.body).unwrap();
        assert!(!messages.is_empty());
        let seqs = seqs(&messages);
        let next = r.header("link");
        pages.push(seqs.clone());
        let Some(next) = next else { break };
        let url = format!(
            "/api/v1/messages?peer={}&before={}&limit=500",
            b.id, seqs[0]
        );
        assert_eq!(next, format!("<{url}>; rel=\"next\""));
        path = url;
    }
    assert!(pages.len() > 1, "one page of {} messages", pages[0].len());
    check_all(pages);

    // The WebSocket: the same pages, with `truncated` while there is more.
    let mut ws = a.ws();
    let mut before: Option<i64> = None;
    let mut pages = Vec::new();
    for _ in 0..TEXTS {
        let mut cmd = json!({"cmd": "history", "peer": b.id, "limit": 500});
        if let Some(before) = before {
            cmd["before"] = json!(before);
        }
        ws.send(cmd);
        let ev = ws.recv_cmd("history");
        assert!(ev.to_string().len() <= MAX_PAGE_JSON);
        let messages = ev["messages"].as_array().cloned().unwrap_or_default();
        let seqs = seqs(&messages);
        pages.push(seqs.clone());
        if ev["truncated"] != true {
            break;
        }
        before = seqs.first().copied();
    }
    assert!(pages.len() > 1);
    check_all(pages);
}

#[test]
fn four_clients_that_do_not_read_their_history_hold_little_memory() {
    let (a, b) = support::pair();
    flood(&a, &b);
    std::thread::sleep(Duration::from_millis(500));
    let baseline = a.rss_kib();
    let request = format!(
        "GET /api/v1/messages?peer={}&limit=500 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\n\r\n",
        b.id,
        a.token()
    );
    let clients: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut s = TcpStream::connect(a.addr()).unwrap();
            s.write_all(request.as_bytes()).unwrap();
            s
        })
        .collect();
    let mut peak = baseline;
    let end = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end {
        peak = peak.max(a.rss_kib());
        std::thread::sleep(Duration::from_millis(50));
    }
    let held = a.rss_kib();
    drop(clients);
    eprintln!(
        "RSS of the node: {} KiB before, peak {} KiB, {} KiB after 10 s with 4 clients not reading",
        baseline, peak, held
    );
    assert!(
        peak.saturating_sub(baseline) < 32 * 1024,
        "RSS {baseline} -> {peak} KiB"
    );
}
