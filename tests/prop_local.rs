//! Property tests of the local side's parsers of untrusted input: HTTP request heads and
//! routing (SPEC §3), UI WebSocket commands (SPEC §5), `--peers` files (SPEC §1).
//!
//! As in `prop_peer.rs`: arbitrary input never panics, and what a well-behaved client
//! sends parses back to exactly what it meant.

use std::io::Read;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use proptest::collection::vec;
use proptest::prelude::*;
use purr::api::ClientCmd;
use purr::bus::StateHandle;
use purr::http::request::{read_request, ReadError, TimedRead, MAX_HEAD};
use purr::http::{guard, route, Action, HttpContext};
use serde_json::{json, Value};

/// A byte source that hands out its data in chunks of the given sizes, like a socket.
struct Chunked {
    data: Vec<u8>,
    at: usize,
    sizes: Vec<usize>,
    next: usize,
}

impl Read for Chunked {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let size = self.sizes[self.next % self.sizes.len()].max(1);
        self.next += 1;
        let n = size.min(buf.len()).min(self.data.len() - self.at);
        buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

impl TimedRead for Chunked {
    fn set_timeout(&mut self, _: Duration) -> std::io::Result<()> {
        Ok(())
    }
}

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(5)
}

/// A routing context whose state "thread" drops every command: API calls get `503` at
/// once instead of waiting for a node.
fn ctx() -> HttpContext {
    let (state, rx) = StateHandle::detached();
    thread::spawn(move || for _ in rx {});
    HttpContext {
        state,
        token: Some(Arc::from("ab".repeat(32))),
        files_dir: Arc::from(std::path::Path::new("/nonexistent/purr-files")),
    }
}

