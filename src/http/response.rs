//! HTTP responses: status, headers, body, written in one go.
//!
//! Every response carries `Content-Length` (so keep-alive works) and the hardening
//! headers a local UI wants: no MIME sniffing, no framing by other sites, no referrer,
//! and on HTML a strict Content-Security-Policy (no inline script, nothing external).

use std::borrow::Cow;
use std::io::Write;

/// The policy for our HTML: everything from this node, nothing inline, nothing external.
pub const CSP: &str = "default-src 'self'; connect-src 'self'; img-src 'self' data:; \
                       object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/// A response ready to write.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    headers: Vec<(&'static str, String)>,
    pub body: Cow<'static, [u8]>,
}

impl Response {
    /// A response with a body and its content type.
    pub fn new(status: u16, content_type: &str, body: impl Into<Cow<'static, [u8]>>) -> Self {
        let mut r = Response {
            status,
            headers: Vec::new(),
            body: body.into(),
        };
        r.headers.push(("Content-Type", content_type.to_string()));
        if content_type.starts_with("text/html") {
            r.headers.push(("Content-Security-Policy", CSP.to_string()));
        }
        r
    }

    /// A one-line plain-text response.
    pub fn text(status: u16, line: &str) -> Self {
        Response::new(
            status,
            "text/plain; charset=utf-8",
            format!("{line}\n").into_bytes(),
        )
    }

    /// A JSON response.
    pub fn json(status: u16, value: &impl serde::Serialize) -> Self {
        let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
        Response::new(status, "application/json", body)
    }

    /// A JSON error `{"error": "..."}` (SPEC §6).
    pub fn json_error(status: u16, error: &str) -> Self {
        Response::json(status, &serde_json::json!({ "error": error }))
    }

    /// A body-less response (redirects, 304).
    pub fn empty(status: u16) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: Cow::Borrowed(b""),
        }
    }

    /// Adds a header.
    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Writes the response. A large body goes out from where it is rather than copied
    /// behind the head first: a history page held for a client that does not read
    /// would otherwise be held twice (the socket has `TCP_NODELAY`, so the second
    /// write does not wait for the first one's ACK).
    pub fn write_to(
        &self,
        w: &mut impl Write,
        head_only: bool,
        close: bool,
    ) -> std::io::Result<()> {
        const COPY_UP_TO: usize = 16 * 1024;
        if head_only || self.body.len() <= COPY_UP_TO {
            return w.write_all(&self.to_bytes(head_only, close));
        }
        w.write_all(&self.to_bytes(true, close))?;
        w.write_all(&self.body)
    }

    /// Serializes the response; `head_only` for HEAD requests, `close` adds
    /// `Connection: close`.
    pub fn to_bytes(&self, head_only: bool, close: bool) -> Vec<u8> {
        let mut out = self.head_bytes(self.body.len() as u64, close);
        if !head_only {
            out.extend_from_slice(&self.body);
        }
        out
    }

    /// The head alone, announcing a body of `content_length` bytes (which the caller
    /// sends itself when it is not `self.body`: a streamed file).
    pub fn head_bytes(&self, content_length: u64, close: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + self.body.len());
        let _ = write!(out, "HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        for (name, value) in &self.headers {
            let _ = write!(out, "{name}: {value}\r\n");
        }
        let _ = write!(out, "Content-Length: {content_length}\r\n");
        out.extend_from_slice(
            b"X-Content-Type-Options: nosniff\r\nX-Frame-Options: DENY\r\nReferrer-Policy: no-referrer\r\n",
        );
        if close {
            out.extend_from_slice(b"Connection: close\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out
    }
}

/// The reason phrase for the statuses we use.
pub fn reason(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        303 => "See Other",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        421 => "Misdirected Request",
        426 => "Upgrade Required",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        507 => "Insufficient Storage",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_with_length_and_security_headers() {
        let r = Response::new(200, "text/html; charset=utf-8", b"<p>hi</p>".to_vec());
        let s = String::from_utf8(r.to_bytes(false, true)).unwrap();
        assert!(s.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(s.contains("Content-Length: 9\r\n"));
        assert!(s.contains("Content-Security-Policy: default-src 'self'"));
        assert!(s.contains("Connection: close\r\n"));
        assert!(s.ends_with("\r\n\r\n<p>hi</p>"));
        let head = String::from_utf8(r.to_bytes(true, false)).unwrap();
        assert!(head.ends_with("\r\n\r\n"));
        assert!(head.contains("Content-Length: 9\r\n"));
    }

    #[test]
    fn write_to_writes_what_to_bytes_makes() {
        for len in [0, 9, 16 * 1024, 16 * 1024 + 1, 1 << 20] {
            let r = Response::new(200, "application/json", vec![b'x'; len]);
            for (head_only, close) in [(false, false), (false, true), (true, false)] {
                let mut out = Vec::new();
                r.write_to(&mut out, head_only, close).unwrap();
                assert_eq!(
                    out,
                    r.to_bytes(head_only, close),
                    "{len} {head_only} {close}"
                );
            }
        }
    }
}
