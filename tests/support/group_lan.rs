//! Five (or more) nodes in network namespaces on one bridge ([`super::lan`]), members of
//! one group (issue 18): each node's JSON API and UI WebSocket reached from inside its
//! namespace, nodes stopped, `kill -9`ed and restarted on their own data dir, and the
//! helpers the group tests compare members with (ordered ids, their hash, the database).
//!
//! A socket stays in the namespace it was opened in, whichever thread uses it later:
//! [`Member::connect`] opens it on a thread inside the namespace and hands it back.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::lan::{Host, Lan};
use super::{eventually, read_response, HttpResp, Node, Ws};

/// The port every node listens on inside its own namespace.
pub const PORT: u16 = 35035;
/// The longest any single wait below may take.
pub const WAIT: Duration = Duration::from_secs(20);

/// One member: its host on the LAN, its node (when running), its data dir.
pub struct Member {
    pub name: &'static str,
    pub host: usize,
    pub node: Option<Node>,
    pub id: String,
    pub data: PathBuf,
    ns: String,
}

impl Member {
    /// Starts a node in `lan.hosts[host]` on data dir `data` (discovery on, a beacon a
    /// second, port [`PORT`]).
    pub fn start(lan: &Lan, host: usize, name: &'static str, data: PathBuf) -> Member {
        let mut m = Member {
            name,
            host,
            node: None,
            id: String::new(),
            data,
            ns: lan.hosts[host].ns.name.clone(),
        };
        m.restart(lan);
        m
    }

    /// Starts the node again (it must not be running).
    pub fn restart(&mut self, lan: &Lan) {
        assert!(self.node.is_none(), "{} is running", self.name);
        let node = lan.hosts[self.host]
            .node()
            .port(PORT)
            .data_dir(&self.data)
            .start();
        self.id = node.id.clone();
        self.node = Some(node);
    }

    /// `kill -9`, and waits for the process to be gone.
    pub fn kill9(&mut self) {
        if let Some(node) = self.node.take() {
            node.signal(rustix::process::Signal::KILL);
            drop(node); // waits for the exit
        }
    }

    /// SIGTERM, bounded.
    pub fn stop(&mut self) {
        if let Some(mut node) = self.node.take() {
            assert!(
                node.stop_within(Duration::from_secs(10)).is_some(),
                "{} did not stop",
                self.name
            );
        }
    }

    pub fn node(&self) -> &Node {
        self.node
            .as_ref()
            .unwrap_or_else(|| panic!("{} is not running", self.name))
    }

    /// A handle on the node's API that threads can share.
    pub fn api(&self) -> Api {
        let node = self.node();
        Api {
            name: self.name,
            ns: self.ns.clone(),
            port: node.port,
            token: node.token(),
        }
    }

    /// A TCP connection to this node's port, from inside its namespace.
    pub fn connect(&self) -> Option<TcpStream> {
        self.api().connect()
    }

    /// One API request; `None` if the node does not answer (or is not running).
    pub fn request(&self, method: &str, path: &str, body: Option<&Value>) -> Option<HttpResp> {
        self.node.as_ref()?;
        self.api().request(method, path, body)
    }

    /// `GET /api/v1/<path>` as JSON (`Null` if the node does not answer).
    pub fn get(&self, path: &str) -> Value {
        self.request("GET", path, None)
            .filter(|r| r.status == 200)
            .and_then(|r| serde_json::from_slice(&r.body).ok())
            .unwrap_or(Value::Null)
    }

    /// `POST`, asserting the status.
    pub fn post(&self, path: &str, body: &Value, status: u16) -> Value {
        self.api().post(path, body, status)
    }

    /// Writes `text` to the group; the message as the API answered (committed).
    pub fn say(&self, gid: &str, text: &str) -> Value {
        self.api().say(gid, text)
    }

