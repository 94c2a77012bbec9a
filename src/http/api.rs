//! The local JSON API for scripts (SPEC §6), under `/api/v1`. Same guards as the UI;
//! errors are `{"error": "..."}` with a fitting status.

use super::request::Request;
use super::response::Response;
use crate::state::{ApiReply, ApiRequest, StateHandle};

/// Routes a request whose path starts with `/api/`.
pub fn route(req: &Request, state: &StateHandle) -> Response {
    let ask = |q| match state.ask(q) {
        Some(ApiReply::Me(me)) => Response::json(200, &me),
        Some(ApiReply::Peers(peers)) => Response::json(200, &peers),
        None => Response::json_error(503, "the node is shutting down"),
    };
    match (req.method.as_str(), req.path.as_str()) {
        ("GET" | "HEAD", "/api/v1/me") => ask(ApiRequest::Me),
        ("GET" | "HEAD", "/api/v1/peers") => ask(ApiRequest::Peers),
        (_, "/api/v1/me" | "/api/v1/peers") => Response::json_error(405, "method not allowed"),
        _ => Response::json_error(404, "no such API endpoint"),
    }
}
