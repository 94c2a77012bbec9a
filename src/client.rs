//! The client subcommands: `purr id`, `url`, `peers`, `send`, `history`, `doctor`,
//! `backup`, `restore` (the file ones in [`files`]; `connect` and `follow`, which speak the UI's WebSocket, are in
//! `follow`).
//!
//! They only read the data dir, never create anything in it: a mistyped `--data-dir`
//! must not mint a new identity or token. `id` needs only `identity.key`. `url`, `peers`
//! and `send` talk to the running node through the local JSON API on loopback, with the
//! token from the data dir and the port from `--port`, else `node.json`; `url` asks the
//! node who it is first, so it never prints the address of a dead port or of somebody
//! else's node.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub mod files;
pub mod groups;

use crate::api::Peer;
use crate::cli::ClientArgs;
use crate::datadir::{DataDir, DataDirError};

/// Shortest id prefix `purr send` accepts.
pub const MIN_PREFIX_HEX: usize = 4;

/// Why a client subcommand failed. Each message says what to do next.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(transparent)]
    DataDir(#[from] DataDirError),
    /// The data dir does not exist: a mistyped `--data-dir`, or no node ever ran there.
    #[error(
        "no data dir at {} (check --data-dir; a node creates it at its first start: purr --data-dir {})",
        .0.display(), .0.display()
    )]
    NoDataDir(PathBuf),
    /// The data dir has no identity yet.
    #[error(
        "no identity in {}: no node has run with this data dir yet (start one: purr --data-dir {})",
        .0.display(), .0.display()
    )]
    NoIdentity(PathBuf),
    /// No node runs with this data dir (no `node.json`, or nothing on its port).
    #[error("no purr node is running with data dir {} ({why}); start one with: purr --data-dir {}",
        .dir.display(), .dir.display())]
    NotRunning { dir: PathBuf, why: String },
    /// Nothing answers on the port given with `--port`.
    #[error("nothing answers on port {port} ({why}); is the node running, and is --port right?")]
    NoNode { port: u16, why: std::io::Error },
    /// The program on the port refused this data dir's token.
    #[error(
        "the program on port {port} refused the token of {}: it is not the node of this data \
         dir (another program, or a purr node with another --data-dir); check --port and --data-dir",
        .dir.display()
    )]
    Unauthorized { port: u16, dir: PathBuf },
    /// Another purr node answers on the port.
    #[error(
        "port {port} is served by another purr node (id {theirs}), not by the node of {} \
         (id {ours}); check --port and --data-dir",
        .dir.display()
    )]
    OtherNode {
        port: u16,
        dir: PathBuf,
        theirs: String,
        ours: String,
    },
    /// The node answered with an error.
    #[error("the node said: {0}")]
    Api(String),
    /// The node's answer was not what the API promises.
    #[error("unexpected answer from the node: {0}")]
    Protocol(String),
    /// PEER matches several contacts (exit 2).
    #[error("{query:?} matches several peers; use more of the id:\n{candidates}")]
    Ambiguous { query: String, candidates: String },
    /// `send --wait`: the peer did not store the message in time (it stays pending).
    #[error("{id} not delivered to {name} within {secs} s{}; it stays pending and goes out when {name} is back",
        if *.online { "" } else { " (the peer is offline)" })]
    NotDelivered {
        id: String,
        name: String,
        online: bool,
        secs: u64,
    },
    /// The data dir has no `purr.db` to back up.
    #[error("no message database in {} (no node has run there yet)", .0.display())]
    NoDatabase(PathBuf),
    /// The store refused (a backup target that exists, a file that is not a purr database).
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// PEER matches no contact.
    #[error("no peer matches {0:?} (see: purr peers)")]
    NoSuchPeer(String),
    /// PEER is too short a hex string to be taken as an id prefix, and names nobody.
    #[error(
        "no peer is named {0:?}, and an id prefix needs at least {MIN_PREFIX_HEX} hex characters (see: purr peers)"
    )]
    ShortPrefix(String),
    /// `send --wait` to a group: members store it at their own pace.
    #[error(
        "--wait is for a contact: a group message has no single delivery (see: purr history GROUP)"
    )]
    GroupWait,
    /// Reading the text from stdin failed.
    #[error("cannot read the message from stdin: {0}")]
    Stdin(std::io::Error),
    /// `send-file`: the file cannot be read here.
    #[error("{path}: {why}")]
    File { path: String, why: String },
    /// `send-file --wait`: the transfer ended without the file arriving.
    #[error("{name} was not sent: {reason}")]
    TransferEnded { name: String, reason: String },
    /// `send-file --wait`: not done in time (the transfer goes on).
    #[error("{id} not done within {secs} s (it is {state}; it goes on: purr files)")]
    TransferTimeout {
        id: String,
        state: String,
        secs: u64,
    },
    /// `accept`/`decline`: no transfer has that id.
    #[error("no transfer matches {0:?} (see: purr files)")]
    NoSuchTransfer(String),
    /// GROUP matches no group.
    #[error("no group matches {0:?} (see: purr groups)")]
    NoSuchGroup(String),
    /// `group-remove`: MEMBER is no member of the group.
    #[error("{member:?} is not a member of {group} (see: purr groups)")]
    NotInGroup { member: String, group: String },
}