    /// The group as this node lists it.
    pub fn group(&self, gid: &str) -> Option<Value> {
        self.get("groups")
            .as_array()?
            .iter()
            .find(|g| g["id"] == gid)
            .cloned()
    }

    pub fn phase(&self, gid: &str) -> String {
        self.group(gid)
            .and_then(|g| g["phase"].as_str().map(str::to_string))
            .unwrap_or_default()
    }

    /// The group's messages in display order (all of them: pages of 500 walked back),
    /// without the system lines of roster changes the pages also carry (the tests count
    /// and order what members wrote).
    pub fn messages(&self, gid: &str) -> Vec<Value> {
        let mut all: Vec<Value> = Vec::new();
        let mut before = String::new();
        for _ in 0..100 {
            let page = self.get(&format!(
                "groups/{gid}/messages?limit=500{}",
                if before.is_empty() {
                    String::new()
                } else {
                    format!("&before={before}")
                }
            ));
            let Some(page) = page.as_array().filter(|p| !p.is_empty()) else {
                break;
            };
            let full = page.len() == 500;
            before = page[0]["id"].as_str().unwrap_or_default().to_string();
            let mut next = page.clone();
            next.append(&mut all);
            all = next;
            if !full {
                break;
            }
        }
        all.retain(|m| m["kind"] != "system");
        all
    }

    /// The ids of [`Member::messages`], in display order.
    pub fn ids(&self, gid: &str) -> Vec<String> {
        self.messages(gid)
            .iter()
            .filter_map(|m| m["id"].as_str().map(str::to_string))
            .collect()
    }

    /// The node's `GET /api/v1/diag`.
    pub fn diag(&self) -> Value {
        self.get("diag")
    }

    /// A UI WebSocket (hello sent), from inside the namespace.
    pub fn ws(&self) -> Ws {
        let node = self.node();
        let s = self.connect().expect("connect for ws");
        let host = format!("127.0.0.1:{}", node.port);
        let url = format!("ws://{host}/ws");
        let mut req = tungstenite::client::IntoClientRequest::into_client_request(url.as_str())
            .expect("ws request");
        let h = req.headers_mut();
        h.insert(
            "Cookie",
            format!("purr_token={}", node.token())
                .parse()
                .expect("cookie"),
        );
        h.insert("Origin", format!("http://{host}").parse().expect("origin"));
        s.set_read_timeout(Some(Duration::from_secs(10))).ok();
        let (ws, _) = tungstenite::client::client(req, s).expect("ws upgrade");
        let mut ws = Ws::from_socket(ws);
        ws.send(json!({"cmd": "hello"}));
        ws
    }
}

/// A node's API as seen from inside its namespace: plain data, so writer threads can
/// each hold one.
#[derive(Clone)]
pub struct Api {
    pub name: &'static str,
    ns: String,
    port: u16,
    token: String,
}

impl Api {
    /// A TCP connection to the node's port, from inside its namespace.
    pub fn connect(&self) -> Option<TcpStream> {
        let path = format!("/run/netns/{}", self.ns);
        let port = self.port;
        std::thread::spawn(move || {
            use std::os::fd::AsFd;
            let file = std::fs::File::open(&path).ok()?;
            rustix::thread::move_into_link_name_space(
                file.as_fd(),
                Some(rustix::thread::LinkNameSpaceType::Network),
            )
            .ok()?;
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()
        })
        .join()
        .ok()
        .flatten()
    }

    /// One API request; `None` if the node does not answer.
    pub fn request(&self, method: &str, path: &str, body: Option<&Value>) -> Option<HttpResp> {
        let (port, token) = (self.port, &self.token);
        let mut s = self.connect()?;
        s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
        let body = body.map(Value::to_string).unwrap_or_default();
        let req = format!(
            "{method} /api/v1/{path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
             Authorization: Bearer {token}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).ok()?;
        read_response(&mut s).ok()
    }

