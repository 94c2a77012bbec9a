//! `purr doctor --peer HOST:PORT` (issue 20): what answers at an address — purr (with its
//! id and fingerprint, proved by a full handshake), an HTTP server (its status line and
//! `Server`), something else (its first bytes), or nothing (refused, timed out, closed)
//! — with the TCP connect time and the handshake time. Everything within [`TOTAL`].
//!
//! The handshake uses a throwaway identity made for this probe: what it proves is the
//! *other* side's key, and a probe should not make the far node meet (or count against)
//! our real identity. The far node sees a stranger named "purr doctor" that leaves at
//! once (strangers are kept in memory only, docs/SECURITY.md §2.6).
//!
//! ```text
//!  connect (≤ 2 s) ──▶ it speaks first within 300 ms? ──yes──▶ HTTP/… banner or "something else"
//!                        │ no
//!                        ▼
//!                 our HAND, handshake (≤ 2 s) ──ok──▶ purr: id, fingerprint, name, port
//!                        │ fails: bytes it sent back decide (HAND → purr that refused us,
//!                        ▼         HTTP/ → HTTP, others → something else)
//!                 silent: a second connection, `GET / HTTP/1.0` (the rest of the 5 s)
//! ```

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::deadline::Deadlined;

/// The whole probe, all steps together (the issue: `purr doctor` within 5 s).
pub const TOTAL: Duration = Duration::from_millis(4800);
/// One TCP connect at most.
const CONNECT_MAX: Duration = Duration::from_secs(2);
/// How long we listen for a server that speaks first (SSH, SMTP...) before our `HAND`.
/// purr never speaks first, so this is the price of telling them apart.
const SPEAKS_FIRST: Duration = Duration::from_millis(300);
/// The handshake at most, leaving time for the HTTP question.
const HANDSHAKE_MAX: Duration = Duration::from_secs(2);
/// Bytes kept of what the far side sent.
const KEEP: usize = 1024;
/// Bytes of a non-purr, non-HTTP answer shown.
const SHOW: usize = 32;

/// What answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Answer {
    /// A purr node: the handshake proved its key.
    Purr,
    /// An HTTP server.
    Http,
    /// Something that is neither.
    Other,
    /// No answer: refused, timed out, unreachable, or closed without a word.
    Nothing,
}

/// The outcome of `purr doctor --peer` (its `--json`; docs/HTTP.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    /// As given.
    pub target: String,
    /// The address that was dialled (the first that connected, or the last tried).
    pub addr: Option<String>,
    pub answer: Answer,
    /// One line in words.
    pub says: String,
    /// Milliseconds the TCP connect took.
    pub connect_ms: Option<f64>,
    /// Milliseconds the purr handshake took (when it completed).
    pub handshake_ms: Option<f64>,
    /// A purr node's id (64 hex), fingerprint, name and listening port (from its `HAND`).
    pub id: Option<String>,
    pub fingerprint: Option<String>,
    pub name: Option<String>,
    pub port: Option<u16>,
    /// An HTTP server's status line, and its `Server` header if it sent one.
    pub banner: Option<String>,
    /// The first bytes of another answer, escaped (`\xNN` for non-printable bytes).
    pub first_bytes: Option<String>,
    /// Why nothing answered, or why the handshake failed.
    pub error: Option<String>,
}

impl Probe {
    fn new(target: &str) -> Probe {
        Probe {
            target: target.to_string(),
            addr: None,
            answer: Answer::Nothing,
            says: String::new(),
            connect_ms: None,
            handshake_ms: None,
            id: None,
            fingerprint: None,
            name: None,
            port: None,
            banner: None,
            first_bytes: None,
            error: None,
        }
    }
}

impl std::fmt::Display for Probe {
    /// `127.0.0.1:35035: purr …` then the timings.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{}: {}", self.target, self.says)?;
        let ms = |v: Option<f64>| v.map(|v| format!("{v:.1} ms"));
        match (ms(self.connect_ms), ms(self.handshake_ms)) {
            (Some(c), Some(h)) => write!(f, "TCP connect {c}, handshake {h}"),
            (Some(c), None) => write!(f, "TCP connect {c}"),
            _ => write!(f, "no TCP connection"),
        }
    }
}

fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 10_000.0).round() / 10.0
}

