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
use crate::bus::{ApiReply, ApiRequest, FileAction, GroupAction, Refusal, StateHandle};

/// How long `POST /api/v1/messages` waits for the message to be committed.
const COMMIT_PATIENCE: Duration = Duration::from_secs(10);
/// How long `GET /api/v1/diag` waits for the state: `purr doctor` answers within 5 s.
const DIAG_PATIENCE: Duration = Duration::from_secs(3);

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
        path if path.starts_with("/api/v1/peers/") => match path
            .strip_prefix("/api/v1/peers/")
            .and_then(|rest| rest.strip_suffix("/connect"))
        {
            Some(peer) if req.method == "POST" => answer(state.ask(ApiRequest::OpenSession {
                peer: peer.to_string(),
            })),
            Some(_) => Response::json_error(405, "method not allowed"),
            None => Response::json_error(404, "no such API endpoint"),
        },
        "/api/v1/diag" if get => diag(state),
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
        "/api/v1/files" if get => answer(state.ask(ApiRequest::Files)),
        "/api/v1/files" if req.method == "POST" => offer_file(req, state),
        path if path.starts_with("/api/v1/files/") => file_route(req, state),
        "/api/v1/groups" if get => answer(state.ask(ApiRequest::Groups)),
        "/api/v1/groups" if req.method == "POST" => match body::<CreateBody>(req) {
            Ok(b) => match state.ask(ApiRequest::GroupCreate {
                name: b.name,
                members: b.members,
            }) {
                Some(ApiReply::Group(g)) => Response::json(201, &g),
                other => answer(other),
            },
            Err(resp) => resp,
        },
        path if path.starts_with("/api/v1/groups/") => group_route(req, state),
        "/api/v1/me" | "/api/v1/peers" | "/api/v1/messages" | "/api/v1/files" | "/api/v1/diag"
        | "/api/v1/groups" => Response::json_error(405, "method not allowed"),
        _ => Response::json_error(404, "no such API endpoint"),
    }
}

#[derive(Deserialize)]
struct CreateBody {
    name: String,
    #[serde(default)]
    members: Vec<String>,
}

#[derive(Deserialize)]
struct MemberBody {
    member: String,
}

#[derive(Deserialize)]
struct UptoBody {
    upto: String,
}

#[derive(Deserialize)]
struct NameBody {
    name: String,
}

#[derive(Deserialize)]
struct TextBody {
    text: String,
}

/// A JSON body (depth bounded first), or the `400` to answer.
fn body<T: serde::de::DeserializeOwned>(req: &Request) -> Result<T, Response> {
    if let Err(e) = crate::api::check_depth(&req.body) {
        return Err(Response::json_error(400, &format!("bad JSON body: {e}")));
    }
    serde_json::from_slice(&req.body)
        .map_err(|e| Response::json_error(400, &format!("bad JSON body: {e}")))
}

/// `/api/v1/groups/<id>/{messages,invite,remove,accept,decline,leave,rename,read}`.
fn group_route(req: &Request, state: &StateHandle) -> Response {
    let rest = req.path.trim_start_matches("/api/v1/groups/");
    let Some((group, what)) = rest.split_once('/') else {
        return Response::json_error(404, "no such API endpoint");
    };
    let group = group.to_string();
    let get = req.method == "GET" || req.method == "HEAD";
    let post = req.method == "POST";
    let action = match (what, post) {
        ("messages", _) if get => return group_messages(req, state, group),
        ("messages", true) => {
            return match body::<TextBody>(req) {
                Ok(b) => answer(state.ask_within(
                    ApiRequest::GroupSend {
                        group,
                        text: b.text,
                    },
                    COMMIT_PATIENCE,
                )),
                Err(resp) => resp,
            }
        }
        ("invite", true) => match body::<MemberBody>(req) {
            Ok(b) => GroupAction::Invite(b.member),
            Err(resp) => return resp,
        },
        ("remove", true) => match body::<MemberBody>(req) {
            Ok(b) => GroupAction::Remove(b.member),
            Err(resp) => return resp,
        },
        ("rename", true) => match body::<NameBody>(req) {
            Ok(b) => GroupAction::Rename(b.name),
            Err(resp) => return resp,
        },
        ("read", true) => {
            return match body::<UptoBody>(req) {
                Ok(b) => answer(state.ask(ApiRequest::GroupRead {
                    group,
                    upto: b.upto,
                })),
                Err(resp) => resp,
            }
        }
        ("accept", true) => GroupAction::Accept,
        ("decline", true) => GroupAction::Decline,
        ("leave", true) => GroupAction::Leave,
        (
            "messages" | "invite" | "remove" | "rename" | "accept" | "decline" | "leave" | "read",
            _,
        ) => return Response::json_error(405, "method not allowed"),
        _ => return Response::json_error(404, "no such API endpoint"),
    };
    answer(state.ask(ApiRequest::GroupAct { group, action }))
}

