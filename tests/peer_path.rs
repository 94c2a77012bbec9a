//! Path on every peer (issue 20, point 6): how each online peer is reached is in the
//! Peer JSON (`path`), in `purr peers`, and in the diag's contacts (`route`). Two nodes
//! on loopback reach each other by "loopback 127.0.0.1"; a peer that goes offline has
//! no path. In two namespaces the test makes, joined by a veth pair named like a
//! WireGuard interface on one side and an Ethernet one on the other, each side names
//! the path by its own end's interface: "VPN wg… 10.78.0.1" and "LAN 10.78.0.2".

mod support;

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use support::netns::{ip, tag, Netns};
use support::{eventually, pair, Node, BIN};

fn path_of(node: &support::Node, id: &str) -> serde_json::Value {
    node.peers()
        .into_iter()
        .find(|p| p["id"] == id)
        .map_or(serde_json::Value::Null, |p| p["path"].clone())
}

#[test]
fn two_nodes_on_loopback_show_the_loopback_path_everywhere() {
    let (a, b) = pair();
    // Both sides: A dialled B, B accepted A.
    assert_eq!(path_of(&a, &b.id), "loopback 127.0.0.1");
    assert_eq!(path_of(&b, &a.id), "loopback 127.0.0.1");

    let out = Command::new(BIN)
        .arg("peers")
        .arg("--data-dir")
        .arg(&a.data_dir)
        .output()
        .expect("run purr peers");
    assert!(out.status.success());
    let listed = String::from_utf8_lossy(&out.stdout);
    let line = listed
        .lines()
        .find(|l| l.starts_with(&b.id))
        .unwrap_or_else(|| panic!("no line for B:\n{listed}"));
    assert!(line.contains("online   loopback 127.0.0.1"), "{line}");

    let diag = a.api("diag");
    let bob = diag["contacts"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["id"] == b.id.as_str()).cloned())
        .expect("B in the diag");
    assert_eq!(bob["route"], "loopback 127.0.0.1");

    let b_id = b.id.clone();
    drop(b);
    assert!(
        eventually(Duration::from_secs(10), || path_of(&a, &b_id).is_null()),
        "an offline peer keeps a path: {}",
        path_of(&a, &b_id)
    );
}

/// `path` of the peer `id` as `node` (in `ns`) lists it; `Null` when absent or offline.
fn path_in(ns: &Netns, node: &Node, id: &str) -> serde_json::Value {
    let (port, token, id) = (node.port, node.token(), id.to_string());
    ns.run(move || {
        let r = support::get(
            SocketAddr::from(([127, 0, 0, 1], port)),
            "/api/v1/peers",
            &format!("Authorization: Bearer {token}\r\n"),
        );
        let peers: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
        peers
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["id"] == id.as_str()).cloned())
            .map_or(serde_json::Value::Null, |p| p["path"].clone())
    })
}

#[test]
fn each_side_names_the_path_by_its_own_interface_vpn_or_lan() {
    require_netns!();
    let (lan_ns, vpn_ns) = (Netns::new("path-lan"), Netns::new("path-vpn"));
    let t = tag();
    // `eth…` on one side (an Ethernet name), `wg…` on the other (a WireGuard name).
    let (eth, wg) = (format!("eth{t}"), format!("wg{t}"));
    ip(&[
        "link",
        "add",
        &eth,
        "netns",
        &lan_ns.name,
        "type",
        "veth",
        "peer",
        "name",
        &wg,
        "netns",
        &vpn_ns.name,
    ]);
    lan_ns.exec(&["ip", "addr", "add", "10.78.0.2/24", "dev", &eth]);
    vpn_ns.exec(&["ip", "addr", "add", "10.78.0.1/24", "dev", &wg]);
    lan_ns.exec(&["ip", "link", "set", &eth, "up"]);
    vpn_ns.exec(&["ip", "link", "set", &wg, "up"]);

    let b = Node::builder().netns(&vpn_ns.name).start();
    let a = Node::builder()
        .netns(&lan_ns.name)
        .arg("--connect")
        .arg(format!("10.78.0.1:{}", b.port))
        .start();
    let vpn_path = format!("VPN {wg} 10.78.0.2");
    assert!(
        eventually(Duration::from_secs(10), || {
            path_in(&lan_ns, &a, &b.id) == "LAN 10.78.0.1"
                && path_in(&vpn_ns, &b, &a.id) == vpn_path.as_str()
        }),
        "A names its path to B {}, B its path to A {} (wanted \"LAN 10.78.0.1\", {vpn_path:?})",
        path_in(&lan_ns, &a, &b.id),
        path_in(&vpn_ns, &b, &a.id)
    );
    drop((a, b));
}
