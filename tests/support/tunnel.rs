//! Two hosts on a LAN and a tunnel between them (issue 20, point 3): the set-up of
//! tests/addr_announce.rs and of the reconnect rows of benches/discovery.rs, shared so
//! that the test and the benchmark time the same thing.
//!
//! ```text
//!        ┌────── bridge ns: the LAN 10.88.0.0/24 ──────┐
//!        └──── ph… (A) 10.88.0.1 ───── ph… (B) 10.88.0.2 ┘   beacons, first session
//!   A ══ wg…a 10.99.0.1/24 ════ a routed tunnel ════ wg…b 10.99.0.2/24 ══ B
//!        (a veth pair named like WireGuard, multicast off: no beacon crosses it)
//! ```
//!
//! B connects to A over the LAN (`--connect`, which makes A B's contact: it keeps a
//! session and redials) and learns A's tunnel address only from A's `ADDR`.

use std::time::Duration;

use serde_json::Value;

use super::lan::{Host, Lan};
use super::netns::{ip, tag};
use super::{eventually, Node};

/// The LAN of two hosts, the tunnel's interface names, and the two nodes, B connected
/// to A over the LAN and knowing A's announced tunnel address.
pub struct Tunnelled {
    /// A (host 0) and B (host 1); dropped after the nodes (field order).
    pub a: Node,
    pub b: Node,
    /// A's and B's ends of the tunnel.
    pub wa: String,
    pub wb: String,
    pub lan: Lan,
}

impl Tunnelled {
    pub fn ha(&self) -> &Host {
        &self.lan.hosts[0]
    }

    pub fn hb(&self) -> &Host {
        &self.lan.hosts[1]
    }

    /// A's tunnel address with its port.
    pub fn a_vpn(&self) -> String {
        format!("10.99.0.1:{}", self.a.port)
    }

    /// The path B lists A online by once the LAN is gone.
    pub fn b_tunnel_path(&self) -> String {
        format!("VPN {} 10.99.0.1", self.wb)
    }

    /// The path A lists B online by once the LAN is gone.
    pub fn a_tunnel_path(&self) -> String {
        format!("VPN {} 10.99.0.2", self.wa)
    }

    /// Takes B's LAN interface down.
    pub fn lan_down(&self) {
        self.lan.set_up(1, false);
    }
}

/// Builds the LAN and the tunnel, starts A then B (`--connect` to A's LAN address), and
/// waits (10 s each, else panics) until B lists A over the LAN and knows A's tunnel
/// address as announced.
pub fn set_up() -> Tunnelled {
    let lan = Lan::builder(2).ipv4_only().build();
    let (ha, hb) = (&lan.hosts[0], &lan.hosts[1]);
    // The tunnel: a second link between the two hosts on another subnet, named like a
    // WireGuard interface (so both ends call it VPN), without multicast like one.
    let t = tag();
    let (wa, wb) = (format!("wg{t}a"), format!("wg{t}b"));
    ip(&[
        "link",
        "add",
        &wa,
        "netns",
        &ha.ns.name,
        "type",
        "veth",
        "peer",
        "name",
        &wb,
        "netns",
        &hb.ns.name,
    ]);
    for (host, dev, cidr) in [(ha, &wa, "10.99.0.1/24"), (hb, &wb, "10.99.0.2/24")] {
        host.ns.exec(&["ip", "addr", "add", cidr, "dev", dev]);
        host.ns
            .exec(&["ip", "link", "set", "dev", dev, "multicast", "off", "up"]);
    }

    let a = ha.node().start();
    let a_lan = format!("10.88.0.1:{}", a.port);
    let b = hb.node().arg("--connect").arg(&a_lan).start();
    let t = Tunnelled { a, b, wa, wb, lan };
    let (hb, a, b) = (t.hb(), &t.a, &t.b);
    assert!(
        eventually(Duration::from_secs(10), || {
            path_of(hb, b, &a.id) == "LAN 10.88.0.1"
        }),
        "B did not reach A over the LAN: {}",
        path_of(hb, b, &a.id)
    );
    // B learns A's tunnel address from A's announcement.
    let a_vpn = t.a_vpn();
    let announced = || {
        diag_contact(hb, b, &a.id)["addrs"]
            .as_array()
            .is_some_and(|v| {
                v.iter()
                    .any(|x| x["addr"] == a_vpn.as_str() && x["source"] == "announced")
            })
    };
    assert!(
        eventually(Duration::from_secs(10), announced),
        "A's tunnel address never reached B: {}",
        diag_contact(hb, b, &a.id)
    );
    t
}

/// The contact entry for `id` in `node`'s `GET /api/v1/diag` (run in `host`).
pub fn diag_contact(host: &Host, node: &Node, id: &str) -> Value {
    host.api(node, "GET", "diag", None)
        .and_then(|(_, v)| {
            v["contacts"]
                .as_array()
                .and_then(|cs| cs.iter().find(|c| c["id"] == id).cloned())
        })
        .unwrap_or(Value::Null)
}

/// `path` of `id` as `node` lists it (`Null` when offline or unknown).
pub fn path_of(host: &Host, node: &Node, id: &str) -> Value {
    host.peers(node)
        .unwrap_or_default()
        .into_iter()
        .find(|p| p["id"] == id && p["online"] == true)
        .map_or(Value::Null, |p| p["path"].clone())
}