/// `GET /api/v1/groups/<id>/messages?before=<message id>&limit=<n>`: display order,
/// oldest first; a page cut short by bytes names the next in a `Link` header.
fn group_messages(req: &Request, state: &StateHandle, group: String) -> Response {
    let before = req
        .query_param("before")
        .filter(|v| !v.is_empty())
        .map(str::to_string);
    let limit = match req.query_param("limit").filter(|v| !v.is_empty()) {
        Some(v) => match v.parse::<u32>() {
            Ok(l) => Some(l),
            Err(_) => return Response::json_error(400, "`limit` must be 1..=500"),
        },
        None => None,
    };
    let q = ApiRequest::GroupMessages {
        group,
        before,
        limit,
    };
    match state.ask(q) {
        Some(ApiReply::GroupMessages(page)) => {
            let resp = Response::json(200, &page.messages);
            match page.messages.first().filter(|_| page.truncated) {
                // Ids from the stored message, not the query.
                Some(oldest) => resp.with(
                    "Link",
                    format!(
                        "</api/v1/groups/{}/messages?before={}>; rel=\"next\"",
                        oldest.group, oldest.id
                    ),
                ),
                None => resp,
            }
        }
        other => answer(other),
    }
}

#[derive(Deserialize)]
struct OfferBody {
    to: String,
    path: String,
    #[serde(default)]
    caption: Option<String>,
}

/// How long `POST /api/v1/files` waits for the offer to be stored (after reading the
/// file, which takes as long as the file is large).
const OFFER_PATIENCE: Duration = Duration::from_secs(10);

/// `POST /api/v1/files {"to","path"[,"caption"]}`: this thread reads the file once (identity and
/// root hash), then the state stores and sends the offer.
fn offer_file(req: &Request, state: &StateHandle) -> Response {
    if let Err(e) = crate::api::check_depth(&req.body) {
        return Response::json_error(400, &format!("bad JSON body: {e}"));
    }
    let body: OfferBody = match serde_json::from_slice(&req.body) {
        Ok(b) => b,
        Err(e) => return Response::json_error(400, &format!("bad JSON body: {e}")),
    };
    if let Some(Err(e)) = body.caption.as_deref().map(crate::rules::validate_caption) {
        return Response::json_error(400, &e);
    }
    let source = match crate::files::prepare(std::path::Path::new(&body.path)) {
        Ok(s) => s,
        Err(e) => return Response::json_error(400, &e.to_string()),
    };
    let q = ApiRequest::OfferFile {
        to: body.to,
        source,
        thumb: None,
        caption: body.caption,
        upload: false,
    };
    match state.ask_within(q, OFFER_PATIENCE) {
        Some(ApiReply::File(t)) => Response::json(201, &t),
        other => answer(other),
    }
}

/// `/api/v1/files/<id>` and `/api/v1/files/<id>/{accept,decline,cancel}`.
fn file_route(req: &Request, state: &StateHandle) -> Response {
    let rest = req.path.trim_start_matches("/api/v1/files/");
    let (id, action) = match rest.split_once('/') {
        Some((id, action)) => (id.to_string(), Some(action)),
        None => (rest.to_string(), None),
    };
    let get = req.method == "GET" || req.method == "HEAD";
    let action = match (action, req.method.as_str()) {
        (None, _) if get => return answer(state.ask(ApiRequest::FileInfo { id })),
        (Some("accept"), "POST") => FileAction::Accept,
        (Some("decline"), "POST") => FileAction::Decline,
        (Some("cancel"), "POST") => FileAction::Cancel,
        (Some("pause"), "POST") => FileAction::Pause,
        (Some("resume"), "POST") => FileAction::Resume,
        (None | Some("accept" | "decline" | "cancel" | "pause" | "resume"), _) => {
            return Response::json_error(405, "method not allowed")
        }
        _ => return Response::json_error(404, "no such API endpoint"),
    };
    answer(state.ask(ApiRequest::FileAct { id, action }))
}

