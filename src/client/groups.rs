//! Groups in the CLI (issue 18): `purr groups`, `purr group-create`, the rest of a
//! group's life (`purr group-accept`, `group-decline`, `group-leave`, `group-invite`,
//! `group-remove`), and a GROUP where `purr send` and `purr history` take a PEER.
//!
//! What a PEER-or-GROUP argument names: contacts are matched as for `purr send` (full
//! id, unique id prefix of 4+ hex, exact name), then groups the same way (full group id,
//! unique group id prefix, exact group name). When only a contact matches, it is the
//! contact; when only a group matches, the group; when both do, nothing is sent: exit 2
//! listing both (use more of the id).

use crate::api::{Group, GroupMember, GroupMessage, Peer};
use crate::cli::ClientArgs;

use super::{api_call, find_peer, ClientError, Target, MIN_PREFIX_HEX};

/// What a PEER-or-GROUP argument named.
pub(super) enum Dest {
    Peer(Peer),
    Group(Group),
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ClientError> {
    serde_json::from_slice(body).map_err(|e| ClientError::Protocol(e.to_string()))
}

/// The node's groups (none from a node without groups: its 404).
fn list(target: &Target) -> Result<Vec<Group>, ClientError> {
    match api_call(target, "GET", "/api/v1/groups", None) {
        Ok(body) => parse(&body),
        Err(ClientError::Api(e)) if e.starts_with("404") => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// The one group `query` names, `None` when none does.
pub fn resolve_group<'a>(
    groups: &'a [Group],
    query: &str,
) -> Option<Result<&'a Group, ClientError>> {
    let lower = query.to_ascii_lowercase();
    let is_hex = lower.len() >= MIN_PREFIX_HEX && lower.bytes().all(|b| b.is_ascii_hexdigit());
    let mut found: Vec<&Group> = groups.iter().filter(|g| g.id == lower).collect();
    if found.is_empty() && is_hex {
        found = groups.iter().filter(|g| g.id.starts_with(&lower)).collect();
    }
    if found.is_empty() {
        found = groups.iter().filter(|g| g.name == query).collect();
    }
    match found.as_slice() {
        [] => None,
        [one] => Some(Ok(one)),
        many => Some(Err(ClientError::Ambiguous {
            query: query.to_string(),
            candidates: many
                .iter()
                .map(|g| format!("  group {}  {}", g.id, g.name))
                .collect::<Vec<_>>()
                .join("\n"),
        })),
    }
}

/// A contact first, then a group; both: ambiguous (module docs).
pub(super) fn find_dest(target: &Target, query: &str) -> Result<Dest, ClientError> {
    let peer = find_peer(target, query);
    let groups = list(target)?;
    match (peer, resolve_group(&groups, query)) {
        (Ok(p), Some(Ok(g))) => Err(ClientError::Ambiguous {
            query: query.to_string(),
            candidates: format!("  peer  {}  {}\n  group {}  {}", p.id, p.name, g.id, g.name),
        }),
        (Ok(p), _) => Ok(Dest::Peer(p)),
        (Err(e @ ClientError::Ambiguous { .. }), _) => Err(e),
        (Err(_), Some(found)) => found.cloned().map(Dest::Group),
        (Err(e), None) => Err(e),
    }
}

/// `purr send GROUP TEXT`: stored (and on its way to the members online).
pub(super) fn send(target: &Target, g: &Group, text: &str) -> Result<String, ClientError> {
    let body = serde_json::json!({ "text": text }).to_string();
    let path = format!("/api/v1/groups/{}/messages", g.id);
    let m: GroupMessage = parse(&api_call(target, "POST", &path, Some(body.as_bytes()))?)?;
    Ok(format!("{} stored in group {}", m.id, g.name))
}

/// `purr history GROUP`: the `limit` newest messages in display order.
pub(super) fn history(
    target: &Target,
    g: &Group,
    limit: u32,
    json: bool,
) -> Result<String, ClientError> {
    let path = format!("/api/v1/groups/{}/messages?limit={limit}", g.id);
    let page: Vec<GroupMessage> = parse(&api_call(target, "GET", &path, None)?)?;
    let me: crate::api::Me = parse(&api_call(target, "GET", "/api/v1/me", None)?)?;
    let mut out = Vec::with_capacity(page.len());
    // Names for ids no longer in the roster come from `known`.
    let name = |id: &str| -> String {
        if id == me.id {
            return "me".to_string();
        }
        g.members
            .iter()
            .map(|m| (&m.id, &m.name))
            .chain(g.known.iter().map(|k| (&k.id, &k.name)))
            .find(|(x, name)| *x == id && !name.is_empty())
            .map(|(_, name)| name.clone())
            .unwrap_or_else(|| id.chars().take(8).collect())
    };
    for m in &page {
        if json {
            out.push(serde_json::to_string(m).map_err(|e| ClientError::Protocol(e.to_string()))?);
        } else if m.kind == "system" {
            out.push(format!("{}  * {}", m.ts, system_line(m, &name)));
        } else {
            let text = m.text.replace('\n', " ⏎ ");
            out.push(format!("{}  {}: {text}", m.ts, name(&m.author)));
        }
    }
    Ok(out.join("\n"))
}

/// A roster change in words: "alice added bob".
fn system_line(m: &GroupMessage, name: &dyn Fn(&str) -> String) -> String {
    let by = name(m.by.as_deref().unwrap_or_default());
    let member = name(m.member.as_deref().unwrap_or_default());
    match m.change.as_deref().unwrap_or_default() {
        "created" => format!("{by} created the group"),
        "added" => format!("{by} added {member}"),
        "removed" => format!("{by} removed {member}"),
        "left" => format!("{member} left"),
        "renamed" => format!(
            "{by} renamed the group to {}",
            m.name.as_deref().unwrap_or_default()
        ),
        "owner" => format!("{by} handed the group over to {member}"),
        other => format!("{by}: {other}"),
    }
}

/// `purr groups`: one line each (id, phase, name, members, unread), or the API's JSON
/// array.
pub fn groups(args: &ClientArgs, json: bool) -> Result<String, ClientError> {
    let (target, _) = Target::find(args)?;
    let groups = list(&target)?;
    if json {
        return serde_json::to_string(&groups).map_err(|e| ClientError::Protocol(e.to_string()));
    }
    Ok(groups
        .iter()
        .map(|g| {
            let names: Vec<&str> = g.members.iter().map(|m| m.name.as_str()).collect();
            let unread = match g.unread {
                0 => String::new(),
                n => format!("  {n} unread"),
            };
            format!(
                "{}  {:<8}  {}  [{}]{unread}",
                g.id,
                g.phase,
                g.name,
                names.join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n"))
}

/// `purr group-create NAME MEMBER...`: members as `purr send` takes a PEER.
pub fn create(args: &ClientArgs, name: &str, members: &[String]) -> Result<String, ClientError> {
    let (target, _) = Target::find(args)?;
    let mut ids = Vec::with_capacity(members.len());
    let mut names = Vec::with_capacity(members.len());
    for m in members {
        let p = find_peer(&target, m)?;
        ids.push(p.id);
        names.push(p.name);
    }
    let body = serde_json::json!({ "name": name, "members": ids }).to_string();
    let g: Group = parse(&api_call(
        &target,
        "POST",
        "/api/v1/groups",
        Some(body.as_bytes()),
    )?)?;
    Ok(format!(
        "{} created: {}; invited: {}",
        g.id,
        g.name,
        names.join(", ")
    ))
}

/// The one group GROUP names (as `purr send` resolves a group), or why not.
fn find_group(target: &Target, query: &str) -> Result<Group, ClientError> {
    let groups = list(target)?;
    match resolve_group(&groups, query) {
        Some(found) => found.cloned(),
        None => Err(ClientError::NoSuchGroup(query.to_string())),
    }
}

/// `POST /api/v1/groups/<id>/<what>` with `body`: the group as it is now.
fn act(
    target: &Target,
    g: &Group,
    what: &str,
    body: serde_json::Value,
) -> Result<Group, ClientError> {
    let path = format!("/api/v1/groups/{}/{what}", g.id);
    let body = body.to_string();
    parse(&api_call(target, "POST", &path, Some(body.as_bytes()))?)
}

/// `purr group-accept`, `group-decline`, `group-leave GROUP`: what the group is now.
pub fn answer(args: &ClientArgs, group: &str, what: &str) -> Result<String, ClientError> {
    let (target, _) = Target::find(args)?;
    let g = find_group(&target, group)?;
    let now = act(&target, &g, what, serde_json::json!({}))?;
    Ok(format!("{} {}: {}", now.id, now.phase, now.name))
}

/// `purr group-invite GROUP MEMBER` (MEMBER: a contact, as `purr send` takes a PEER).
pub fn invite(args: &ClientArgs, group: &str, member: &str) -> Result<String, ClientError> {
    let (target, _) = Target::find(args)?;
    let g = find_group(&target, group)?;
    let p = find_peer(&target, member)?;
    act(&target, &g, "invite", serde_json::json!({ "member": p.id }))?;
    Ok(format!("invited {} to {}", p.name, g.name))
}

/// `purr group-remove GROUP MEMBER`: MEMBER as a contact is found, or else among the
/// group's members (id, unique id prefix, exact name): a member need not be a contact.
pub fn remove(args: &ClientArgs, group: &str, member: &str) -> Result<String, ClientError> {
    let (target, _) = Target::find(args)?;
    let g = find_group(&target, group)?;
    let (id, name) = match find_peer(&target, member) {
        Ok(p) if g.members.iter().any(|m| m.id == p.id) => (p.id, p.name),
        Err(e @ ClientError::Ambiguous { .. }) => return Err(e),
        _ => {
            let m = member_of(&g, member)?;
            (m.id.clone(), m.name.clone())
        }
    };
    act(&target, &g, "remove", serde_json::json!({ "member": id }))?;
    let name = if name.is_empty() {
        id[..8].to_string()
    } else {
        name
    };
    Ok(format!("removed {name} from {}", g.name))
}

/// The one member of `g` that `query` names: full id, unique id prefix, or exact name.
fn member_of<'a>(g: &'a Group, query: &str) -> Result<&'a GroupMember, ClientError> {
    let lower = query.to_ascii_lowercase();
    let is_hex = lower.len() >= MIN_PREFIX_HEX && lower.bytes().all(|b| b.is_ascii_hexdigit());
    let mut found: Vec<&GroupMember> = g.members.iter().filter(|m| m.id == lower).collect();
    if found.is_empty() && is_hex {
        found = g
            .members
            .iter()
            .filter(|m| m.id.starts_with(&lower))
            .collect();
    }
    if found.is_empty() {
        found = g.members.iter().filter(|m| m.name == query).collect();
    }
    match found.as_slice() {
        [one] => Ok(one),
        [] => Err(ClientError::NotInGroup {
            member: query.to_string(),
            group: g.name.clone(),
        }),
        many => Err(ClientError::Ambiguous {
            query: query.to_string(),
            candidates: many
                .iter()
                .map(|m| format!("  {}  {}", m.id, m.name))
                .collect::<Vec<_>>()
                .join("\n"),
        }),
    }
}
