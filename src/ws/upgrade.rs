//! Validating a WebSocket upgrade request (RFC 6455 §4.2.1) and computing the accept key.

use crate::http::request::Request;
use crate::http::response::Response;

fn has_token(value: Option<&str>, token: &str) -> bool {
    value.is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
}

/// The `Sec-WebSocket-Accept` value for a valid upgrade request, or the refusal.
pub fn accept_key(req: &Request) -> Result<String, Response> {
    if req.method != "GET" || req.minor_version != 1 {
        return Err(Response::text(
            400,
            "WebSocket upgrade needs GET over HTTP/1.1",
        ));
    }
    if !has_token(req.header("upgrade"), "websocket")
        || !has_token(req.header("connection"), "upgrade")
    {
        return Err(Response::text(400, "expected a WebSocket upgrade request"));
    }
    if req.header("sec-websocket-version") != Some("13") {
        return Err(Response::text(426, "WebSocket version 13 required")
            .with("Sec-WebSocket-Version", "13"));
    }
    let key = req
        .header("sec-websocket-key")
        .filter(|k| k.len() == 24 && k.ends_with("=="))
        .ok_or_else(|| Response::text(400, "missing or malformed Sec-WebSocket-Key"))?;
    Ok(tungstenite::handshake::derive_accept_key(key.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::request::read_request;
    use std::time::{Duration, Instant};

    fn req(raw: &str) -> Request {
        let mut src = raw.as_bytes();
        read_request(
            &mut src,
            &mut Vec::new(),
            Instant::now() + Duration::from_secs(1),
        )
        .unwrap()
    }

    #[test]
    fn rfc_6455_example_key() {
        let r = req("GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
        assert_eq!(accept_key(&r).unwrap(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn refuses_non_upgrades() {
        let r = req("GET /ws HTTP/1.1\r\nHost: localhost\r\n\r\n");
        assert_eq!(accept_key(&r).unwrap_err().status, 400);
        let r = req("GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
        assert_eq!(accept_key(&r).unwrap_err().status, 426);
    }
}