/// A request as a well-behaved client builds it.
#[derive(Debug, Clone)]
struct Head {
    method: String,
    path: String,
    query: Option<String>,
    minor: u8,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Head {
    fn bytes(&self) -> Vec<u8> {
        let target = match &self.query {
            Some(q) => format!("{}?{q}", self.path),
            None => self.path.clone(),
        };
        let mut s = format!("{} {target} HTTP/1.{}\r\n", self.method, self.minor);
        for (n, v) in &self.headers {
            s.push_str(&format!("{n}: {v}\r\n"));
        }
        if !self.body.is_empty() {
            s.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        }
        s.push_str("\r\n");
        let mut out = s.into_bytes();
        out.extend_from_slice(&self.body);
        out
    }
}

fn head() -> impl Strategy<Value = Head> {
    let header = (
        "[A-Za-z][A-Za-z0-9-]{0,15}",
        // Values as parsed are trimmed: no leading or trailing blanks here.
        prop_oneof![Just(String::new()), "[!-~]([ -~]{0,30}[!-~])?"],
    );
    (
        "[A-Z]{1,7}",
        "/[A-Za-z0-9._~/%-]{0,40}",
        prop::option::of("[A-Za-z0-9=&%._-]{0,30}"),
        0u8..=1,
        vec(header, 0..12),
        vec(any::<u8>(), 0..64),
    )
        .prop_map(|(method, path, query, minor, headers, body)| {
            // One value per name (case-insensitively) so `header()` can be checked, and
            // no framing headers but the Content-Length `bytes()` adds.
            let mut seen = std::collections::HashSet::new();
            let headers = headers
                .into_iter()
                .filter(|(n, _)| {
                    let lower = n.to_ascii_lowercase();
                    lower != "content-length" && lower != "transfer-encoding" && seen.insert(lower)
                })
                .collect();
            Head {
                method,
                path,
                query,
                minor,
                headers,
                body,
            }
        })
}

/// Any JSON value, nested a few levels.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,20}".prop_map(Value::from),
        prop_oneof![
            Just("hello"),
            Just("send"),
            Just("history"),
            Just("verify"),
            Just("connect")
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("cmd".to_string()),
                    Just("peer".to_string()),
                    Just("text".to_string()),
                    "[a-z]{1,6}"
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn hex(len: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[0-9a-f]{{{len}}}")).expect("regex")
}

/// Every command SPEC §5 defines, as the UI sends it (front/src/api.ts).
fn client_cmd() -> impl Strategy<Value = (ClientCmd, Value)> {
    prop_oneof![
        Just((ClientCmd::Hello, json!({"cmd": "hello"}))),
        Just((ClientCmd::Peers, json!({"cmd": "peers"}))),
        (
            hex(64),
            prop::option::of(any::<i64>()),
            prop::option::of(any::<u32>())
        )
            .prop_map(|(peer, before, limit)| {
                let mut v = json!({"cmd": "history", "peer": peer});
                if let Some(b) = before {
                    v["before"] = json!(b);
                }
                if let Some(l) = limit {
                    v["limit"] = json!(l);
                }
                (
                    ClientCmd::History {
                        peer,
                        before,
                        limit,
                    },
                    v,
                )
            }),
        (hex(64), "(?s).{0,300}").prop_map(|(to, text)| {
            let v = json!({"cmd": "send", "to": to, "text": text});
            (ClientCmd::Send { to, text }, v)
        }),
        hex(64).prop_map(|peer| {
            let v = json!({"cmd": "read", "peer": peer});
            (ClientCmd::Read { peer }, v)
        }),
        ".{0,40}".prop_map(|addr| {
            let v = json!({"cmd": "connect", "addr": addr});
            (ClientCmd::Connect { addr }, v)
        }),
        ".{0,80}".prop_map(|name| {
            let v = json!({"cmd": "rename", "name": name});
            (ClientCmd::Rename { name }, v)
        }),
        (hex(64), any::<bool>()).prop_map(|(peer, verified)| {
            let v = json!({"cmd": "verify", "peer": peer, "verified": verified});
            (ClientCmd::Verify { peer, verified }, v)
        }),
    ]
}

/// A `--peers` line that names a target: IPv4, IPv6 in brackets, or a host name.
fn target() -> impl Strategy<Value = String> {
    prop_oneof![
        (any::<[u8; 4]>(), 1u16..)
            .prop_map(|(ip, port)| { format!("{}:{port}", std::net::Ipv4Addr::from(ip)) }),
        (any::<u128>(), 1u16..)
            .prop_map(|(ip, port)| { format!("[{}]:{port}", std::net::Ipv6Addr::from(ip)) }),
        ("[a-z][a-z0-9-]{0,20}(\\.[a-z0-9-]{1,10}){0,3}", 1u16..)
            .prop_map(|(host, port)| format!("{host}:{port}")),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn request_heads_round_trip_through_any_chunking(
        head in head(),
        sizes in vec(1usize..64, 1..4),
        pipelined in prop::option::of(head()),
    ) {
        let mut data = head.bytes();
        let next = pipelined.as_ref().map(Head::bytes).unwrap_or_default();
        data.extend_from_slice(&next);
        let mut src = Chunked { data, at: 0, sizes, next: 0 };
        let mut buf = Vec::new();
        let req = read_request(&mut src, &mut buf, deadline()).unwrap();
        prop_assert_eq!(&req.method, &head.method);
        prop_assert_eq!(&req.path, &head.path);
        prop_assert_eq!(&req.query, &head.query);
        prop_assert_eq!(req.minor_version, head.minor);
        prop_assert_eq!(&req.body, &head.body);
        for (name, value) in &head.headers {
            prop_assert_eq!(req.header(name), Some(value.as_str()));
            prop_assert_eq!(req.header(&name.to_ascii_uppercase()), Some(value.as_str()));
        }
        if let Some(p) = pipelined {
            let req2 = read_request(&mut src, &mut buf, deadline()).unwrap();
            prop_assert_eq!(req2.path, p.path);
            prop_assert_eq!(req2.body, p.body);
        }
    }

    #[test]
    fn request_reader_and_router_never_panic(
        bytes in vec(any::<u8>(), 0..600),
        sizes in vec(1usize..64, 1..4),
    ) {
        let ctx = ctx();
        let mut src = Chunked { data: bytes, at: 0, sizes, next: 0 };
        let mut buf = Vec::new();
        // Keep reading pipelined requests until the input is used up or refused.
        for _ in 0..8 {
            match read_request(&mut src, &mut buf, deadline()) {
                Ok(req) => {
                    let _ = guard::presented_token(&req);
                    let _ = guard::origin_ok(req.header("origin"), req.header("host"));
                    let _ = req.wants_close();
                    let _ = route(&req, &ctx);
                }
                Err(ReadError::HeadTooLarge) => {
                    // 600 bytes cannot exceed 16 KiB: only "more than 64 headers" is left.
                    prop_assert!(buf.len() < MAX_HEAD);
                    break;
                }
                Err(_) => break,
            }
        }
    }

    #[test]
    fn mutated_requests_are_routed_without_panics(
        head in head(),
        host in prop_oneof![Just("127.0.0.1:35035".to_string()), Just("localhost".to_string()), ".{0,20}"],
        edits in vec((any::<usize>(), any::<u8>()), 0..4),
    ) {
        let mut h = head;
        h.headers.retain(|(n, _)| !n.eq_ignore_ascii_case("host"));
        h.headers.push(("Host".into(), host));
        h.headers.push(("Cookie".into(), format!("purr_token={}", "ab".repeat(32))));
        let mut bytes = h.bytes();
        for (at, b) in edits {
            let i = at % bytes.len();
            bytes[i] = b;
        }
        let mut src = bytes.as_slice();
        if let Ok(req) = read_request(&mut src, &mut Vec::new(), deadline()) {
            let _ = route(&req, &ctx());
        }
    }

    /// SPEC §3: only `localhost`, `127.0.0.1`, `[::1]` (any numeric port) pass the Host
    /// check, and a WebSocket Origin must be the page's own origin.
    #[test]
    fn host_and_origin_guards(
        host in prop_oneof![Just("localhost"), Just("LocalHost"), Just("127.0.0.1"), Just("[::1]")],
        port in prop::option::of(any::<u16>()),
        other in ".{0,30}",
        origin in ".{0,30}",
    ) {
        let full = match port { Some(p) => format!("{host}:{p}"), None => host.to_string() };
        let (own, tls) = (format!("http://{full}"), format!("https://{full}"));
        prop_assert!(guard::host_ok(Some(&full)));
        prop_assert!(guard::origin_ok(Some(&own), Some(&full)));
        prop_assert!(!guard::origin_ok(Some(&tls), Some(&full)));
        // No Origin is good enough for a Host that fails the Host check.
        if !guard::host_ok(Some(&other)) {
            let same = format!("http://{other}");
            prop_assert!(!guard::origin_ok(Some(&origin), Some(&other)));
            prop_assert!(!guard::origin_ok(Some(&same), Some(&other)));
        }
    }

    #[test]
    fn the_token_is_required_for_every_path(
        path in "/[A-Za-z0-9._/-]{0,30}",
        token in prop::option::of(hex(64)),
    ) {
        let ctx = ctx();
        let auth = token.as_ref().map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
        let raw = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:1\r\n{auth}\r\n");
        let req = read_request(&mut raw.as_bytes(), &mut Vec::new(), deadline()).unwrap();
        let right = token.as_deref() == Some(&"ab".repeat(32));
        match route(&req, &ctx) {
            Action::Respond(resp) if !right => prop_assert_eq!(resp.status, 401, "{}", path),
            Action::Respond(resp) => prop_assert_ne!(resp.status, 401),
            Action::WebSocket => prop_assert!(right && path == "/ws"),
            Action::File(_) => prop_assert!(right),
        }
    }

    #[test]
    fn client_commands_round_trip((cmd, mut value) in client_cmd(), extra in any::<u32>()) {
        prop_assert_eq!(ClientCmd::parse(&value.to_string()), Ok(cmd.clone()));
        // Unknown fields are ignored (forward compatibility).
        value["x_extra"] = json!(extra);
        prop_assert_eq!(ClientCmd::parse(&value.to_string()), Ok(cmd.clone()));
        prop_assert_eq!(ClientCmd::parse(&value.to_string()).map(|c| c.name()), Ok(cmd.name()));
    }

    #[test]
    fn client_command_parse_never_panics(text in "(?s).{0,300}") {
        let _ = ClientCmd::parse(&text);
    }

    #[test]
    fn client_command_parse_never_panics_on_any_json(value in json_value()) {
        let text = value.to_string();
        match ClientCmd::parse(&text) {
            Ok(cmd) => prop_assert_eq!(value["cmd"].as_str(), Some(cmd.name())),
            Err(e) => {
                if !value.is_object() {
                    prop_assert!(matches!(e, purr::api::CmdError::BadJson(_)));
                }
            }
        }
    }

    /// `--peers FILE`: targets come back in order without duplicates, comments and blank
    /// lines are skipped, and each line's number is right for bad lines.
    #[test]
    fn peers_file_lines_round_trip(
        lines in vec(prop_oneof![
            3 => (target(), prop::option::of("[ a-z]{0,10}"), "[ \t]{0,3}").prop_map(|(t, c, pad)| {
                let comment = c.map(|c| format!(" # {c}")).unwrap_or_default();
                (Some(t.clone()), format!("{pad}{t}{pad}{comment}"))
            }),
            1 => Just((None, String::new())),
            1 => "# [ -~]{0,20}".prop_map(|c| (None, c)),
        ], 0..20),
        bad_at in prop::option::of(any::<usize>()),
    ) {
        let mut text_lines: Vec<String> = lines.iter().map(|(_, l)| l.clone()).collect();
        let bad_line = bad_at.map(|at| {
            let i = at % (text_lines.len() + 1);
            text_lines.insert(i, "not a target".into());
            i + 1
        });
        let (targets, bad) = purr::peers_file::parse(&text_lines.join("\n"));
        let mut expected: Vec<String> = Vec::new();
        for t in lines.iter().filter_map(|(t, _)| t.clone()) {
            if !expected.contains(&t) {
                expected.push(t);
            }
        }
        prop_assert_eq!(targets, expected);
        prop_assert_eq!(bad.iter().map(|(n, _)| *n).collect::<Vec<_>>(), bad_line.into_iter().collect::<Vec<_>>());
    }

    #[test]
    fn peers_file_parse_never_panics(text in "(?s).{0,400}") {
        let (targets, _) = purr::peers_file::parse(&text);
        for t in targets {
            prop_assert!(purr::rules::valid_target(&t), "{t:?}");
        }
    }
}
