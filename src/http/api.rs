//! The local JSON API for scripts (SPEC §6), under `/api/v1`. Same guards as the UI;
//! errors are `{"error": "..."}` with a fitting status: 400 bad JSON or fields (or JSON
//! nested deeper than [`crate::api::MAX_JSON_DEPTH`]), 404
//! unknown peer or endpoint, 405 wrong method, 413 text too long, 503 shutting down or
//! the disk is not keeping up.

use std::time::Duration;

use serde::Deserialize;

use super::request::Request;
use super::response::Response;
use crate::api::HistoryPage;
use crate::bus::{ApiReply, ApiRequest, Refusal, StateHandle};

/// How long `POST /api/v1/messages` waits for the message to be committed.
const COMMIT_PATIENCE: Duration = Duration::from_secs(10);

#[derive(Deserialize)]
struct SendBody {
    to: String,
    text: String,
}

/// Routes a request whose path starts with `/api/`.
pub fn route(req: &Request, state: &StateHandle) -> Response {
    let get = req.method == "GET" || req.method == "HEAD";
    match req.path.as_str() {
        "/api/v1/me" if get => answer(state.ask(ApiRequest::Me)),
        "/api/v1/peers" if get => answer(state.ask(ApiRequest::Peers)),
        "/api/v1/messages" if get => match messages_query(req) {
            Ok(q) => match state.ask(q) {
                Some(ApiReply::Messages(page)) => history_response(req, &page),
                other => answer(other),
            },
            Err(e) => Response::json_error(400, &e),
        },
        "/api/v1/messages" if req.method == "POST" => {
            if let Err(e) = crate::api::check_depth(&req.body) {
                return Response::json_error(400, &format!("bad JSON body: {e}"));
            }
            let body: SendBody = match serde_json::from_slice(&req.body) {
                Ok(b) => b,
                Err(e) => return Response::json_error(400, &format!("bad JSON body: {e}")),
            };
            let q = ApiRequest::Send {
                to: body.to,
                text: body.text,
            };
            answer(state.ask_within(q, COMMIT_PATIENCE))
        }
        "/api/v1/me" | "/api/v1/peers" | "/api/v1/messages" => {
            Response::json_error(405, "method not allowed")
        }
        _ => Response::json_error(404, "no such API endpoint"),
    }
}

fn answer(reply: Option<ApiReply>) -> Response {
    match reply {
        Some(ApiReply::Me(me)) => Response::json(200, &me),
        // The array stays SPEC §6's; what it leaves out is said in a header.
        Some(ApiReply::Peers(peers, left_out)) => {
            Response::json(200, &peers).with("X-Purr-Strangers-Left-Out", left_out.to_string())
        }
        Some(ApiReply::Messages(page)) => Response::json(200, &page.messages),
        Some(ApiReply::Sent(m)) => Response::json(201, &m),
        Some(ApiReply::Refused(why)) => Response::json_error(status_of(&why), &why.to_string()),
        None => Response::json_error(
            503,
            "the node did not answer in time (shutting down, or the disk is slow)",
        ),
    }
}

/// The HTTP status for a refusal: chosen here, not by the state thread.
fn status_of(why: &Refusal) -> u16 {
    match why {
        Refusal::UnknownPeer(_) => 404,
        Refusal::Invalid(_) => 400,
        Refusal::TooLong(_) => 413,
        Refusal::Busy(_) => 503,
        Refusal::Store(_) => 500,
    }
}

/// A history page as SPEC §6 gives it, a JSON array. A page that
/// [`crate::api::PAGE_BYTES`] cut
/// short names the next one in a `Link` header (RFC 8288, `rel="next"`): a client that
/// pages by count alone would take a short page for the oldest.
fn history_response(req: &Request, page: &HistoryPage) -> Response {
    let resp = Response::json(200, &page.messages);
    let Some(oldest) = page.messages.first().filter(|_| page.truncated) else {
        return resp;
    };
    // The contact's id from the message, not the query: nothing the client sent is
    // echoed into a header. `limit` is a number if it parsed.
    let limit = req
        .query_param("limit")
        .and_then(|l| l.parse::<u32>().ok())
        .map(|l| format!("&limit={l}"))
        .unwrap_or_default();
    let next = format!(
        "</api/v1/messages?peer={}&before={}{limit}>; rel=\"next\"",
        oldest.peer, oldest.seq
    );
    resp.with("Link", next)
}

/// `peer=<id>&before=<seq>&limit=<n>`.
fn messages_query(req: &Request) -> Result<ApiRequest, String> {
    let peer = req
        .query_param("peer")
        .ok_or("missing query parameter `peer`")?
        .to_string();
    let before = match req.query_param("before").filter(|v| !v.is_empty()) {
        Some(v) => Some(
            v.parse::<i64>()
                .map_err(|_| "`before` must be a seq number")?,
        ),
        None => None,
    };
    let limit = match req.query_param("limit").filter(|v| !v.is_empty()) {
        Some(v) => Some(v.parse::<u32>().map_err(|_| "`limit` must be 1..=500")?),
        None => None,
    };
    Ok(ApiRequest::Messages {
        peer,
        before,
        limit,
    })
}
