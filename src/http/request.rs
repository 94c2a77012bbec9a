//! Reading one HTTP/1.x request from a stream, with every limit of SPEC §3.
//!
//! The head is read into a buffer capped at 16 KiB and parsed once by `httparse` into an
//! owned [`Request`]; bytes after the head (the body, a pipelined next request, or the
//! first WebSocket frames) stay in the caller's buffer. Bodies need `Content-Length`
//! (≤ 1 MiB); `Transfer-Encoding` is refused outright, which also rules out request
//! smuggling tricks that play the two against each other.

use std::io::{ErrorKind, Read};
use std::time::{Duration, Instant};

/// Largest request head (SPEC §3: over 16 KiB → 431).
pub const MAX_HEAD: usize = 16 * 1024;
/// Largest request body (→ 413).
pub const MAX_BODY: usize = 1 << 20;
/// Largest upload (`POST /api/v1/files` with a file body, `super::upload`): streamed to
/// disk, never held in memory.
pub const MAX_UPLOAD: u64 = crate::files::MAX_FILE_SIZE + crate::peer::files::MAX_THUMB as u64;
/// Most headers in one request (→ 431).
const MAX_HEADERS: usize = 64;
/// Headers the guards decide on. Each may appear once: with two `Host` headers the
/// guard would check the first while a proxy or another parser in front of us might
/// route by the last, so a repeated one is a malformed request (400), not a choice.
const SINGLE_HEADERS: &[&str] = &[
    "Host",
    "Origin",
    "Authorization",
    "Content-Type",
    "Sec-Fetch-Site",
];

/// A parsed request.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub method: String,
    /// The path part of the target, always starting with `/`.
    pub path: String,
    /// The raw query string after `?`, if any.
    pub query: Option<String>,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    headers: Vec<(String, String)>,
    /// The body's length from `Content-Length` (checked against [`MAX_BODY`]).
    body_len: usize,
    /// Empty until [`read_body`] has read it.
    pub body: Vec<u8>,
}

/// Why no request could be read. The caller maps each to a response or a silent close.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// The client closed before sending anything: normal end of keep-alive.
    Closed,
    /// Nothing complete arrived before the deadline.
    Timeout,
    /// The head exceeds [`MAX_HEAD`] or has too many headers (431).
    HeadTooLarge,
    /// Not parseable HTTP (400).
    Malformed(String),
    /// `Content-Length` over [`MAX_BODY`] (413).
    BodyTooLarge,
    /// `Transfer-Encoding` in a request (501).
    Unsupported(&'static str),
    /// The connection broke.
    Io(ErrorKind),
}

/// A byte source with a settable read deadline (a `TcpStream`; in tests, a slice).
pub trait TimedRead: Read {
    /// Bounds the next read to `timeout`.
    fn set_timeout(&mut self, timeout: Duration) -> std::io::Result<()>;
}

impl TimedRead for std::net::TcpStream {
    fn set_timeout(&mut self, timeout: Duration) -> std::io::Result<()> {
        self.set_read_timeout(Some(timeout.max(Duration::from_millis(1))))
    }
}

impl TimedRead for &[u8] {
    fn set_timeout(&mut self, _: Duration) -> std::io::Result<()> {
        Ok(())
    }
}

impl Request {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// True when the client asked to close after this request (or spoke 1.0 without
    /// keep-alive).
    pub fn wants_close(&self) -> bool {
        let conn = self.header("connection").unwrap_or("");
        let has = |token: &str| {
            conn.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case(token))
        };
        if self.minor_version == 0 {
            !has("keep-alive")
        } else {
            has("close")
        }
    }

    /// The length of the body the head announced (0 without `Content-Length`).
    pub fn body_len(&self) -> usize {
        self.body_len
    }

    /// True for a file upload (`POST /api/v1/files` with an `application/octet-stream`
    /// body): its body may be up to [`MAX_UPLOAD`] and is streamed to disk, never read
    /// by [`read_body`].
    pub fn is_upload(&self) -> bool {
        self.method == "POST"
            && self.path == "/api/v1/files"
            && super::upload::is_octet_stream(self.header("content-type"))
    }

    /// The value of query parameter `key` (no percent-decoding: our values are hex).
    pub fn query_param(&self, key: &str) -> Option<&str> {
        self.query.as_deref()?.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k == key).then_some(v)
        })
    }
}

