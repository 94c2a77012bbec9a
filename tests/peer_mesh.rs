//! Real nodes on loopback meeting each other: LIST builds a mesh, simultaneous dials end
//! with one connection, a restarted peer is found again, names propagate.

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::{eventually, free_port, Node};

fn connect_arg(node: &Node) -> String {
    format!("127.0.0.1:{}", node.port)
}

#[test]
fn list_exchange_builds_a_full_mesh_of_three() {
    let c = Node::start();
    let b = Node::builder()
        .arg("--connect")
        .arg(connect_arg(&c))
        .start();
    let start = Instant::now();
    let a = Node::builder()
        .arg("--connect")
        .arg(connect_arg(&b))
        .start();
    let nodes = [&a, &b, &c];
    let meshed = eventually(Duration::from_secs(5), || {
        nodes.iter().all(|n| {
            nodes
                .iter()
                .filter(|o| o.id != n.id)
                .all(|o| n.sees_online(&o.id))
        })
    });
    assert!(meshed, "no full mesh within 5 s");
    eprintln!("3-node mesh formed in {:?}", start.elapsed());
    // Exactly one connection per pair: each node holds two.
    assert!(eventually(Duration::from_secs(3), || nodes
        .iter()
        .all(|n| n.established() == 2)));
}

#[test]
fn rename_reaches_the_other_nodes() {
    let c = Node::start();
    let b = Node::builder()
        .arg("--connect")
        .arg(connect_arg(&c))
        .start();
    let a = Node::builder()
        .arg("--connect")
        .arg(connect_arg(&b))
        .start();
    assert!(eventually(Duration::from_secs(5), || a.sees_online(&c.id)
        && b.sees_online(&c.id)));
    let mut ws = c.ws();
    ws.send(json!({"cmd": "rename", "name": "carol the builder"}));
    ws.recv_cmd("me");
    for n in [&a, &b] {
        assert!(eventually(Duration::from_secs(3), || n.peers().iter().any(
            |p| p["id"] == c.id.as_str() && p["name"] == "carol the builder"
        )));
    }
}

#[test]
fn simultaneous_mutual_dials_end_with_one_connection_20_times() {
    for round in 0..20 {
        let (pa, pb) = (free_port(), free_port());
        let a = Node::builder()
            .port(pa)
            .arg("--connect")
            .arg(format!("127.0.0.1:{pb}"));
        let b = Node::builder()
            .port(pb)
            .arg("--connect")
            .arg(format!("127.0.0.1:{pa}"));
        let (a, b) = std::thread::scope(|s| {
            let ta = s.spawn(|| a.start());
            let tb = s.spawn(|| b.start());
            (ta.join().unwrap(), tb.join().unwrap())
        });
        let settled = eventually(Duration::from_secs(10), || {
            a.sees_online(&b.id)
                && b.sees_online(&a.id)
                && a.established() == 1
                && b.established() == 1
        });
        assert!(
            settled,
            "round {round}: a sees b {} (conns {}), b sees a {} (conns {})",
            a.sees_online(&b.id),
            a.established(),
            b.sees_online(&a.id),
            b.established()
        );
    }
}

#[test]
fn a_killed_peer_goes_offline_and_is_redialled_when_it_returns() {
    let b_port = free_port();
    let keep = tempfile::tempdir().unwrap();
    let b_dir = keep.path().join("b");
    let b = Node::builder().port(b_port).data_dir(&b_dir).start();
    let b_id = b.id.clone();
    // a dials b once by hand (through the UI), not as a configured address.
    let a = Node::start();
    let mut ws = a.ws();
    ws.send(json!({"cmd": "connect", "addr": format!("127.0.0.1:{b_port}")}));
    let peer = ws.recv_cmd("peer");
    assert_eq!(peer["peer"]["id"], b_id.as_str());
    assert!(eventually(Duration::from_secs(3), || a.sees_online(&b_id)));

    b.signal(rustix::process::Signal::KILL);
    drop(b);
    let offline = (0..200).find_map(|_| {
        let v = ws.recv();
        (v["cmd"] == "peer" && v["peer"]["online"] == false).then_some(v)
    });
    assert!(offline.is_some(), "a's UI was told b is offline");

    let _b2 = Node::builder().port(b_port).data_dir(&b_dir).start();
    let back = eventually(Duration::from_secs(10), || a.sees_online(&b_id));
    if !back {
        let mut a = a;
        a.stop_within(Duration::from_secs(3));
        std::thread::sleep(Duration::from_millis(200));
        let log = std::fs::read_to_string(a.log_path()).unwrap_or_default();
        panic!("a did not redial b by itself; a's log:\n{log}");
    }
}

#[test]
fn connect_to_nothing_reports_an_error_to_that_ui() {
    let a = Node::start();
    let mut ws = a.ws();
    ws.send(json!({"cmd": "connect", "addr": format!("127.0.0.1:{}", free_port())}));
    let e = ws.recv_cmd("error");
    assert_eq!(e["request"], "connect");
    ws.send(json!({"cmd": "connect", "addr": "nonsense"}));
    assert_eq!(ws.recv_cmd("error")["request"], "connect");
    ws.send(json!({"cmd": "connect", "addr": format!("127.0.0.1:{}", a.port)}));
    let e = ws.recv_cmd("error");
    assert!(e["error"].as_str().unwrap().contains("itself"), "{e}");
}
