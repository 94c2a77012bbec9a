//! A private LAN for discovery tests: host namespaces joined by veth pairs to a Linux
//! bridge that lives in a namespace of its own. Multicast sent in one host reaches all the
//! others and nothing else: the machine's own network never sees a beacon.
//!
//! ```text
//!                ┌──────────── bridge ns ─────────────┐
//!                │ br0 (mcast_snooping 0: floods all) │
//!                └──pb…─────────pb…─────────pb…───────┘
//!                   │ veth       │ veth       │ veth
//!               ┌──ph…──┐    ┌──ph…──┐    ┌──ph…──┐
//!               │host 0 │    │host 1 │    │host 2 │   10.88.0.(i+1)/24, fd00:88::(i+1)/64,
//!               └───────┘    └───────┘    └───────┘   fe80::… (DAD off: usable at once)
//! ```
//!
//! Every namespace is a [`Netns`], deleted on drop, also when the test panics; names
//! carry the test process id and a counter, so tests running in parallel never collide,
//! and interface names stay within Linux's 15 characters.

use std::io::Write;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::netns::{tag, Netns};
use super::{eventually, read_response, Node, NodeBuilder};

/// How to build a [`Lan`].
#[derive(Debug, Clone, Copy)]
pub struct LanBuilder {
    hosts: usize,
    ipv4: bool,
    ipv6: bool,
    multicast_route: bool,
}

impl LanBuilder {
    /// No IPv4 at all: IPv6 link-local and ULA addresses only.
    pub fn ipv6_only(mut self) -> Self {
        self.ipv4 = false;
        self.ipv6 = true;
        self
    }

    /// No IPv6 at all (disabled in the host namespaces).
    pub fn ipv4_only(mut self) -> Self {
        self.ipv6 = false;
        self.ipv4 = true;
        self
    }

    /// Leave out the `224.0.0.0/4` route the hosts get by default.
    pub fn no_multicast_route(mut self) -> Self {
        self.multicast_route = false;
        self
    }

    pub fn build(self) -> Lan {
        let bridge = Netns::new("br");
        bridge.exec(&[
            "ip",
            "link",
            "add",
            "br0",
            "type",
            "bridge",
            "mcast_snooping",
            "0",
        ]);
        bridge.exec(&["ip", "link", "set", "br0", "up"]);
        let hosts = (0..self.hosts)
            .map(|i| {
                let ns = Netns::new(&format!("h{i}"));
                // Before the interface exists, so that it inherits the defaults.
                if self.ipv6 {
                    ns.sh("echo 0 > /proc/sys/net/ipv6/conf/all/accept_dad; \
                         echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad");
                } else {
                    ns.sh("echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6; \
                         echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6");
                }
                let mut host = Host {
                    ns,
                    ifname: String::new(),
                    bridge_port: String::new(),
                    v4: None,
                    v6: None,
                };
                self.attach(&bridge, &mut host, i);
                host
            })
            .collect();
        let lan = Lan {
            hosts,
            config: self,
            bridge,
        };
        if self.ipv6 {
            for h in &lan.hosts {
                h.wait_for_link_local();
            }
        }
        lan
    }

    /// Gives host `i` a new interface on the bridge, with its addresses and routes.
    fn attach(&self, bridge: &Netns, host: &mut Host, i: usize) {
        let t = tag();
        let (ifname, port) = (format!("ph{t}"), format!("pb{t}"));
        super::netns::ip(&[
            "link",
            "add",
            &ifname,
            "netns",
            &host.ns.name,
            "type",
            "veth",
            "peer",
            "name",
            &port,
            "netns",
            &bridge.name,
        ]);
        bridge.exec(&["ip", "link", "set", &port, "master", "br0", "up"]);
        let n = i + 1;
        let v4 = self.ipv4.then(|| Ipv4Addr::new(10, 88, 0, n as u8));
        let v6 = self
            .ipv6
            .then(|| Ipv6Addr::new(0xfd00, 0x88, 0, 0, 0, 0, 0, n as u16));
        let ns = &host.ns;
        if let Some(a) = v4 {
            ns.exec(&["ip", "addr", "add", &format!("{a}/24"), "dev", &ifname]);
        }
        if let Some(a) = v6 {
            let cidr = format!("{a}/64");
            ns.exec(&["ip", "-6", "addr", "add", &cidr, "dev", &ifname, "nodad"]);
        }
        ns.exec(&["ip", "link", "set", &ifname, "up"]);
        if self.ipv4 && self.multicast_route {
            ns.exec(&["ip", "route", "add", "224.0.0.0/4", "dev", &ifname]);
        }
        host.ifname = ifname;
        host.bridge_port = port;
        host.v4 = v4;
        host.v6 = v6;
    }
}

