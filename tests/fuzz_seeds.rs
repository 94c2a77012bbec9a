//! The fuzz targets' seed corpus (`fuzz/corpus/<target>/`), recorded from real traffic:
//! an in-memory handshake between the fuzz fixtures followed by records of every inner
//! kind, the HTTP requests that purr's own client and a WebSocket client put on a socket,
//! and the UI's commands.
//!
//! The recording is deterministic (fixed keys, ephemerals and IVs; ports normalized), so
//! this test checks that the committed seeds are exactly what the code sends today.
//! After a protocol change, rewrite them with:
//!
//! ```text
//! PURR_WRITE_SEEDS=1 cargo test --test fuzz_seeds
//! ```

#[path = "../fuzz/src/lib.rs"]
mod fixtures;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use fixtures::*;
use purr::http::request::read_request;
use purr::peer::auth::sign_auth;
use purr::peer::frame::{self, Frame};
use purr::peer::handshake::{Established, Handshake, Step};
use purr::peer::inner::Inner;
use purr::peer::session::{Role, Session};

type Corpus = BTreeMap<&'static str, Vec<(String, Vec<u8>)>>;

fn one_frame(bytes: &mut &[u8]) -> Frame {
    frame::read_frame(bytes).expect("a recorded frame")
}

fn step(hs: Handshake, bytes: &mut &[u8]) -> Step {
    hs.on_frame(one_frame(bytes))
        .expect("recorded handshake step")
}

fn cont(step: Step) -> (Handshake, Vec<u8>) {
    match step {
        Step::Continue(hs, out) => (hs, out),
        Step::Done(_) => panic!("handshake finished early"),
    }
}

fn done(step: Step) -> Established {
    match step {
        Step::Done(est) => est,
        Step::Continue(..) => panic!("handshake did not finish"),
    }
}

/// Both directions of a recorded session: HAND, AUTH, then one record of every kind.
struct Session2 {
    initiator_bytes: Vec<u8>,
    responder_bytes: Vec<u8>,
    initiator_hand: Vec<u8>,
    initiator_auth: Vec<u8>,
    responder_hand_auth: Vec<u8>,
    auth_inner: Vec<u8>,
}

fn record_session() -> Session2 {
    let (ini, hand_i) = initiator();
    let (res, out_r) = cont(step(responder(), &mut hand_i.as_slice()));
    let mut r = out_r.as_slice();
    let (ini, auth_i) = cont(step(ini, &mut r));
    let mut ini_est = done(step(ini, &mut r));
    let mut res_est = done(step(res, &mut auth_i.as_slice()));
    assert_eq!(ini_est.th, res_est.th);

    let mut initiator_bytes = [hand_i.clone(), auth_i.clone()].concat();
    let mut responder_bytes = out_r.clone();
    for inner in every_inner_kind() {
        seal(&mut ini_est.session, b'I', &inner, &mut initiator_bytes);
        seal(&mut res_est.session, b'R', &inner, &mut responder_bytes);
    }
    let mut auth_inner = Vec::new();
    Inner::Auth(sign_auth(&initiator_key(), Role::Initiator, &ini_est.th)).encode(&mut auth_inner);
    Session2 {
        initiator_bytes,
        responder_bytes,
        initiator_hand: hand_i,
        initiator_auth: auth_i,
        responder_hand_auth: out_r,
        auth_inner,
    }
}

/// Runs `client` against a one-shot server that records the raw bytes of each request
/// and answers with the given responses, in order.
fn capture(answers: Vec<String>, client: impl FnOnce(u16)) -> Vec<Vec<u8>> {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = thread::spawn(move || {
        let mut got = Vec::new();
        for answer in answers {
            let (mut s, _) = listener.accept().unwrap();
            let mut tee = Tee {
                inner: s.try_clone().unwrap(),
                seen: Vec::new(),
            };
            let mut buf = Vec::new();
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            tee.inner
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            read_request(&mut tee, &mut buf, deadline).expect("a request from the client");
            got.push(tee.seen);
            let _ = s.write_all(answer.as_bytes());
        }
        got
    });
    client(port);
    let got = server.join().unwrap();
    got.into_iter()
        .map(|raw| {
            String::from_utf8(raw)
                .expect("ASCII request")
                .replace(&format!(":{port}"), ":35035")
                .into_bytes()
        })
        .collect()
}