/// Reads one request, head and body. `buf` carries bytes already received (pipelining,
/// or bytes read past the previous request) in and out. The whole request must arrive
/// by `deadline`.
pub fn read_request<R: TimedRead>(
    stream: &mut R,
    buf: &mut Vec<u8>,
    deadline: Instant,
) -> Result<Request, ReadError> {
    let mut req = read_head(stream, buf, deadline)?;
    read_body(stream, buf, &mut req, deadline)?;
    Ok(req)
}

/// Reads and checks one request head, leaving the body (of [`Request::body_len`] bytes)
/// unread, so the caller can refuse the request before it buffers up to [`MAX_BODY`].
pub fn read_head<R: TimedRead>(
    stream: &mut R,
    buf: &mut Vec<u8>,
    deadline: Instant,
) -> Result<Request, ReadError> {
    let head_len = loop {
        if let Some(len) = parse_head_len(buf)? {
            break len;
        }
        if buf.len() >= MAX_HEAD {
            return Err(ReadError::HeadTooLarge);
        }
        let room = MAX_HEAD - buf.len();
        if fill(stream, buf, room, deadline)? == 0 {
            return Err(if buf.is_empty() {
                ReadError::Closed
            } else {
                ReadError::Malformed("connection closed inside the request head".into())
            });
        }
    };
    let mut req = parse_head(&buf[..head_len])?;
    buf.drain(..head_len);
    no_repeated_guard_headers(&req)?;
    req.body_len = body_length(&req)?;
    Ok(req)
}

/// Reads the body announced by a head from [`read_head`] into `req.body`.
pub fn read_body<R: TimedRead>(
    stream: &mut R,
    buf: &mut Vec<u8>,
    req: &mut Request,
    deadline: Instant,
) -> Result<(), ReadError> {
    let body_len = req.body_len;
    if body_len > MAX_BODY {
        // An upload's body: streamed by `super::upload`, never buffered here.
        return Err(ReadError::BodyTooLarge);
    }
    while buf.len() < body_len {
        let room = body_len - buf.len();
        if fill(stream, buf, room, deadline)? == 0 {
            return Err(ReadError::Malformed(
                "connection closed inside the body".into(),
            ));
        }
    }
    req.body = buf.drain(..body_len).collect();
    Ok(())
}

/// Reads at most `room` more bytes into `buf`; returns how many (0 = EOF).
fn fill<R: TimedRead>(
    stream: &mut R,
    buf: &mut Vec<u8>,
    room: usize,
    deadline: Instant,
) -> Result<usize, ReadError> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(ReadError::Timeout);
    }
    stream
        .set_timeout(left)
        .map_err(|e| ReadError::Io(e.kind()))?;
    let mut chunk = [0u8; 4096];
    let want = room.min(chunk.len());
    loop {
        match stream.read(&mut chunk[..want]) {
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                return Ok(n);
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(ReadError::Timeout)
            }
            Err(e) => return Err(ReadError::Io(e.kind())),
        }
    }
}

/// The length of the complete head at the start of `buf`, or `None` if more is needed.
fn parse_head_len(buf: &[u8]) -> Result<Option<usize>, ReadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => Ok(Some(len)),
        Ok(httparse::Status::Partial) => Ok(None),
        Err(httparse::Error::TooManyHeaders) => Err(ReadError::HeadTooLarge),
        Err(e) => Err(ReadError::Malformed(e.to_string())),
    }
}

fn parse_head(head: &[u8]) -> Result<Request, ReadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    req.parse(head)
        .map_err(|e| ReadError::Malformed(e.to_string()))?;
    let (Some(method), Some(target), Some(version)) = (req.method, req.path, req.version) else {
        return Err(ReadError::Malformed("incomplete request line".into()));
    };
    if !target.starts_with('/') {
        return Err(ReadError::Malformed("request target must be a path".into()));
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (target.to_string(), None),
    };
    let mut owned = Vec::with_capacity(req.headers.len());
    for h in req.headers.iter() {
        let value = std::str::from_utf8(h.value)
            .map_err(|_| ReadError::Malformed(format!("header {} is not UTF-8", h.name)))?;
        owned.push((h.name.to_string(), value.trim().to_string()));
    }
    Ok(Request {
        method: method.to_string(),
        path,
        query,
        minor_version: version,
        headers: owned,
        body_len: 0,
        body: Vec::new(),
    })
}

/// Refuses a head that repeats one of [`SINGLE_HEADERS`].
fn no_repeated_guard_headers(req: &Request) -> Result<(), ReadError> {
    for name in SINGLE_HEADERS {
        let count = req
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .count();
        if count > 1 {
            return Err(ReadError::Malformed(format!("more than one {name} header")));
        }
    }
    Ok(())
}