    /// `POST`, asserting the status.
    pub fn post(&self, path: &str, body: &Value, status: u16) -> Value {
        let r = self
            .request("POST", path, Some(body))
            .unwrap_or_else(|| panic!("{}: no answer to POST {path}", self.name));
        assert_eq!(r.status, status, "{} POST {path}: {}", self.name, r.text());
        serde_json::from_slice(&r.body).unwrap_or(Value::Null)
    }

    /// Writes `text` to the group; the message as the API answered (committed).
    pub fn say(&self, gid: &str, text: &str) -> Value {
        self.post(
            &format!("groups/{gid}/messages"),
            &json!({ "text": text }),
            201,
        )
    }
}

/// Collects the events one UI WebSocket receives whose `cmd` is one of those asked for,
/// with their arrival time, on a thread of its own; `writer` sends on the same socket
/// (the node must see its UI read, or it drops it).
pub struct Watch {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Vec<(Instant, Value)>>>,
    pub live: mpsc::Receiver<(Instant, Value)>,
    pub writer: tungstenite::WebSocket<TcpStream>,
}

impl Watch {
    pub fn new(mut ws: Ws, cmds: &[&'static str]) -> Watch {
        let cmds = cmds.to_vec();
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, live) = mpsc::channel();
        let flag = stop.clone();
        let socket = ws.inner().get_mut();
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .ok();
        socket.set_nodelay(true).ok();
        let writer = tungstenite::WebSocket::from_raw_socket(
            socket.try_clone().expect("clone the ws socket"),
            tungstenite::protocol::Role::Client,
            None,
        );
        let thread = std::thread::spawn(move || {
            let mut got = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                match ws.inner().read() {
                    Ok(tungstenite::Message::Text(t)) => {
                        let at = Instant::now();
                        let Ok(v) = serde_json::from_str::<Value>(t.as_str()) else {
                            continue;
                        };
                        if cmds.iter().any(|c| v["cmd"] == *c) {
                            let _ = tx.send((at, v.clone()));
                            got.push((at, v));
                        }
                    }
                    Ok(_) => {}
                    Err(tungstenite::Error::Io(e))
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) => {}
                    Err(_) => break,
                }
            }
            got
        });
        Watch {
            stop,
            thread: Some(thread),
            live,
            writer,
        }
    }

    /// Sends a command on the watched socket.
    pub fn send(&mut self, v: &Value) {
        self.writer
            .send(tungstenite::Message::text(v.to_string()))
            .expect("ws send");
    }

    /// Stops the reader; every event it kept, in arrival order.
    pub fn finish(mut self) -> Vec<(Instant, Value)> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default()
    }
}

/// A 1:1 message each way, so the two are each other's contacts (invitations go to
/// contacts only).
pub fn befriend(a: &Member, b: &Member) {
    a.post("messages", &json!({"to": b.id, "text": "hi"}), 201);
    b.post("messages", &json!({"to": a.id, "text": "hi"}), 201);
}

/// `owner` creates a group with all of `others`, who accept; waits until every member
/// lists all of them. Returns the group id.
pub fn make_group(owner: &Member, others: &[&Member]) -> String {
    for o in others {
        befriend(owner, o);
    }
    let ids: Vec<&str> = others.iter().map(|o| o.id.as_str()).collect();
    let g = owner.post("groups", &json!({"name": "lan cats", "members": ids}), 201);
    let gid = g["id"].as_str().expect("group id").to_string();
    for o in others {
        assert!(
            eventually(WAIT, || o.phase(&gid) == "invited"),
            "{} got no invitation",
            o.name
        );
        o.post(&format!("groups/{gid}/accept"), &json!({}), 200);
    }
    let n = others.len() + 1;
    let all: Vec<&Member> = std::iter::once(owner)
        .chain(others.iter().copied())
        .collect();
    for m in all.iter().copied() {
        assert!(
            eventually(WAIT, || m.group(&gid).is_some_and(|g| g["phase"]
                == "member"
                && g["members"].as_array().map(Vec::len) == Some(n))),
            "{} not a member of all {n}: {:?}",
            m.name,
            m.group(&gid)
        );
    }
    // Members keep sessions with each other (issue 21): each one's beacons are dialled
    // now, so the group meshes before its first message.
    for m in all.iter().copied() {
        let meshed = || {
            let peers = m.get("peers");
            let list = peers.as_array().cloned().unwrap_or_default();
            all.iter().filter(|o| o.id != m.id).all(|o| {
                list.iter()
                    .any(|p| p["id"] == o.id.as_str() && p["online"] == true)
            })
        };
        assert!(
            eventually(WAIT, meshed),
            "{} not online with every member",
            m.name
        );
    }
    gid
}

