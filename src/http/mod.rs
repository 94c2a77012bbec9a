//! Local HTTP on the sniffed stream (SPEC §3): keep-alive HTTP/1.1 via `httparse`, the
//! guards, the embedded UI, the JSON API, and the hand-off of `/ws` to [`crate::ws`].
//!
//! ```text
//!   read request ──▶ non-loopback? ──yes──▶ banner, close
//!        ▲               │no
//!        │          Host ok? ──no──▶ 421
//!        │               │
//!        │       /?token=… ──▶ 303 + Set-Cookie
//!        │               │
//!        │   /ws or not GET/HEAD:
//!        │   Origin, Sec-Fetch-Site ok? ──no──▶ 403
//!        │               │
//!        │         token ok? ──no──▶ 401 (hint: purr url)
//!        │               │
//!        │   API, not GET/HEAD: JSON? ──no──▶ 415
//!        │               │
//!        │      /ws ──▶ WebSocket (this thread becomes its reader)
//!        │      /api/v1/… ──▶ JSON
//!        │      else ──▶ embedded file or 404
//!        └──── keep-alive ◀── response
//! ```

pub mod api;
pub mod assets;
pub mod content;
pub mod guard;
pub mod request;
pub mod response;
pub mod upload;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use request::{read_body, read_head, ReadError, Request};
use response::Response;

use crate::bus::StateHandle;

/// An idle keep-alive connection is closed after this (SPEC §3).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// A non-loopback client gets this long to send its request head before the banner.
const BANNER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// The one thing a non-loopback HTTP client learns (SPEC §2).
pub const BANNER: &str = "purr peer-to-peer messenger";

/// What every HTTP connection thread needs.
#[derive(Debug, Clone)]
pub struct HttpContext {
    /// The state thread.
    pub state: StateHandle,
    /// The UI token, or `None` under `--no-ui-auth`.
    pub token: Option<Arc<str>>,
    /// The data dir's `files` folder: uploads go to its `outgoing` ([`upload`]).
    pub files_dir: Arc<std::path::Path>,
}

/// What to do with a routed request.
#[derive(Debug)]
pub enum Action {
    /// Send this response, then keep the connection alive unless asked to close.
    Respond(Response),
    /// Stream a file (`/api/v1/files/<id>/content`), then keep the connection alive.
    File(content::Streamed),
    /// Hand the connection to the WebSocket server.
    WebSocket,
}

/// Serves one connection until it closes, idles out, or becomes a WebSocket.
///
/// Not inlined into the connection thread's entry, which peer connections share: its
/// buffers would sit on their stacks for the connection's life.
#[inline(never)]
pub fn serve(mut stream: TcpStream, peer: SocketAddr, ctx: &HttpContext) {
    if !crate::net::is_loopback(peer.ip()) {
        serve_banner(stream);
        return;
    }
    let mut buf = Vec::new();
    loop {
        let deadline = Instant::now() + IDLE_TIMEOUT;
        let read = read_head(&mut stream, &mut buf, deadline).and_then(|mut req| {
            // The guards come before the body: a client without the token must not
            // make us buffer up to 1 MiB per connection.
            if let Err(refusal) = check(&req, ctx) {
                return Ok((req, Some(refusal)));
            }
            if req.is_upload() {
                // Streamed to disk; answered like a refusal, so the connection ends
                // (the body may be partly unread after an error).
                let resp = upload::receive(&mut stream, &mut buf, &req, &ctx.files_dir, &ctx.state);
                return Ok((req, Some(resp)));
            }
            read_body(&mut stream, &mut buf, &mut req, deadline).map(|()| (req, None))
        });
        let (req, refusal) = match read {
            Ok(read) => read,
            Err(e) => {
                if let Some(resp) = error_response(&e) {
                    let _ = stream.write_all(&resp.to_bytes(false, true));
                }
                return;
            }
        };
        let (action, unread_body) = match refusal {
            Some(resp) => (Action::Respond(resp), req.body_len() > 0),
            None => (route(&req, ctx), false),
        };
        // A refused request's body was never read: the connection cannot go on.
        let close = req.wants_close() || unread_body;
        let head_only = req.method == "HEAD";
        let written = match action {
            Action::Respond(resp) => resp.write_to(&mut stream, head_only, close),
            Action::File(file) => file.write_to(&mut stream, head_only, close),
            Action::WebSocket => {
                crate::ws::serve(stream, &req, buf, ctx);
                return;
            }
        };
        if written.is_err() || close {
            return;
        }
    }
}

/// The response for a request that could not be read, if the client should get one.
fn error_response(e: &ReadError) -> Option<Response> {
    match e {
        ReadError::Closed | ReadError::Timeout | ReadError::Io(_) => None,
        ReadError::HeadTooLarge => Some(Response::text(431, "request head too large")),
        ReadError::BodyTooLarge => Some(Response::text(413, "request body too large")),
        ReadError::Malformed(why) => Some(Response::text(400, &format!("bad request: {why}"))),
        ReadError::Unsupported(what) => {
            Some(Response::text(501, &format!("{what} is not supported")))
        }
    }
}