/// The LAN; dropping it deletes every namespace (and so every interface) it made.
pub struct Lan {
    pub hosts: Vec<Host>,
    config: LanBuilder,
    bridge: Netns,
}

impl Lan {
    /// `hosts` host namespaces, dual-stack, with a multicast route.
    pub fn builder(hosts: usize) -> LanBuilder {
        LanBuilder {
            hosts,
            ipv4: true,
            ipv6: true,
            multicast_route: true,
        }
    }

    /// The namespace of the bridge (to change its multicast snooping, isolate a port).
    pub fn bridge(&self) -> &Netns {
        &self.bridge
    }

    /// Pulls host `i`'s cable: its interface (and the bridge's end) vanishes.
    pub fn unplug(&self, i: usize) {
        let h = &self.hosts[i];
        h.ns.exec(&["ip", "link", "del", &h.ifname]);
    }

    /// Takes host `i`'s interface administratively down or up (`ip link set`).
    pub fn set_up(&self, i: usize, up: bool) {
        let h = &self.hosts[i];
        let state = if up { "up" } else { "down" };
        h.ns.exec(&["ip", "link", "set", &h.ifname, state]);
        if up && self.config.ipv6 {
            h.wait_for_link_local();
        }
    }

    /// The bridge stops flooding multicast to host `i` (`mcast_flood off` on its port):
    /// it hears no beacon, as behind Wi-Fi client isolation, while its own go out and
    /// unicast (TCP, ARP) still flows both ways.
    pub fn drop_multicast_to(&self, i: usize) {
        let port = &self.hosts[i].bridge_port;
        self.bridge.exec(&[
            "ip",
            "link",
            "set",
            "dev",
            port,
            "type",
            "bridge_slave",
            "mcast_flood",
            "off",
        ]);
    }

    /// Splits the LAN in two: the bridge ports of the hosts in `side` move to a second
    /// bridge (`br1`), so they reach one another and nothing on `br0`, and back. Links
    /// stay up and TCP connections across the split stay open (their packets are lost
    /// until [`Lan::heal`]), as when a switch between two rooms fails.
    pub fn split(&self, side: &[usize]) {
        let has_br1 = std::process::Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.bridge.name,
                "ip",
                "link",
                "show",
                "br1",
            ])
            .output()
            .is_ok_and(|o| o.status.success());
        if !has_br1 {
            self.bridge.exec(&[
                "ip",
                "link",
                "add",
                "br1",
                "type",
                "bridge",
                "mcast_snooping",
                "0",
            ]);
            self.bridge.exec(&["ip", "link", "set", "br1", "up"]);
        }
        for &i in side {
            let port = &self.hosts[i].bridge_port;
            self.bridge
                .exec(&["ip", "link", "set", "dev", port, "master", "br1"]);
        }
    }

    /// Ends a [`Lan::split`]: every host's bridge port is on `br0` again.
    pub fn heal(&self) {
        for h in &self.hosts {
            self.bridge
                .exec(&["ip", "link", "set", "dev", &h.bridge_port, "master", "br0"]);
        }
    }

    /// Plugs host `i` in again, on a new interface with a new name and index.
    pub fn plug(&mut self, i: usize) {
        let config = self.config;
        config.attach(&self.bridge, &mut self.hosts[i], i);
        if config.ipv6 {
            self.hosts[i].wait_for_link_local();
        }
    }
}

