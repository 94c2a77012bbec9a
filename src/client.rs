//! The client subcommands: `purr id`, `purr url`, `purr peers`, `purr send`.
//!
//! `id` and `url` need only the data dir. `peers` and `send` talk to the running node
//! through the local JSON API on loopback, with the token from the data dir and the port
//! from `--port`, else `node.json`, else the default.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use crate::api::Peer;
use crate::cli::{ClientArgs, DEFAULT_PORT};
use crate::datadir::{DataDir, DataDirError};

/// Why a client subcommand failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(transparent)]
    DataDir(#[from] DataDirError),
    /// No node answers on the port.
    #[error("no purr node is running on port {port} ({why}); start one with: purr")]
    NoNode { port: u16, why: std::io::Error },
    /// The node answered with an error.
    #[error("the node said: {0}")]
    Api(String),
    /// The node's answer was not what the API promises.
    #[error("unexpected answer from the node: {0}")]
    Protocol(String),
    /// PEER matches several contacts (exit 2).
    #[error("{query:?} matches several peers; use more of the id:\n{candidates}")]
    Ambiguous { query: String, candidates: String },
    /// PEER matches no contact.
    #[error("no peer matches {0:?} (see: purr peers)")]
    NoSuchPeer(String),
    /// Reading the text from stdin failed.
    #[error("cannot read the message from stdin: {0}")]
    Stdin(std::io::Error),
}

fn dir(data_dir: &Option<PathBuf>) -> PathBuf {
    data_dir
        .clone()
        .unwrap_or_else(crate::cli::default_data_dir)
}

/// `purr id`: the id and fingerprint (creating the identity on first use).
pub fn id(data_dir: &Option<PathBuf>) -> Result<String, ClientError> {
    let d = DataDir::create(&dir(data_dir))?;
    let me = d.identity()?;
    Ok(format!(
        "{}\n{}",
        me.id_hex(),
        crate::identity::fingerprint(&me.id())
    ))
}

fn port_of(args: &ClientArgs, d: &DataDir) -> u16 {
    args.port
        .or_else(|| d.node_info().map(|i| i.port))
        .unwrap_or(DEFAULT_PORT)
}

/// `purr url`: the UI address with its token.
pub fn url(args: &ClientArgs) -> Result<String, ClientError> {
    let d = DataDir::create(&dir(&args.data_dir))?;
    let token = d.ui_token()?;
    let port = port_of(args, &d);
    Ok(crate::node::ui_url(
        std::net::Ipv4Addr::LOCALHOST.into(),
        port,
        Some(&token),
    ))
}

/// `purr peers`: one line per peer.
pub fn peers(args: &ClientArgs) -> Result<String, ClientError> {
    let body = api_call(args, "GET", "/api/v1/peers", None)?;
    let peers: Vec<Peer> =
        serde_json::from_slice(&body).map_err(|e| ClientError::Protocol(e.to_string()))?;
    let mut out = String::new();
    for p in peers {
        out.push_str(&format!(
            "{}  {:<7}  {}  {}\n",
            p.id,
            if p.online { "online" } else { "offline" },
            p.fingerprint,
            p.name
        ));
    }
    Ok(out.trim_end().to_string())
}

/// Finds the one contact `query` names: a full id, a unique id prefix of at least 4 hex
/// characters, or an exact name.
pub fn resolve<'a>(peers: &'a [Peer], query: &str) -> Result<&'a Peer, ClientError> {
    let lower = query.to_ascii_lowercase();
    let is_hex = lower.len() >= 4 && lower.bytes().all(|b| b.is_ascii_hexdigit());
    let mut found: Vec<&Peer> = peers.iter().filter(|p| p.id == lower).collect();
    if found.is_empty() && is_hex {
        found = peers.iter().filter(|p| p.id.starts_with(&lower)).collect();
    }
    if found.is_empty() {
        found = peers.iter().filter(|p| p.name == query).collect();
    }
    match found.as_slice() {
        [one] => Ok(one),
        [] => Err(ClientError::NoSuchPeer(query.to_string())),
        many => Err(ClientError::Ambiguous {
            query: query.to_string(),
            candidates: many
                .iter()
                .map(|p| format!("  {}  {}", p.id, p.name))
                .collect::<Vec<_>>()
                .join("\n"),
        }),
    }
}

