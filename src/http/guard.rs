//! The checks every local request passes (SPEC §3): Host, token, WebSocket Origin.
//!
//! Host defeats DNS rebinding (a page on evil.example whose name now resolves to
//! 127.0.0.1 still sends `Host: evil.example`). The token keeps other local users and
//! other sites out. Origin defeats cross-site WebSocket hijacking, which the cookie alone
//! cannot (browsers attach cookies to cross-site WebSocket handshakes in some modes).

use subtle::ConstantTimeEq;

use super::request::Request;

/// Name of the cookie that carries the token.
pub const COOKIE: &str = "purr_token";

/// Splits `host[:port]`, with `[v6]` brackets kept on the host part.
fn split_host_port(value: &str) -> Option<(&str, Option<&str>)> {
    if value.starts_with('[') {
        let end = value.find(']')?;
        let (host, rest) = value.split_at(end + 1);
        match rest {
            "" => Some((host, None)),
            _ => rest.strip_prefix(':').map(|p| (host, Some(p))),
        }
    } else {
        match value.split_once(':') {
            Some((h, p)) => Some((h, Some(p))),
            None => Some((value, None)),
        }
    }
}

/// True when a `Host` header names this machine: `localhost`, `127.0.0.1` or `[::1]`,
/// with any (numeric) port. Anything else is a rebinding attempt or a misdirected request.
pub fn host_ok(host: Option<&str>) -> bool {
    let Some((name, port)) = host.and_then(split_host_port) else {
        return false;
    };
    let port_ok = match port {
        None => true,
        Some(p) => !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()),
    };
    port_ok && (name.eq_ignore_ascii_case("localhost") || name == "127.0.0.1" || name == "[::1]")
}

/// True when a WebSocket `Origin` is the page's own origin: `http://` + the (already
/// checked) Host. An absent Origin (a script, not a browser) passes; SPEC §3.
pub fn origin_ok(origin: Option<&str>, host: Option<&str>) -> bool {
    let Some(origin) = origin else {
        return true;
    };
    let Some(host) = host.filter(|h| host_ok(Some(h))) else {
        return false;
    };
    match origin.strip_prefix("http://") {
        Some(rest) => rest.eq_ignore_ascii_case(host),
        None => false,
    }
}

/// The token a request presents: the `purr_token` cookie or `Authorization: Bearer`.
pub fn presented_token(req: &Request) -> Option<&str> {
    if let Some(auth) = req.header("authorization") {
        if let Some(t) = auth.strip_prefix("Bearer ") {
            return Some(t.trim());
        }
    }
    req.header("cookie")?.split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        (name == COOKIE).then_some(value.trim())
    })
}

/// Constant-time token comparison. The length is not secret (always 64), so a length
/// mismatch may return early.
pub fn token_eq(presented: &str, expected: &str) -> bool {
    presented.len() == expected.len() && bool::from(presented.as_bytes().ct_eq(expected.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_check() {
        for ok in [
            "localhost",
            "LOCALHOST:1",
            "127.0.0.1",
            "127.0.0.1:35035",
            "[::1]",
            "[::1]:80",
        ] {
            assert!(host_ok(Some(ok)), "{ok}");
        }
        for bad in [
            "",
            "evil.example",
            "localhost.evil.example",
            "127.0.0.2",
            "127.0.0.1.nip.io",
            "[::1]x",
            "[::1]:",
            "localhost:abc",
            "10.0.0.1:35035",
            "::1",
        ] {
            assert!(!host_ok(Some(bad)), "{bad}");
        }
        assert!(!host_ok(None));
    }

    #[test]
    fn origin_check() {
        let h = Some("127.0.0.1:5000");
        assert!(origin_ok(None, h));
        assert!(origin_ok(Some("http://127.0.0.1:5000"), h));
        assert!(!origin_ok(Some("http://127.0.0.1:5001"), h));
        assert!(!origin_ok(Some("http://localhost:5000"), h));
        assert!(!origin_ok(Some("https://127.0.0.1:5000"), h));
        assert!(!origin_ok(Some("http://evil.example"), h));
        assert!(!origin_ok(Some("null"), h));
        assert!(origin_ok(Some("http://[::1]:7"), Some("[::1]:7")));
        assert!(!origin_ok(
            Some("http://evil.example"),
            Some("evil.example")
        ));
    }

    #[test]
    fn token_compare() {
        let t = "a".repeat(64);
        assert!(token_eq(&t, &t));
        assert!(!token_eq(&"a".repeat(63), &t));
        let mut other = t.clone();
        other.replace_range(63.., "b");
        assert!(!token_eq(&other, &t));
        assert!(!token_eq("", &t));
    }
}
