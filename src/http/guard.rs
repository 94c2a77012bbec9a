//! The checks every local request passes (SPEC §3): Host, token, Origin, Content-Type.
//!
//! Host defeats DNS rebinding (a page on evil.example whose name now resolves to
//! 127.0.0.1 still sends `Host: evil.example`). The token keeps other local users and
//! other sites out. Origin defeats cross-site WebSocket hijacking, which the cookie alone
//! cannot (browsers attach cookies to cross-site WebSocket handshakes in some modes).
//!
//! Origin (and `Sec-Fetch-Site`) also guard every state-changing request: a page on
//! another port of `localhost` is *same-site*, so the `SameSite=Strict` cookie goes
//! along with its form posts, and under `--no-ui-auth` there is no cookie to miss at
//! all. Requiring `Content-Type: application/json` keeps out the three "simple" types
//! (`text/plain`, urlencoded, multipart) a form can send without a CORS preflight.

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

/// True for methods that may change state: everything but `GET` and `HEAD`. We serve
/// no other method to anyone, so refusing the others cross-site costs nothing.
pub fn is_state_changing(method: &str) -> bool {
    !matches!(method, "GET" | "HEAD")
}

/// True when a browser's `Sec-Fetch-Site` allows a state-changing request: `same-origin`,
/// `none` (typed in, a bookmark) or absent (a script, an older browser). `same-site` is
/// exactly the other-port page the Origin check is for, and unknown values fail closed.
pub fn fetch_site_ok(value: Option<&str>) -> bool {
    value.is_none_or(|v| v.eq_ignore_ascii_case("same-origin") || v.eq_ignore_ascii_case("none"))
}

/// True when `Content-Type` is `application/json`, parameters (`; charset=utf-8`) allowed.
pub fn is_json(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
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
    fn cross_site_helpers() {
        assert!(!is_state_changing("GET") && !is_state_changing("HEAD"));
        for m in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "get"] {
            assert!(is_state_changing(m), "{m}");
        }
        assert!(fetch_site_ok(None));
        assert!(fetch_site_ok(Some("same-origin")) && fetch_site_ok(Some("none")));
        for bad in ["same-site", "cross-site", "", "same-origin, cross-site"] {
            assert!(!fetch_site_ok(Some(bad)), "{bad}");
        }
        assert!(is_json(Some("application/json")));
        assert!(is_json(Some("Application/JSON ; charset=utf-8")));
        for bad in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/jsonp",
            "text/plain; application/json",
            "",
        ] {
            assert!(!is_json(Some(bad)), "{bad}");
        }
        assert!(!is_json(None));
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