/// `purr send PEER TEXT`.
pub fn send(args: &ClientArgs, peer: &str, text: &str) -> Result<String, ClientError> {
    let text = if text == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(ClientError::Stdin)?;
        s
    } else {
        text.to_string()
    };
    let body = api_call(args, "GET", "/api/v1/peers", None)?;
    let peers: Vec<Peer> =
        serde_json::from_slice(&body).map_err(|e| ClientError::Protocol(e.to_string()))?;
    let to = resolve(&peers, peer)?;
    let body = serde_json::json!({ "to": to.id, "text": text }).to_string();
    let answer = api_call(args, "POST", "/api/v1/messages", Some(body.as_bytes()))?;
    let msg: serde_json::Value =
        serde_json::from_slice(&answer).map_err(|e| ClientError::Protocol(e.to_string()))?;
    Ok(format!(
        "{} {} to {}",
        msg["id"].as_str().unwrap_or("?"),
        msg["status"].as_str().unwrap_or("?"),
        to.name
    ))
}

/// One request to the local API; returns the body of a 2xx answer.
fn api_call(
    args: &ClientArgs,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
) -> Result<Vec<u8>, ClientError> {
    let d = DataDir::existing(&dir(&args.data_dir));
    let port = port_of(args, &d);
    let token = d.read_ui_token()?.unwrap_or_default();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let no_node = |why| ClientError::NoNode { port, why };
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(no_node)?;
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = s.set_write_timeout(Some(Duration::from_secs(10)));
    let body = body.unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut raw = Vec::new();
    s.write_all(head.as_bytes())
        .and_then(|_| s.write_all(body))
        .and_then(|_| s.read_to_end(&mut raw).map(|_| ()))
        .map_err(no_node)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| ClientError::Protocol("no HTTP head".into()))?;
    let status: u16 = std::str::from_utf8(&raw[..split])
        .ok()
        .and_then(|h| h.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ClientError::Protocol("no status".into()))?;
    let payload = raw[split + 4..].to_vec();
    if (200..300).contains(&status) {
        return Ok(payload);
    }
    let msg = serde_json::from_slice::<serde_json::Value>(&payload)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(&payload).trim().to_string());
    Err(ClientError::Api(format!("{status}: {msg}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(id: &str, name: &str) -> Peer {
        Peer {
            id: id.repeat(64 / id.len()),
            name: name.into(),
            fingerprint: String::new(),
            online: false,
            addr: None,
            unread: 0,
            last_seen: None,
            verified: false,
            name_conflict: false,
        }
    }

    #[test]
    fn resolves_ids_prefixes_and_names() {
        let peers = vec![peer("ab", "bob"), peer("ac", "carol"), peer("cd", "bob")];
        assert_eq!(resolve(&peers, &"ab".repeat(32)).unwrap().name, "bob");
        assert_eq!(resolve(&peers, "abab").unwrap().name, "bob");
        assert_eq!(resolve(&peers, "ACAC").unwrap().name, "carol");
        assert_eq!(resolve(&peers, "carol").unwrap().id, "ac".repeat(32));
        assert!(matches!(
            resolve(&peers, "bob"),
            Err(ClientError::Ambiguous { .. })
        ));
        assert!(matches!(
            resolve(&peers, "a"),
            Err(ClientError::NoSuchPeer(_))
        ));
        assert!(matches!(
            resolve(&peers, "zed"),
            Err(ClientError::NoSuchPeer(_))
        ));
    }

    #[test]
    fn short_prefixes_are_not_prefixes() {
        let peers = vec![peer("ab", "x"), peer("ac", "y")];
        // 3 hex chars are treated as a name, not a prefix.
        assert!(matches!(
            resolve(&peers, "aba"),
            Err(ClientError::NoSuchPeer(_))
        ));
    }
}