/// A socket that remembers what was read from it.
struct Tee {
    inner: TcpStream,
    seen: Vec<u8>,
}

impl Read for Tee {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.seen.extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

impl purr::http::request::TimedRead for Tee {
    fn set_timeout(&mut self, t: Duration) -> std::io::Result<()> {
        self.inner.set_read_timeout(Some(t))
    }
}

fn http_answer(status: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// What `purr peers` and `purr send` put on the wire (`src/client.rs`).
fn purr_client_requests() -> Vec<Vec<u8>> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ui.token"), TOKEN).unwrap();
    let peer_id = "cd".repeat(32);
    let peers = format!(
        r#"[{{"id":"{peer_id}","name":"bob","fingerprint":"X","online":true,"addr":null,"unread":0,"last_seen":null,"verified":false,"name_conflict":false}}]"#
    );
    let message = format!(
        r#"{{"id":"{}","seq":1,"peer":"{peer_id}","from":"a","to":"{peer_id}","text":"hi","ts":1,"status":"pending"}}"#,
        "ef".repeat(16)
    );
    let answers = vec![
        http_answer("200 OK", &peers),
        http_answer("200 OK", &peers),
        // `purr send` also lists the groups: a name may be a contact or a group.
        http_answer("200 OK", "[]"),
        http_answer("201 Created", &message),
    ];
    let data_dir = dir.path().to_path_buf();
    capture(answers, move |port| {
        let args = purr::cli::ClientArgs {
            port: Some(port),
            data_dir: Some(data_dir),
        };
        purr::client::peers(&args, false, false).expect("purr peers");
        purr::client::send(&args, "bob", "hello \u{1f431}", None).expect("purr send");
    })
}

/// What a WebSocket client library (tungstenite, as in the tests) sends to open `/ws`.
fn websocket_upgrade_request() -> Vec<u8> {
    use tungstenite::client::IntoClientRequest;
    let answers = vec![String::new()];
    let mut got = capture(answers, |port| {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut req = format!("ws://127.0.0.1:{port}/ws")
            .into_client_request()
            .unwrap();
        let h = req.headers_mut();
        h.insert(
            "Sec-WebSocket-Key",
            "dGhlIHNhbXBsZSBub25jZQ==".parse().unwrap(),
        );
        h.insert("Cookie", format!("purr_token={TOKEN}").parse().unwrap());
        h.insert(
            "Origin",
            format!("http://127.0.0.1:{port}").parse().unwrap(),
        );
        // The server hangs up instead of answering: only the request matters here.
        let _ = tungstenite::client::client(req, stream);
    });
    got.remove(0)
}

/// Requests as Chromium sends them to the UI (header set and order as its network log
/// shows them; values shortened): the token login, the page, an asset revalidation.
fn browser_requests() -> Vec<(String, Vec<u8>)> {
    let common = "Host: 127.0.0.1:35035\r\nConnection: keep-alive\r\nsec-ch-ua: \"Chromium\";v=\"131\"\r\nsec-ch-ua-mobile: ?0\r\nsec-ch-ua-platform: \"Linux\"\r\nUpgrade-Insecure-Requests: 1\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36\r\nAccept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r\nSec-Fetch-Site: none\r\nSec-Fetch-Mode: navigate\r\nSec-Fetch-Dest: document\r\nAccept-Encoding: gzip, deflate, br, zstd\r\nAccept-Language: en-GB,en;q=0.9\r\n";
    let cookie = format!("Cookie: purr_token={TOKEN}\r\n");
    vec![
        (
            "browser_login".into(),
            format!("GET /?token={TOKEN} HTTP/1.1\r\n{common}\r\n").into_bytes(),
        ),
        (
            "browser_page_then_asset".into(),
            format!(
                "GET / HTTP/1.1\r\n{common}{cookie}\r\nGET /assets/index-3f2a1b.js HTTP/1.1\r\nHost: 127.0.0.1:35035\r\nConnection: keep-alive\r\nAccept: */*\r\nReferer: http://127.0.0.1:35035/\r\nIf-None-Match: \"0123456789abcdef\"\r\n{cookie}\r\n"
            )
            .into_bytes(),
        ),
        (
            "foreign_origin_ws".into(),
            format!("GET /ws HTTP/1.1\r\nHost: 127.0.0.1:35035\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://evil.example\r\n{cookie}\r\n").into_bytes(),
        ),
    ]
}

/// The UI's commands (SPEC §5), in the shapes `front/src/api.ts` sends.
fn ui_commands() -> Vec<(String, Vec<u8>)> {
    let peer = "cd".repeat(32);
    [
        ("hello", r#"{"cmd":"hello"}"#.to_string()),
        ("peers", r#"{"cmd":"peers"}"#.to_string()),
        (
            "history",
            format!(r#"{{"cmd":"history","peer":"{peer}","before":120,"limit":50}}"#),
        ),
        (
            "send",
            format!(r#"{{"cmd":"send","to":"{peer}","text":"hello\n\u0000 мяу 🐱"}}"#),
        ),
        ("read", format!(r#"{{"cmd":"read","peer":"{peer}"}}"#)),
        (
            "connect",
            r#"{"cmd":"connect","addr":"[::1]:35036"}"#.to_string(),
        ),
        (
            "rename",
            r#"{"cmd":"rename","name":"alice@kitchen"}"#.to_string(),
        ),
        (
            "verify",
            format!(r#"{{"cmd":"verify","peer":"{peer}","verified":true}}"#),
        ),
    ]
    .into_iter()
    .map(|(n, t)| (n.to_string(), t.into_bytes()))
    .collect()
}

fn payload(frame_bytes: &[u8]) -> Vec<u8> {
    one_frame(&mut &frame_bytes[..]).payload
}

fn corpus() -> Corpus {
    let s = record_session();
    let mut c = Corpus::new();
    c.insert(
        "handshake_responder",
        vec![
            ("session".into(), s.initiator_bytes.clone()),
            ("hand".into(), s.initiator_hand.clone()),
            (
                "hand_auth".into(),
                [s.initiator_hand.clone(), s.initiator_auth.clone()].concat(),
            ),
        ],
    );
    c.insert(
        "handshake_initiator",
        vec![
            ("session".into(), s.responder_bytes.clone()),
            ("hand_auth".into(), s.responder_hand_auth.clone()),
        ],
    );
    c.insert(
        "frame",
        vec![
            ("initiator_session".into(), s.initiator_bytes.clone()),
            ("responder_session".into(), s.responder_bytes.clone()),
        ],
    );
    c.insert(
        "hand",
        vec![
            ("initiator".into(), payload(&s.initiator_hand)),
            ("responder".into(), payload(&s.responder_hand_auth)),
        ],
    );

    let keys = record_keys();
    let mut all = Vec::new();
    let mut tx = Session::new(&keys, Role::Initiator);
    let mut records = Vec::new();
    let mut inners = vec![("auth".to_string(), s.auth_inner.clone())];
    for inner in every_inner_kind() {
        seal(&mut tx, b'I', &inner, &mut all);
        let mut first = Vec::new();
        seal(
            &mut Session::new(&keys, Role::Initiator),
            b'I',
            &inner,
            &mut first,
        );
        let name = String::from_utf8_lossy(&inner.kind()).to_lowercase();
        records.push((name.clone(), first));
        let mut plain = Vec::new();
        inner.encode(&mut plain);
        inners.push((name, plain));
    }
    records.push(("all_kinds".into(), all));
    c.insert("record", records);
    c.insert("inner", inners);

    let mut http: Vec<(String, Vec<u8>)> = Vec::new();
    let client = purr_client_requests();
    let names = [
        "purr_peers",
        "purr_send_lookup",
        "purr_send_groups",
        "purr_send_post",
    ];
    http.extend(names.iter().map(|n| n.to_string()).zip(client));
    http.push(("websocket_upgrade".into(), websocket_upgrade_request()));
    http.extend(browser_requests());
    c.insert("http", http);

    c.insert("ws_cmd", ui_commands());
    // Names as peers and users give them: plain, emoji with ZWJ, a look-alike, a bidi
    // override (refused), white space around.
    c.insert(
        "names",
        [
            "alice@kitchen",
            "👩\u{200d}💻 dev",
            "qu\u{0456}nn",
            "evil\u{202e}gpj.exe",
            "  quinn  ",
        ]
        .iter()
        .enumerate()
        .map(|(i, n)| (format!("name{i}"), n.as_bytes().to_vec()))
        .collect(),
    );
    c.insert(
        "peers_file",
        vec![(
            "example".into(),
            b"# my peers\n192.168.1.20:35035\n\n  pi.local:35035  # the pi\n[fe80::1%2]:35036\n[::1]:35035\nnot-a-target\n"
                .to_vec(),
        )],
    );
    c
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus")
}

#[test]
fn fuzz_seed_corpus_is_recorded_from_real_traffic() {
    let corpus = corpus();
    let root = corpus_dir();
    let write = std::env::var_os("PURR_WRITE_SEEDS").is_some();
    for (target, seeds) in &corpus {
        let dir = root.join(target);
        if write {
            std::fs::create_dir_all(&dir).unwrap();
        }
        for (name, bytes) in seeds {
            let path = dir.join(name);
            if write {
                std::fs::write(&path, bytes).unwrap();
            }
            let committed = std::fs::read(&path).unwrap_or_default();
            assert!(
                committed == *bytes,
                "{} differs from what purr sends now; rewrite the seeds with \
                 PURR_WRITE_SEEDS=1 cargo test --test fuzz_seeds",
                path.display()
            );
        }
    }
}

/// The seeds must lead the targets deep: the recorded sessions authenticate with the
/// fixtures and every record opens; the recorded requests pass the guards.
#[test]
fn fuzz_seeds_reach_past_the_handshake_and_the_guards() {
    let s = record_session();
    for (hs, peer, bytes) in [
        (
            responder(),
            initiator_key().verifying_key().to_bytes(),
            &s.initiator_bytes,
        ),
        (
            initiator().0,
            responder_key().verifying_key().to_bytes(),
            &s.responder_bytes,
        ),
    ] {
        let mut input = bytes.as_slice();
        let mut hs = hs;
        let mut est = loop {
            match step(hs, &mut input) {
                Step::Continue(next, _) => hs = next,
                Step::Done(est) => break est,
            }
        };
        assert_eq!(est.peer_id, peer);
        let mut kinds = Vec::new();
        while !input.is_empty() {
            let f = one_frame(&mut input);
            let inner = Inner::parse(&est.session.open(&f.payload).unwrap()).unwrap();
            kinds.push(inner.kind());
        }
        let expected: Vec<[u8; 4]> = every_inner_kind().iter().map(Inner::kind).collect();
        assert_eq!(kinds, expected);
        // The fixtures' own driver accepts it without tripping an assertion.
        drive(
            if peer == initiator_key().verifying_key().to_bytes() {
                responder()
            } else {
                initiator().0
            },
            peer,
            bytes,
        );
    }

    let ctx = http_context();
    for (name, raw) in &corpus()["http"] {
        let mut input = raw.as_slice();
        let mut buf = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(1);
        let req = read_request(&mut input, &mut buf, deadline).expect(name);
        route_checked(&req);
        let status = match purr::http::route(&req, ctx) {
            purr::http::Action::Respond(r) => r.status,
            purr::http::Action::WebSocket => 101,
            purr::http::Action::File(_) => 200,
        };
        let expected = match name.as_str() {
            "foreign_origin_ws" => 403,
            "browser_login" => 303,
            "websocket_upgrade" => 101,
            // The API got past the guards; the detached state does not answer.
            n if n.starts_with("purr_") => 503,
            _ => 200,
        };
        assert_eq!(status, expected, "{name}");
    }
}