/// One host of the LAN.
pub struct Host {
    pub ns: Netns,
    /// Its interface on the LAN.
    pub ifname: String,
    /// The bridge's end of its cable (in the bridge namespace).
    pub bridge_port: String,
    pub v4: Option<Ipv4Addr>,
    pub v6: Option<Ipv6Addr>,
}

impl Host {
    /// A node for this host: inside its namespace, discovery on, a beacon every second.
    pub fn node(&self) -> NodeBuilder {
        Node::builder()
            .netns(&self.ns.name)
            .discovery()
            .arg("--beacon-interval")
            .arg("1")
    }

    /// The interface's index in its namespace.
    pub fn ifindex(&self) -> u32 {
        let path = format!("/sys/class/net/{}/ifindex", self.ifname);
        let out = std::process::Command::new("ip")
            .args(["netns", "exec", &self.ns.name, "cat", &path])
            .output()
            .expect("run ip");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("an ifindex")
    }

    /// Waits (bounded) until the interface has a usable IPv6 link-local address.
    fn wait_for_link_local(&self) {
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end {
            let out = std::process::Command::new("ip")
                .args(["netns", "exec", &self.ns.name, "ip", "-6", "addr", "show"])
                .args(["dev", &self.ifname])
                .output()
                .expect("run ip");
            let text = String::from_utf8_lossy(&out.stdout);
            if text.contains("fe80::") && !text.contains("tentative") {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("{}: no IPv6 link-local address after 10 s", self.ifname);
    }

    /// `GET /api/v1/peers` of `node` (which runs in this host), from inside the host's
    /// namespace: the API is loopback-only. `None` if the node does not answer.
    pub fn peers(&self, node: &Node) -> Option<Vec<Value>> {
        let port = node.port;
        let token = node.token();
        self.ns.run(move || {
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
            s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
            let req = format!(
                "GET /api/v1/peers HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
                 Authorization: Bearer {token}\r\nConnection: close\r\n\r\n"
            );
            s.write_all(req.as_bytes()).ok()?;
            let r = read_response(&mut s).ok()?;
            if r.status != 200 {
                return None;
            }
            serde_json::from_slice::<Value>(&r.body)
                .ok()?
                .as_array()
                .cloned()
        })
    }

    /// `method /api/v1/<path>` of `node` (which runs in this host) with an optional JSON
    /// body, from inside the host's namespace: the status and the JSON answer (`Null`
    /// if not JSON), or `None` if the node does not answer.
    pub fn api(
        &self,
        node: &Node,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Option<(u16, Value)> {
        let port = node.port;
        let token = node.token();
        let (method, path) = (method.to_string(), path.to_string());
        self.ns.run(move || {
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
            s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
            let body = body.map(|b| b.to_string()).unwrap_or_default();
            let req = format!(
                "{method} /api/v1/{path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
                 Authorization: Bearer {token}\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            s.write_all(req.as_bytes()).ok()?;
            let r = read_response(&mut s).ok()?;
            let v = serde_json::from_slice::<Value>(&r.body).unwrap_or(Value::Null);
            Some((r.status, v))
        })
    }

    /// Ids of the peers `node` lists as online (empty if it does not answer).
    pub fn online(&self, node: &Node) -> Vec<String> {
        self.peers(node)
            .unwrap_or_default()
            .iter()
            .filter(|p| p["online"] == true)
            .filter_map(|p| p["id"].as_str().map(str::to_string))
            .collect()
    }
}

/// SPEC §4's groups and port, written out again here so that the tests do not lean on
/// the code under test.
pub const GROUP_V4: Ipv4Addr = Ipv4Addr::new(239, 255, 77, 77);
pub const GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0x7075, 0x7272);
pub const UDP_PORT: u16 = 35035;

/// Starts all the nodes at the same instant (one thread each, released together).
pub fn start_together(builders: Vec<NodeBuilder>) -> Vec<Node> {
    let barrier = Arc::new(Barrier::new(builders.len()));
    let threads: Vec<_> = builders
        .into_iter()
        .map(|b| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                b.start()
            })
        })
        .collect();
    threads
        .into_iter()
        .map(|t| t.join().expect("node start"))
        .collect()
}