/// The data dir a client reads: it must exist and be a directory.
fn existing_dir(args_dir: &Option<PathBuf>) -> Result<DataDir, ClientError> {
    let path = args_dir
        .clone()
        .unwrap_or_else(crate::cli::default_data_dir);
    match std::fs::metadata(&path) {
        Ok(m) if m.is_dir() => Ok(DataDir::existing(&path)),
        Ok(_) => Err(DataDirError::NotADirectory(path).into()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(ClientError::NoDataDir(path)),
        Err(source) => Err(DataDirError::Dir { path, source }.into()),
    }
}

/// `purr backup FILE`: a copy of the message database, made while the node may run.
pub fn backup(data_dir: &Option<PathBuf>, file: &Path) -> Result<String, ClientError> {
    let d = existing_dir(data_dir)?;
    let db = crate::store::db_path(d.path());
    if !db.exists() {
        return Err(ClientError::NoDatabase(d.path().to_path_buf()));
    }
    let done = crate::store::backup::backup(&db, file)?;
    Ok(format!(
        "backed up {} messages and {} contacts to {} ({} bytes); keep {} with it: it is this node's identity",
        done.messages,
        done.contacts,
        done.to.display(),
        done.bytes,
        d.identity_path().display()
    ))
}

/// `purr restore FILE`: puts a backup in place of the message database. Takes the data
/// dir's lock first, so it refuses while a node runs there (naming its pid).
pub fn restore(data_dir: &Option<PathBuf>, file: &Path) -> Result<String, ClientError> {
    let path = data_dir
        .clone()
        .unwrap_or_else(crate::cli::default_data_dir);
    let mut d = DataDir::create(&path)?;
    d.lock()?;
    let done = crate::store::backup::restore(file, &crate::store::db_path(d.path()))?;
    let aside = match &done.moved_aside {
        Some(p) => format!("; the database that was there is now {}", p.display()),
        None => String::new(),
    };
    Ok(format!(
        "restored {} messages and {} contacts into {}{aside}",
        done.messages,
        done.contacts,
        done.to.display()
    ))
}

/// `purr id`: the id and fingerprint, from `identity.key` (the node need not run).
pub fn id(data_dir: &Option<PathBuf>, json: bool) -> Result<String, ClientError> {
    let d = existing_dir(data_dir)?;
    let me = d
        .read_identity()?
        .ok_or_else(|| ClientError::NoIdentity(d.path().to_path_buf()))?;
    let fingerprint = crate::identity::fingerprint(&me.id());
    if json {
        return Ok(
            serde_json::json!({ "id": me.id_hex(), "fingerprint": fingerprint }).to_string(),
        );
    }
    Ok(format!("{}\n{fingerprint}", me.id_hex()))
}

/// How to reach the node of a data dir.
struct Target {
    dir: PathBuf,
    port: u16,
    /// The port came from `node.json` (not `--port`): a dead port means a stale file.
    from_node_json: bool,
    token: String,
}

impl Target {
    /// Reads the token and port; fails plainly when no node has run or runs there.
    fn find(args: &ClientArgs) -> Result<(Target, DataDir), ClientError> {
        let d = existing_dir(&args.data_dir)?;
        let dir = d.path().to_path_buf();
        let not_running = |why: &str| ClientError::NotRunning {
            dir: dir.clone(),
            why: why.to_string(),
        };
        let token = d
            .read_ui_token()?
            .ok_or_else(|| not_running("no ui.token: no node has run there yet"))?;
        let (port, from_node_json) = match (args.port, d.node_info()) {
            (Some(p), _) => (p, false),
            (None, Some(info)) => (info.port, true),
            (None, None) => return Err(not_running("no node.json")),
        };
        let target = Target {
            dir,
            port,
            from_node_json,
            token,
        };
        Ok((target, d))
    }

    /// The error for "cannot connect".
    fn unreachable(&self, why: std::io::Error) -> ClientError {
        if self.from_node_json {
            ClientError::NotRunning {
                dir: self.dir.clone(),
                why: format!(
                    "node.json names port {}, where nothing answers ({why}): it was left by a node that did not stop cleanly",
                    self.port
                ),
            }
        } else {
            ClientError::NoNode {
                port: self.port,
                why,
            }
        }
    }
}

/// `purr url`: the UI address of the running node, with its token. Asks the node for
/// its id first and checks it is the identity of this data dir.
pub fn url(args: &ClientArgs) -> Result<String, ClientError> {
    let (target, d) = Target::find(args)?;
    let body = api_call(&target, "GET", "/api/v1/me", None)?;
    let me: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| ClientError::Protocol(e.to_string()))?;
    let theirs = me["id"].as_str().unwrap_or("?");
    if let Some(ours) = d.read_identity()?.map(|i| i.id_hex()) {
        if theirs != ours {
            return Err(ClientError::OtherNode {
                port: target.port,
                dir: target.dir,
                theirs: theirs.to_string(),
                ours,
            });
        }
    }
    Ok(crate::node::ui_url(
        std::net::Ipv4Addr::LOCALHOST.into(),
        target.port,
        Some(&target.token),
    ))
}