/// Probes `target` (`host:port`). A host name is resolved by the system first (not
/// bounded by [`TOTAL`]: use an address to be sure).
pub fn probe(target: &str) -> Probe {
    let start = Instant::now();
    let end = start + TOTAL;
    let mut out = Probe::new(target);
    let addrs: Vec<SocketAddr> = match target.to_socket_addrs() {
        Ok(a) => a.collect(),
        Err(e) => {
            out.error = Some(e.to_string());
            out.says = format!("nothing: {target} does not resolve ({e})");
            return out;
        }
    };
    let mut connected = None;
    for addr in addrs {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        out.addr = Some(addr.to_string());
        let began = Instant::now();
        match TcpStream::connect_timeout(&addr, left.min(CONNECT_MAX)) {
            Ok(s) => {
                out.connect_ms = Some(millis(began.elapsed()));
                connected = Some((s, addr));
                break;
            }
            Err(e) => out.error = Some(connect_words(&e)),
        }
    }
    let Some((stream, addr)) = connected else {
        let why = out.error.clone().unwrap_or_else(|| "no address".into());
        out.says = format!("nothing: {why}");
        return out;
    };
    let _ = stream.set_nodelay(true);

    // 1. A server that speaks first is not purr.
    let mut heard = Vec::new();
    let quiet_until = (Instant::now() + SPEAKS_FIRST).min(end);
    match read_some(&stream, quiet_until, &mut heard) {
        Heard::Bytes => return classify(out, &heard, None),
        Heard::Closed => {
            out.says = "nothing: it accepted the connection and closed it without a word".into();
            return out;
        }
        Heard::Silent => {}
    }

    // 2. Our HAND: a purr node answers with its own and the handshake proves its key.
    let began = Instant::now();
    let mut io = Recorder {
        inner: Deadlined {
            stream: &stream,
            deadline: (began + HANDSHAKE_MAX).min(end),
        },
        seen: Vec::new(),
    };
    let result = handshake(&mut io, stream.local_addr().map_or(1, |a| a.port()));
    match result {
        Ok(est) => {
            out.handshake_ms = Some(millis(began.elapsed()));
            out.answer = Answer::Purr;
            let id = crate::hex::encode(&est.peer_id);
            let fp = crate::identity::fingerprint(&est.peer_id);
            out.says = format!(
                "purr \"{}\", id {id}, fingerprint {fp}, listening on port {}",
                est.peer_name, est.peer_port
            );
            out.id = Some(id);
            out.fingerprint = Some(fp);
            out.name = Some(est.peer_name);
            out.port = Some(est.peer_port);
            return out;
        }
        Err(e) if !io.seen.is_empty() => return classify(out, &io.seen.clone(), Some(e)),
        Err(_) => {}
    }
    drop(stream);

    // 3. Silent to our HAND: ask it as HTTP on a fresh connection with what time is left.
    let left = end.saturating_duration_since(Instant::now());
    let mut answer = Vec::new();
    if !left.is_zero() {
        if let Ok(s) = TcpStream::connect_timeout(&addr, left) {
            let mut io = Deadlined {
                stream: &s,
                deadline: end,
            };
            let ask =
                format!("GET / HTTP/1.0\r\nHost: {target}\r\nUser-Agent: purr-doctor\r\n\r\n");
            if io.write_all(ask.as_bytes()).is_ok() {
                let _ = read_some(&s, end, &mut answer);
            }
        }
    }
    if !answer.is_empty() {
        return classify(out, &answer, None);
    }
    out.says = format!(
        "nothing: it accepted the connection but answered neither purr's handshake nor \
         HTTP within {:.1} s",
        start.elapsed().as_secs_f64()
    );
    out
}

/// The handshake with a throwaway identity.
fn handshake(
    io: &mut Recorder<'_>,
    port: u16,
) -> Result<crate::peer::handshake::Established, String> {
    let identity = crate::identity::Identity::generate().map_err(|e| e.to_string())?;
    super::handshake::run_initiator(io, identity.signing_key(), port.max(1), "purr doctor")
        .map_err(|e| e.to_string())
}

/// What came back: purr's own `HAND` (a purr node that refused the handshake), an HTTP
/// status line, or anything else.
fn classify(mut out: Probe, bytes: &[u8], error: Option<String>) -> Probe {
    out.error = error;
    if bytes.starts_with(b"HAND") {
        out.answer = Answer::Purr;
        let why = out.error.clone().unwrap_or_else(|| "?".into());
        out.says = format!("purr, but the handshake failed: {why}");
    } else if bytes.starts_with(b"HTTP/") {
        out.answer = Answer::Http;
        let banner = http_banner(bytes);
        out.says = format!("an HTTP server, not purr: {banner}");
        out.banner = Some(banner);
    } else {
        out.answer = Answer::Other;
        let shown = escape(&bytes[..bytes.len().min(SHOW)]);
        out.says = format!("something else, neither purr nor HTTP: first bytes \"{shown}\"");
        out.first_bytes = Some(shown);
    }
    out
}