/// Waits until every member in `members` lists every other one, online or nearby
/// (issue 21: strangers on a LAN only see each other's beacons until they talk or
/// share a group).
pub fn wait_listed(lan: &Lan, members: &[&Member], within: Duration) -> Duration {
    let hosts: Vec<&Host> = members.iter().map(|m| &lan.hosts[m.host]).collect();
    let nodes: Vec<&Node> = members.iter().map(|m| m.node()).collect();
    super::lan::wait_for_listing(&hosts, &nodes, within)
}

/// Waits until every running member in `members` lists every other one online.
pub fn wait_mesh(lan: &Lan, members: &[&Member], within: Duration) -> Duration {
    let hosts: Vec<&Host> = members.iter().map(|m| &lan.hosts[m.host]).collect();
    let nodes: Vec<&Node> = members.iter().map(|m| m.node()).collect();
    super::lan::wait_for_mesh(&hosts, &nodes, within)
}

/// A short hash of an ordered list of ids (what "the same order" is compared by).
pub fn order_hash(ids: &[String]) -> String {
    let mut h = DefaultHasher::new();
    ids.hash(&mut h);
    format!("{:016x}", h.finish())
}

/// Waits until every one of `members` holds exactly `want` messages in one order;
/// returns how long it took, or panics naming who holds what.
pub fn wait_converged(members: &[&Member], gid: &str, want: usize, within: Duration) -> Duration {
    let start = Instant::now();
    let same = || {
        let first = members[0].ids(gid);
        first.len() == want && members[1..].iter().all(|m| m.ids(gid) == first)
    };
    if eventually(within, same) {
        return start.elapsed();
    }
    let seen: Vec<String> = members
        .iter()
        .map(|m| {
            let ids = m.ids(gid);
            format!("{}: {} ({})", m.name, ids.len(), order_hash(&ids))
        })
        .collect();
    panic!(
        "no convergence on {want} messages within {within:?}: {}",
        seen.join(", ")
    );
}

/// Every group message in a node's database, parsed from the signed bytes it keeps
/// (`None` when the database cannot be read).
pub fn stored(data: &std::path::Path) -> Vec<purr::peer::group::GroupMsg> {
    let Ok(db) = rusqlite::Connection::open_with_flags(
        data.join("purr.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    ) else {
        return Vec::new();
    };
    let Ok(mut q) = db.prepare("SELECT body FROM group_messages") else {
        return Vec::new();
    };
    let rows: Vec<Vec<u8>> = q
        .query_map([], |r| r.get(0))
        .map(|it| it.filter_map(Result::ok).collect())
        .unwrap_or_default();
    rows.iter()
        .map(|b| purr::peer::group::GroupMsg::parse(b).expect("a stored group message parses"))
        .collect()
}

/// A small seeded generator (xorshift64*), so a run's random choices can be replayed
/// from the seed it prints.
pub struct Rng(u64);

impl Rng {
    /// From `GROUPS_SEED` if set, else from the clock.
    pub fn from_env() -> (Rng, u64) {
        let seed = std::env::var("GROUPS_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
            });
        (Rng(seed | 1), seed)
    }

    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n.max(1)
    }
}