/// Reads (and ignores) the request, answers with the banner, closes (SPEC §2).
fn serve_banner(mut stream: TcpStream) {
    let mut buf = Vec::new();
    // Reading the head first means a plain GET leaves nothing unread, so the client gets
    // the banner and a FIN rather than a reset that might swallow it. Never the body: a
    // LAN client must not make us buffer it.
    let _ = read_head(&mut stream, &mut buf, Instant::now() + BANNER_READ_TIMEOUT);
    let banner = Response::text(200, BANNER).to_bytes(false, true);
    let _ = stream.write_all(&banner);
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

/// Routes one request from a loopback client.
pub fn route(req: &Request, ctx: &HttpContext) -> Action {
    Action::Respond(match check(req, ctx) {
        Err(resp) => resp,
        Ok(()) if req.path == "/ws" => return Action::WebSocket,
        Ok(()) if req.path.starts_with("/api/") => match file_part(&req.path) {
            Some((id, "content")) => match content::serve(req, id.to_string(), &ctx.state) {
                Ok(file) => return Action::File(file),
                Err(resp) => resp,
            },
            Some((id, "thumb")) => content::thumb(req, id.to_string(), &ctx.state),
            _ => api::route(req, &ctx.state),
        },
        Ok(()) => static_file(req),
    })
}

/// `(<id>, <part>)` of `/api/v1/files/<id>/<part>`.
fn file_part(path: &str) -> Option<(&str, &str)> {
    path.strip_prefix("/api/v1/files/")?
        .split_once('/')
        .filter(|(_, part)| !part.contains('/'))
}

/// The guards, in order: Host (421), cross-site (403), token (401), then the body's
/// type (415). All of them look at the head only. `Err` carries the refusal.
fn check(req: &Request, ctx: &HttpContext) -> Result<(), Response> {
    let host = req.header("host");
    if !guard::host_ok(host) {
        return Err(Response::text(
            421,
            "misdirected request: the Host must be localhost, 127.0.0.1 or [::1]",
        ));
    }
    // Before the token: under `--no-ui-auth` this is the only defence against a page on
    // another port of localhost, and with the token the browser would send the cookie.
    not_cross_site(req)?;
    if let Some(token) = ctx.token.as_deref() {
        token_ok(req, token)?;
    }
    json_body(req)
}

/// The token check, with the one-time `/?token=` login (`303` + cookie) on the way.
fn token_ok(req: &Request, token: &str) -> Result<(), Response> {
    if req.path == "/" {
        if let Some(given) = req.query_param("token") {
            return Err(if guard::token_eq(given, token) {
                Response::empty(303).with("Location", "/").with(
                    "Set-Cookie",
                    format!(
                        "{}={token}; HttpOnly; SameSite=Strict; Path=/",
                        guard::COOKIE
                    ),
                )
            } else {
                unauthorized(req)
            });
        }
    }
    match guard::presented_token(req) {
        Some(given) if guard::token_eq(given, token) => Ok(()),
        _ => Err(unauthorized(req)),
    }
}

/// `403` for the WebSocket or a state-changing request from another origin: a foreign
/// `Origin` (an absent one is a script's and passes), or a browser's `Sec-Fetch-Site`
/// saying `cross-site` or `same-site`, a second line for browsers that omit Origin.
fn not_cross_site(req: &Request) -> Result<(), Response> {
    let guarded = req.path == "/ws" || guard::is_state_changing(&req.method);
    if !guarded {
        return Ok(());
    }
    if !guard::origin_ok(req.header("origin"), req.header("host")) {
        return Err(forbidden(req, "forbidden: foreign Origin"));
    }
    if guard::is_state_changing(&req.method) && !guard::fetch_site_ok(req.header("sec-fetch-site"))
    {
        return Err(forbidden(
            req,
            "forbidden: cross-site request (Sec-Fetch-Site)",
        ));
    }
    Ok(())
}

fn forbidden(req: &Request, why: &str) -> Response {
    if req.path.starts_with("/api/") {
        Response::json_error(403, why)
    } else {
        Response::text(403, why)
    }
}

/// `415` unless a body sent to the API is JSON. A browser sends `text/plain`,
/// urlencoded and multipart bodies cross-origin without asking first (no preflight);
/// `application/json` it only sends after a CORS preflight, which we never grant.
fn json_body(req: &Request) -> Result<(), Response> {
    let needs_json = req.path.starts_with("/api/") && guard::is_state_changing(&req.method);
    // An upload: not JSON, but no more a "simple" request than JSON is (docs/HTTP.md).
    let upload = req.is_upload() && req.header("x-purr-file-name").is_some();
    if needs_json && !upload && !guard::is_json(req.header("content-type")) {
        return Err(Response::json_error(
            415,
            "unsupported media type: send the body as JSON, with Content-Type: application/json",
        ));
    }
    Ok(())
}

/// `401` with the hint of SPEC §3, as a small page for browsers, a line for scripts.
fn unauthorized(req: &Request) -> Response {
    const HINT: &str = "unauthorized: open the address printed at start; run: purr url";
    if req.path.starts_with("/api/") {
        return Response::json_error(401, HINT);
    }
    let browser = req
        .header("accept")
        .is_some_and(|a| a.contains("text/html"));
    if browser {
        Response::new(
            401,
            "text/html; charset=utf-8",
            "<!doctype html><meta charset=utf-8><title>purr: sign-in needed</title>\
             <h1>purr needs its token</h1><p>Open the address the node printed when it \
             started, or get it again with:</p><pre>purr url</pre>"
                .as_bytes(),
        )
    } else {
        Response::text(401, HINT)
    }
}

fn static_file(req: &Request) -> Response {
    if req.method != "GET" && req.method != "HEAD" {
        return Response::text(405, "method not allowed").with("Allow", "GET, HEAD");
    }
    match assets::find(&req.path) {
        Some(asset) => assets::respond(req, asset),
        None => Response::text(404, "not found"),
    }
}