/// `purr peers`: one line per peer — id, status, path (how it is reached), fingerprint,
/// name — after a header line when `header` (for people at a terminal), or with `json`
/// the API's array as it came.
pub fn peers(args: &ClientArgs, json: bool, header: bool) -> Result<String, ClientError> {
    let (target, _) = Target::find(args)?;
    let body = api_call(&target, "GET", "/api/v1/peers", None)?;
    let peers: Vec<Peer> =
        serde_json::from_slice(&body).map_err(|e| ClientError::Protocol(e.to_string()))?;
    if json {
        return Ok(String::from_utf8_lossy(&body).trim().to_string());
    }
    let mut out = String::new();
    if header {
        out.push_str(&format!(
            "{:<64}  {:<7}  {:<26}  {:<35}  NAME\n",
            "ID", "STATUS", "PATH", "FINGERPRINT"
        ));
    }
    for p in peers {
        out.push_str(&format!(
            "{}  {:<7}  {:<26}  {}  {}\n",
            p.id,
            // online / nearby (heard by beacon, no session) / offline; a node before
            // issue 21 sends no `presence`, and `online` says it all.
            match (p.online, p.presence) {
                (true, _) => "online",
                (false, crate::api::PeerPresence::Nearby) => "nearby",
                (false, _) => "offline",
            },
            // How it is reached (`LAN 10.0.0.2`); `-` when offline.
            p.path.as_deref().unwrap_or("-"),
            p.fingerprint,
            p.name
        ));
    }
    Ok(out.trim_end().to_string())
}

/// How long `purr doctor` waits for the node's answer (with 1 s to connect, it answers
/// within 5 s however the node is doing).
const DOCTOR_PATIENCE: Duration = Duration::from_secs(4);