fn body_length(req: &Request) -> Result<usize, ReadError> {
    if req.header("transfer-encoding").is_some() {
        return Err(ReadError::Unsupported("Transfer-Encoding"));
    }
    let mut lengths = req
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.parse::<u64>());
    let Some(first) = lengths.next() else {
        return Ok(0);
    };
    let len = first.map_err(|_| ReadError::Malformed("bad Content-Length".into()))?;
    if lengths.any(|other| other != Ok(len)) {
        return Err(ReadError::Malformed("conflicting Content-Length".into()));
    }
    let max = if req.is_upload() {
        MAX_UPLOAD
    } else {
        MAX_BODY as u64
    };
    if len > max {
        return Err(ReadError::BodyTooLarge);
    }
    usize::try_from(len).map_err(|_| ReadError::BodyTooLarge)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(bytes: &[u8]) -> (Result<Request, ReadError>, Vec<u8>) {
        let mut src = bytes;
        let mut buf = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(5);
        let r = read_request(&mut src, &mut buf, deadline);
        (r, buf)
    }

    #[test]
    fn parses_a_simple_get() {
        let (r, rest) = read(b"GET /a/b?token=ff&x=1 HTTP/1.1\r\nHost: localhost\r\n\r\n");
        let r = r.unwrap();
        assert_eq!(r.method, "GET");
        assert_eq!(r.path, "/a/b");
        assert_eq!(r.query_param("token"), Some("ff"));
        assert_eq!(r.header("HOST"), Some("localhost"));
        assert!(!r.wants_close());
        assert!(rest.is_empty());
    }

    #[test]
    fn pipelined_requests_stay_in_the_buffer() {
        let two = b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n";
        let (r, rest) = read(two);
        assert_eq!(r.unwrap().path, "/1");
        let mut empty: &[u8] = b"";
        let mut buf = rest;
        let r2 = read_request(
            &mut empty,
            &mut buf,
            Instant::now() + Duration::from_secs(1),
        );
        assert_eq!(r2.unwrap().path, "/2");
    }

    #[test]
    fn body_by_content_length() {
        let (r, _) = read(b"POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloEXTRA");
        assert_eq!(r.unwrap().body, b"hello");
    }

    #[test]
    fn limits() {
        let big = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD));
        assert_eq!(read(big.as_bytes()).0, Err(ReadError::HeadTooLarge));
        let many: String = (0..100).map(|i| format!("H{i}: v\r\n")).collect();
        let many = format!("GET / HTTP/1.1\r\n{many}\r\n");
        assert_eq!(read(many.as_bytes()).0, Err(ReadError::HeadTooLarge));
        let (r, _) = read(b"POST / HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n");
        assert_eq!(r, Err(ReadError::BodyTooLarge));
        let (r, _) = read(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!(r, Err(ReadError::Unsupported("Transfer-Encoding")));
    }

    #[test]
    fn malformed_and_closed() {
        assert!(matches!(
            read(b"GARBAGE\r\n\r\n").0,
            Err(ReadError::Malformed(_))
        ));
        assert!(matches!(
            read(b"GET http://evil/ HTTP/1.1\r\n\r\n").0,
            Err(ReadError::Malformed(_))
        ));
        assert!(matches!(
            read(b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab").0,
            Err(ReadError::Malformed(_))
        ));
        for twice in [
            "Host: a\r\nhost: b",
            "Origin: x\r\nOrigin: x",
            "Sec-Fetch-Site: none\r\nSEC-FETCH-SITE: none",
        ] {
            let raw = format!("GET / HTTP/1.1\r\n{twice}\r\n\r\n");
            assert!(
                matches!(read(raw.as_bytes()).0, Err(ReadError::Malformed(ref why)) if why.contains("more than one")),
                "{twice}"
            );
        }
        assert_eq!(read(b"").0, Err(ReadError::Closed));
        assert!(matches!(read(b"GET / HT").0, Err(ReadError::Malformed(_))));
    }

    #[test]
    fn connection_close_rules() {
        let (r, _) = read(b"GET / HTTP/1.0\r\n\r\n");
        assert!(r.unwrap().wants_close());
        let (r, _) = read(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        assert!(!r.unwrap().wants_close());
        let (r, _) = read(b"GET / HTTP/1.1\r\nConnection: Close\r\n\r\n");
        assert!(r.unwrap().wants_close());
    }
}