/// The status line, and `(Server: …)` when the head names one.
pub fn http_banner(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut lines = text.split("\r\n").flat_map(|l| l.split('\n'));
    let status = escape(lines.next().unwrap_or("").trim().as_bytes());
    let server = lines
        .take_while(|l| !l.is_empty())
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case("server").then(|| v.trim())
        })
        .map(|s| escape(&s.as_bytes()[..s.len().min(80)]));
    match server {
        Some(s) => format!("{status} (Server: {s})"),
        None => status,
    }
}

/// Printable ASCII as it is, anything else as `\xNN`: untrusted bytes never reach a
/// terminal raw.
pub fn escape(bytes: &[u8]) -> String {
    let mut s = String::new();
    for &b in bytes.iter().take(KEEP) {
        if (0x20..0x7f).contains(&b) && b != b'\\' && b != b'"' {
            s.push(b as char);
        } else {
            s.push_str(&format!("\\x{b:02x}"));
        }
    }
    s
}

fn connect_words(e: &std::io::Error) -> String {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::ConnectionRefused => "connection refused (nothing listens on that port)".into(),
        K::TimedOut | K::WouldBlock => "timed out (host off, or packets dropped)".into(),
        K::NetworkUnreachable | K::HostUnreachable => format!("unreachable ({e})"),
        _ => e.to_string(),
    }
}

enum Heard {
    Bytes,
    Silent,
    Closed,
}

/// Reads what arrives until `until` (at most [`KEEP`] bytes in all).
fn read_some(stream: &TcpStream, until: Instant, into: &mut Vec<u8>) -> Heard {
    let mut io = Deadlined {
        stream,
        deadline: until,
    };
    let mut buf = [0u8; 512];
    loop {
        match io.read(&mut buf) {
            Ok(0) => {
                return if into.is_empty() {
                    Heard::Closed
                } else {
                    Heard::Bytes
                }
            }
            Ok(n) => {
                let room = KEEP - into.len();
                into.extend_from_slice(&buf[..n.min(room)]);
                // Enough to name it; an HTTP head (or what may become one: "HT" of a
                // split read) is read on to its Server line.
                let http = into.starts_with(b"HTTP/") || b"HTTP/".starts_with(into);
                if into.len() >= KEEP || !http {
                    return Heard::Bytes;
                }
                if into.windows(4).any(|w| w == b"\r\n\r\n") {
                    return Heard::Bytes;
                }
            }
            Err(_) => {
                return if into.is_empty() {
                    Heard::Silent
                } else {
                    Heard::Bytes
                }
            }
        }
    }
}

/// A stream that keeps a copy of the first [`KEEP`] bytes read from it: when the
/// handshake fails, they say what answered.
struct Recorder<'a> {
    inner: Deadlined<'a>,
    seen: Vec<u8>,
}

impl Read for Recorder<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let room = KEEP.saturating_sub(self.seen.len());
        self.seen.extend_from_slice(&buf[..n.min(room)]);
        Ok(n)
    }
}

impl Write for Recorder<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_told_apart_by_their_first_bytes() {
        let p = classify(Probe::new("x"), b"SSH-2.0-OpenSSH_9.6\r\n", None);
        assert_eq!(p.answer, Answer::Other);
        assert_eq!(
            p.first_bytes.as_deref(),
            Some("SSH-2.0-OpenSSH_9.6\\x0d\\x0a")
        );
        let p = classify(
            Probe::new("x"),
            b"HTTP/1.1 404 Not Found\r\nserver: nginx/1.24\r\n\r\n",
            None,
        );
        assert_eq!(p.answer, Answer::Http);
        assert_eq!(
            p.banner.as_deref(),
            Some("HTTP/1.1 404 Not Found (Server: nginx/1.24)")
        );
        let p = classify(
            Probe::new("x"),
            b"HAND\0\0",
            Some("unsupported version 2".into()),
        );
        assert_eq!(p.answer, Answer::Purr);
        assert!(p.says.contains("unsupported version 2"), "{}", p.says);
    }

    #[test]
    fn an_http_head_split_across_reads_is_read_to_its_end() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            s.write_all(b"HT").unwrap();
            std::thread::sleep(Duration::from_millis(50));
            s.write_all(b"TP/1.0 200 OK\r\nServer: x\r\n\r\n").unwrap();
            std::thread::sleep(Duration::from_millis(200));
        });
        let c = TcpStream::connect(addr).unwrap();
        let mut got = Vec::new();
        let heard = read_some(&c, Instant::now() + Duration::from_secs(2), &mut got);
        assert!(matches!(heard, Heard::Bytes));
        assert_eq!(http_banner(&got), "HTTP/1.0 200 OK (Server: x)");
        server.join().unwrap();
    }

    #[test]
    fn escaped_bytes_cannot_reach_a_terminal_raw() {
        assert_eq!(escape(b"a\x1b[2J\"\\"), "a\\x1b[2J\\x22\\x5c");
        assert_eq!(escape(&[0xff, b'z']), "\\xffz");
    }
}