/// `purr doctor`: the node's `GET /api/v1/diag`, one line per check (or the JSON with
/// `json`), and the worst verdict (the exit code: FAIL is 1). Without a running node it
/// says so, and checks what it can from the data dir.
pub fn doctor(
    args: &ClientArgs,
    json: bool,
) -> Result<(String, crate::diag::Verdict), ClientError> {
    let report = match Target::find(args) {
        Ok((target, _)) => {
            match api_call_within(&target, "GET", "/api/v1/diag", None, DOCTOR_PATIENCE) {
                Ok(body) => serde_json::from_slice::<crate::diag::Report>(&body)
                    .map_err(|e| ClientError::Protocol(e.to_string()))?,
                Err(ClientError::NotRunning { dir, .. }) => offline_report(&dir),
                Err(e) => return Err(e),
            }
        }
        Err(ClientError::NotRunning { dir, .. }) => offline_report(&dir),
        Err(ClientError::NoDataDir(dir)) => offline_report(&dir),
        Err(e) => return Err(e),
    };
    let worst = crate::diag::verdict::worst(&report.checks);
    let out = if json {
        serde_json::to_string_pretty(&report).map_err(|e| ClientError::Protocol(e.to_string()))?
    } else {
        let mut lines: Vec<String> = report.checks.iter().map(ToString::to_string).collect();
        let count = |v| report.checks.iter().filter(|c| c.verdict == v).count();
        lines.push(format!(
            "{} FAIL, {} WARN, {} OK",
            count(crate::diag::Verdict::Fail),
            count(crate::diag::Verdict::Warn),
            count(crate::diag::Verdict::Ok)
        ));
        lines.join("\n")
    };
    Ok((out, worst))
}

/// The report when no node runs on `dir`: what the data dir and the interfaces say.
fn offline_report(dir: &std::path::Path) -> crate::diag::Report {
    let links = crate::discovery::ifaces::links().unwrap_or_default();
    let mut report = crate::diag::Report {
        interfaces: links
            .into_iter()
            .map(|l| crate::diag::iface_facts(l, None))
            .collect(),
        host: crate::diag::host::facts(dir),
        ..Default::default()
    };
    report.checks = crate::diag::checks(&report);
    report
}

/// Finds the one contact `query` names: a full id, a unique id prefix of at least 4 hex
/// characters, or an exact name.
pub fn resolve<'a>(peers: &'a [Peer], query: &str) -> Result<&'a Peer, ClientError> {
    let lower = query.to_ascii_lowercase();
    let all_hex = !lower.is_empty() && lower.bytes().all(|b| b.is_ascii_hexdigit());
    let is_hex = all_hex && lower.len() >= MIN_PREFIX_HEX;
    let mut found: Vec<&Peer> = peers.iter().filter(|p| p.id == lower).collect();
    if found.is_empty() && is_hex {
        found = peers.iter().filter(|p| p.id.starts_with(&lower)).collect();
    }
    if found.is_empty() {
        found = peers.iter().filter(|p| p.name == query).collect();
    }
    match found.as_slice() {
        [one] => Ok(one),
        [] if all_hex && !is_hex => Err(ClientError::ShortPrefix(query.to_string())),
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

/// `purr send PEER TEXT`. Text from stdin (`-`) loses one trailing newline, the one
/// `echo` adds. With `wait`, returns only once the peer has stored the message
/// (`delivered` or `read`), or fails after that long.
pub fn send(
    args: &ClientArgs,
    peer: &str,
    text: &str,
    wait: Option<Duration>,
) -> Result<String, ClientError> {
    let text = if text == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(ClientError::Stdin)?;
        drop_one_newline(s)
    } else {
        text.to_string()
    };
    let (target, _) = Target::find(args)?;
    let to = match groups::find_dest(&target, peer)? {
        groups::Dest::Peer(p) => p,
        groups::Dest::Group(g) if wait.is_none() => return groups::send(&target, &g, &text),
        groups::Dest::Group(_) => return Err(ClientError::GroupWait),
    };
    let body = serde_json::json!({ "to": to.id, "text": text }).to_string();
    let answer = api_call(&target, "POST", "/api/v1/messages", Some(body.as_bytes()))?;
    let msg: serde_json::Value =
        serde_json::from_slice(&answer).map_err(|e| ClientError::Protocol(e.to_string()))?;
    let id = msg["id"].as_str().unwrap_or("?").to_string();
    let mut status = msg["status"].as_str().unwrap_or("?").to_string();
    if let Some(patience) = wait {
        status = wait_delivered(&target, &to, &id, msg["seq"].as_i64(), patience)?;
    }
    Ok(format!("{id} {status} to {}", to.name))
}