/// Whether every node lists every other one as online (`nodes[i]` runs in `hosts[i]`).
fn meshed(hosts: &[&Host], nodes: &[&Node]) -> bool {
    hosts.iter().zip(nodes).all(|(h, n)| {
        let online = h.online(n);
        nodes
            .iter()
            .filter(|o| o.id != n.id)
            .all(|o| online.contains(&o.id))
    })
}

/// Waits (bounded) for a full mesh; returns how long it took, or panics with who sees whom.
pub fn wait_for_mesh(hosts: &[&Host], nodes: &[&Node], within: Duration) -> Duration {
    let start = Instant::now();
    if eventually(within, || meshed(hosts, nodes)) {
        return start.elapsed();
    }
    let seen: Vec<String> = hosts
        .iter()
        .zip(nodes)
        .map(|(h, n)| format!("{} sees {:?}", &n.id[..8], h.online(n)))
        .collect();
    panic!("no full mesh within {within:?}: {}", seen.join("; "));
}

/// Whether every node lists every other one, online or nearby (issue 21: strangers on
/// a LAN see each other by beacon, without a session).
fn all_listed(hosts: &[&Host], nodes: &[&Node]) -> bool {
    hosts.iter().zip(nodes).all(|(h, n)| {
        let peers = h.peers(n).unwrap_or_default();
        nodes.iter().filter(|o| o.id != n.id).all(|o| {
            peers.iter().any(|p| {
                p["id"] == o.id.as_str() && (p["presence"] == "online" || p["presence"] == "nearby")
            })
        })
    })
}

/// Waits (bounded) until every node lists every other (online or nearby); returns how
/// long it took, or panics with what each lists.
pub fn wait_for_listing(hosts: &[&Host], nodes: &[&Node], within: Duration) -> Duration {
    let start = Instant::now();
    if eventually(within, || all_listed(hosts, nodes)) {
        return start.elapsed();
    }
    let seen: Vec<String> = hosts
        .iter()
        .zip(nodes)
        .map(|(h, n)| format!("{} lists {:?}", &n.id[..8], h.peers(n)))
        .collect();
    panic!(
        "not every node lists every other within {within:?}: {}",
        seen.join("; ")
    );
}

/// Makes `a` and `b` contacts (issue 21: contacts keep sessions, strangers are only
/// nearby): `a` sends `b` a message once `b` is listed, and both are online after it.
pub fn make_contacts(ha: &Host, a: &Node, hb: &Host, b: &Node) {
    let listed = || {
        ha.peers(a)
            .unwrap_or_default()
            .iter()
            .any(|p| p["id"] == b.id.as_str())
    };
    assert!(
        eventually(Duration::from_secs(10), listed),
        "b not listed by a"
    );
    let body = serde_json::json!({"to": b.id, "text": "hello, contact"});
    let sent = ha.api(a, "POST", "messages", Some(body));
    assert!(
        sent.as_ref().is_some_and(|(status, _)| *status == 201),
        "send refused: {sent:?}"
    );
    let both = || ha.online(a).contains(&b.id) && hb.online(b).contains(&a.id);
    assert!(
        eventually(Duration::from_secs(10), both),
        "a and b not online"
    );
}

pub fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// The node's stderr after it stopped (SIGTERM, bounded).
pub fn stop_and_log(mut node: Node) -> String {
    let status = node.stop_within(Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| s.success()),
        "clean exit: {status:?}"
    );
    let mut log = String::new();
    // The stderr reader thread writes the file once the pipe closes.
    eventually(Duration::from_secs(5), || {
        log = std::fs::read_to_string(node.log_path()).unwrap_or_default();
        !log.is_empty()
    });
    log
}

/// Discovery's warnings in a node's log, each with how often it was logged.
pub fn discovery_warnings(log: &str) -> Vec<(String, usize)> {
    let mut seen: Vec<(String, usize)> = Vec::new();
    for line in log.lines().filter(|l| l.contains("WARN")) {
        let Some((_, what)) = line.split_once("LAN discovery: ") else {
            continue;
        };
        match seen.iter_mut().find(|(w, _)| w == what) {
            Some((_, n)) => *n += 1,
            None => seen.push((what.to_string(), 1)),
        }
    }
    seen
}