/// The response for a state's answer (or its silence).
pub(super) fn answer(reply: Option<ApiReply>) -> Response {
    match reply {
        Some(ApiReply::Me(me)) => Response::json(200, &me),
        Some(ApiReply::Peer(p)) => Response::json(202, &p),
        // The array stays SPEC §6's; what it leaves out is said in a header.
        Some(ApiReply::Peers(peers, left_out)) => {
            Response::json(200, &peers).with("X-Purr-Strangers-Left-Out", left_out.to_string())
        }
        Some(ApiReply::Messages(page)) => Response::json(200, &page.messages),
        Some(ApiReply::Sent(m)) => Response::json(201, &m),
        Some(ApiReply::File(t)) => Response::json(200, &t),
        Some(ApiReply::Files(t)) => Response::json(200, &t),
        Some(ApiReply::Groups(g)) => Response::json(200, &g),
        Some(ApiReply::Group(g)) => Response::json(200, &g),
        Some(ApiReply::GroupSent(m)) => Response::json(201, &m),
        Some(ApiReply::GroupMessages(page)) => Response::json(200, &page.messages),
        Some(ApiReply::Done) => Response::empty(204),
        Some(ApiReply::Diag(_) | ApiReply::Content(_) | ApiReply::Thumb(_)) => {
            Response::json_error(500, "unexpected answer")
        }
        Some(ApiReply::Refused(why)) => Response::json_error(status_of(&why), &why.to_string()),
        None => Response::json_error(
            503,
            "the node did not answer in time (shutting down, or the disk is slow)",
        ),
    }
}

/// `GET /api/v1/diag`: the state's facts, plus what this thread reads itself (the
/// interfaces, the data dir's disk), and the checks (`crate::diag`).
fn diag(state: &StateHandle) -> Response {
    match state.ask_within(ApiRequest::Diag, DIAG_PATIENCE) {
        Some(ApiReply::Diag(facts)) => {
            let links = crate::discovery::ifaces::links().unwrap_or_default();
            let mut host = crate::diag::host::facts(&facts.data_dir);
            if let Some(port) = facts.node.port {
                host.firewall = crate::diag::host::firewall(std::path::Path::new("/"), port);
            }
            Response::json(200, &crate::diag::assemble(*facts, links, host))
        }
        other => answer(other),
    }
}

/// The HTTP status for a refusal: chosen here, not by the state thread.
fn status_of(why: &Refusal) -> u16 {
    match why {
        Refusal::UnknownPeer(_) | Refusal::NotFound(_) => 404,
        Refusal::Invalid(_) => 400,
        Refusal::Forbidden(_) => 403,
        Refusal::Conflict(_) => 409,
        Refusal::TooLong(_) => 413,
        Refusal::Busy(_) => 503,
        Refusal::Store(_) => 500,
    }
}

/// A history page as SPEC §6 gives it, a JSON array. A page that
/// [`crate::api::PAGE_BYTES`] cut
/// short names the next one in a `Link` header (RFC 8288, `rel="next"`): a client that
/// pages by count alone would take a short page for the oldest.
///
/// With `files=1` the body is an object instead, `{"messages":[...],"files":[...],
/// "truncated":bool}`: the page's messages and the files of their time span (issue 17).
fn history_response(req: &Request, page: &HistoryPage) -> Response {
    let resp = if req
        .query_param("files")
        .is_some_and(|v| v == "1" || v == "true")
    {
        Response::json(
            200,
            &serde_json::json!({
                "messages": page.messages,
                "files": page.files,
                "truncated": page.truncated,
            }),
        )
    } else {
        Response::json(200, &page.messages)
    };
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