/// `echo text |` gives `text\n`: the newline is the shell's, not the message's.
fn drop_one_newline(mut s: String) -> String {
    if s.ends_with('\n') {
        s.pop();
        if s.ends_with('\r') {
            s.pop();
        }
    }
    s
}

/// The contact `query` names, from the node's list.
fn find_peer(target: &Target, query: &str) -> Result<Peer, ClientError> {
    let body = api_call(target, "GET", "/api/v1/peers", None)?;
    let peers: Vec<Peer> =
        serde_json::from_slice(&body).map_err(|e| ClientError::Protocol(e.to_string()))?;
    resolve(&peers, query).cloned()
}

/// Polls the message's status (every 100 ms) until `delivered`/`read` or `patience`.
fn wait_delivered(
    target: &Target,
    to: &Peer,
    id: &str,
    seq: Option<i64>,
    patience: Duration,
) -> Result<String, ClientError> {
    let end = std::time::Instant::now() + patience;
    // The page that ends with our message: `before` is exclusive.
    let before = seq
        .map(|s| format!("&before={}", s + 1))
        .unwrap_or_default();
    let path = format!("/api/v1/messages?peer={}&limit=1{before}", to.id);
    loop {
        let body = api_call(target, "GET", &path, None)?;
        let page: Vec<serde_json::Value> =
            serde_json::from_slice(&body).map_err(|e| ClientError::Protocol(e.to_string()))?;
        let status = page
            .iter()
            .find(|m| m["id"] == id)
            .and_then(|m| m["status"].as_str())
            .unwrap_or("pending");
        if status == "delivered" || status == "read" {
            return Ok(status.to_string());
        }
        if std::time::Instant::now() >= end {
            return Err(ClientError::NotDelivered {
                id: id.to_string(),
                name: to.name.clone(),
                online: to.online,
                secs: patience.as_secs(),
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `purr history PEER`: the `limit` newest messages, oldest first, one line each (or one
/// JSON object each).
pub fn history(
    args: &ClientArgs,
    peer: &str,
    limit: u32,
    json: bool,
) -> Result<String, ClientError> {
    let (target, _) = Target::find(args)?;
    let to = match groups::find_dest(&target, peer)? {
        groups::Dest::Peer(p) => p,
        groups::Dest::Group(g) => return groups::history(&target, &g, limit, json),
    };
    let path = format!("/api/v1/messages?peer={}&limit={limit}&files=1", to.id);
    let body = api_call(&target, "GET", &path, None)?;
    let (page, files) = history_page(&body)?;
    let mut out = Vec::with_capacity(page.len() + files.len());
    // Text: the page's files among the messages by time, as the UI shows them. JSON
    // lines stay Messages only (scripts parse them so; files: `purr files`, the API).
    let mut files = files.iter().peekable();
    for m in &page {
        while let Some(f) = files.next_if(|f| !json && f.created <= m.ts) {
            out.push(file_line(f, &to.name));
        }
        if json {
            out.push(serde_json::to_string(m).map_err(|e| ClientError::Protocol(e.to_string()))?);
        } else {
            let who = if m.from == to.id {
                to.name.as_str()
            } else {
                "me"
            };
            let status = serde_json::to_value(m.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            // One line a message: line breaks inside a text are shown as ⏎.
            let text = m.text.replace('\n', " ⏎ ");
            out.push(format!("{}  {who}: {text}  [{status}]", m.ts));
        }
    }
    if !json {
        out.extend(files.map(|f| file_line(f, &to.name)));
    }
    Ok(out.join("\n"))
}

/// A history page with its files (`files=1`), or the plain array of an older node.
fn history_page(
    body: &[u8],
) -> Result<(Vec<crate::api::Message>, Vec<crate::api::Transfer>), ClientError> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Page {
        WithFiles {
            messages: Vec<crate::api::Message>,
            #[serde(default)]
            files: Vec<crate::api::Transfer>,
        },
        Plain(Vec<crate::api::Message>),
    }
    match serde_json::from_slice(body).map_err(|e| ClientError::Protocol(e.to_string()))? {
        Page::WithFiles { messages, files } => Ok((messages, files)),
        Page::Plain(messages) => Ok((messages, Vec::new())),
    }
}

/// `1764115200000  alice: [file] cat.png (1.2 MB) done — look at him`.
fn file_line(f: &crate::api::Transfer, peer_name: &str) -> String {
    let who = if f.direction == "in" { peer_name } else { "me" };
    let state = match &f.reason {
        Some(reason) => format!("{}: {reason}", f.state),
        None => f.state.clone(),
    };
    let caption = f
        .caption
        .as_ref()
        .map(|c| format!(" — {}", c.replace('\n', " ⏎ ")))
        .unwrap_or_default();
    format!(
        "{}  {who}: [file] {} ({}) {state}{caption}",
        f.created,
        f.name,
        files::human_bytes(f.size)
    )
}

/// The running node of `args`: its port and token, for the WebSocket commands.
pub(crate) fn node_of(args: &ClientArgs) -> Result<(u16, String), ClientError> {
    let (target, _) = Target::find(args)?;
    // One API call first: a dead port or a foreign program is reported as for the others.
    api_call(&target, "GET", "/api/v1/me", None)?;
    Ok((target.port, target.token))
}

/// One request to the local API; returns the body of a 2xx answer.
fn api_call(
    target: &Target,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
) -> Result<Vec<u8>, ClientError> {
    api_call_within(target, method, path, body, Duration::from_secs(10))
}

/// [`api_call`], waiting at most `patience` for each read and write (1 s, or 2 s
/// beyond a patience of 10 s, to connect).
fn api_call_within(
    target: &Target,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
    patience: Duration,
) -> Result<Vec<u8>, ClientError> {
    let port = target.port;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let connect = if patience >= Duration::from_secs(10) {
        Duration::from_secs(2)
    } else {
        Duration::from_secs(1)
    };
    let mut s = TcpStream::connect_timeout(&addr, connect).map_err(|e| target.unreachable(e))?;
    let _ = s.set_read_timeout(Some(patience));
    let _ = s.set_write_timeout(Some(patience));
    let body = body.unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        target.token,
        body.len()
    );
    let mut raw = Vec::new();
    s.write_all(head.as_bytes())
        .and_then(|_| s.write_all(body))
        .and_then(|_| s.read_to_end(&mut raw).map(|_| ()))
        .map_err(|e| ClientError::Protocol(format!("port {port}: {e}")))?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| ClientError::Protocol(format!("port {port} does not answer HTTP")))?;
    let status: u16 = std::str::from_utf8(&raw[..split])
        .ok()
        .and_then(|h| h.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ClientError::Protocol("no status".into()))?;
    let payload = raw[split + 4..].to_vec();
    if (200..300).contains(&status) {
        return Ok(payload);
    }
    if status == 401 {
        return Err(ClientError::Unauthorized {
            port,
            dir: target.dir.clone(),
        });
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
            stranger: false,
            path: None,
            presence: Default::default(),
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
            Err(ClientError::ShortPrefix(_))
        ));
        assert!(matches!(
            resolve(&peers, "zed"),
            Err(ClientError::NoSuchPeer(_))
        ));
    }

    #[test]
    fn short_prefixes_are_not_prefixes() {
        let peers = vec![peer("ab", "x"), peer("ac", "y")];
        // 3 hex chars are treated as a name, not a prefix, and the error says the minimum.
        let err = resolve(&peers, "aba").unwrap_err();
        assert!(matches!(err, ClientError::ShortPrefix(_)), "{err}");
        assert!(
            err.to_string().contains("at least 4 hex characters"),
            "{err}"
        );
    }
}
