//! `purr doctor` and `GET /api/v1/diag` (issue 20: "Why can't I see my peer?"): a
//! `--connect` target that refuses is named with its reason, the JSON has its sections,
//! no running node is a FAIL (exit 1), a failing target is logged once at WARN and its
//! recovery once at INFO, and beacons filtered on one side of a LAN are a WARN naming
//! filtered multicast. The LAN test runs in namespaces it makes (root and `ip`).

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{eventually, free_port, pair, Node, BIN};

/// Runs `purr doctor --data-dir DIR ARGS` (in `netns`, if given): exit code, stdout,
/// how long it took.
fn doctor_in(netns: Option<&str>, dir: &Path, args: &[&str]) -> (i32, String, Duration) {
    let mut cmd = match netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, BIN]);
            c
        }
        None => Command::new(BIN),
    };
    cmd.arg("doctor").arg("--data-dir").arg(dir).args(args);
    let start = Instant::now();
    let out = cmd.output().expect("run purr doctor");
    let took = start.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.code().unwrap_or(-1), stdout, took)
}

fn doctor(dir: &Path, args: &[&str]) -> (i32, String, Duration) {
    doctor_in(None, dir, args)
}

fn attempts(node: &Node) -> usize {
    node.api("diag")["targets"][0]["attempts"]
        .as_array()
        .map_or(0, Vec::len)
}

#[test]
fn doctor_names_a_refused_connect_target_with_its_reason_and_exits_1() {
    let port = free_port(); // nothing listens there
    let target = format!("127.0.0.1:{port}");
    let a = Node::builder().arg("--connect").arg(&target).start();
    assert!(
        eventually(Duration::from_secs(10), || attempts(&a) > 0),
        "no dial attempt recorded"
    );
    let (code, out, took) = doctor(&a.data_dir, &[]);
    assert_eq!(code, 1, "a FAIL exits 1:\n{out}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    let line = out
        .lines()
        .find(|l| l.contains(&target))
        .unwrap_or_else(|| panic!("no line for {target}:\n{out}"));
    assert!(line.starts_with("FAIL"), "{line}");
    assert!(line.contains("connection refused"), "{line}");
    assert!(line.contains("nothing listens there"), "{line}");
    assert!(
        out.lines()
            .next()
            .is_some_and(|l| l.starts_with("OK    node: running")),
        "{out}"
    );
}

#[test]
fn diag_json_has_the_node_its_contacts_paths_targets_host_and_checks() {
    let (a, b) = pair();
    let d = a.api("diag");
    assert_eq!(d["node"]["running"], true);
    assert_eq!(d["node"]["port"], a.port);
    assert_eq!(d["node"]["id"], a.id.as_str());
    assert_eq!(d["node"]["discovery"], false);
    assert!(
        d["interfaces"].as_array().is_some_and(|i| !i.is_empty()),
        "{d}"
    );
    assert!(d["beacons"]["heard"].is_array(), "{d}");

    let target = &d["targets"][0];
    assert_eq!(target["target"], format!("127.0.0.1:{}", b.port));
    assert_eq!(target["online"], true);
    assert_eq!(target["owner"], b.id.as_str());
    assert_eq!(target["attempts"][0]["outcome"], "connected");

    let contacts = d["contacts"].as_array().expect("contacts");
    let bob = contacts
        .iter()
        .find(|c| c["id"] == b.id.as_str())
        .expect("B");
    assert_eq!(bob["online"], true);
    assert_eq!(bob["path"], format!("127.0.0.1:{}", b.port));
    assert!(
        bob["addrs"]
            .as_array()
            .is_some_and(|a| a.iter().any(|a| a["source"] == "connect")),
        "{bob}"
    );
    // B was dialled: A is an incoming peer there, at its HAND port.
    let db = b.api("diag");
    let alice = &db["contacts"][0];
    assert_eq!(alice["id"], a.id.as_str());
    assert_eq!(alice["addrs"][0]["source"], "incoming");
    assert_eq!(alice["addrs"][0]["addr"], format!("127.0.0.1:{}", a.port));

    assert_eq!(d["host"]["writable"], true);
    assert!(d["host"]["db_bytes"].as_u64().is_some_and(|n| n > 0), "{d}");
    assert_eq!(d["host"]["outbox"], 0);
    let checks = d["checks"].as_array().expect("checks");
    assert!(checks
        .iter()
        .all(|c| ["OK", "WARN", "FAIL"].contains(&c["verdict"].as_str().unwrap_or_default())));
    assert!(checks
        .iter()
        .any(|c| c["area"] == "contact" && c["verdict"] == "OK"));

    // `purr doctor --json` prints the same report; all is well: exit 0.
    let (code, out, _) = doctor(&a.data_dir, &["--json"]);
    assert_eq!(code, 0, "{out}");
    let v: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v["node"]["id"], a.id.as_str());
    let (code, out, _) = doctor(&a.data_dir, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("FAIL "), "{out}");
}

#[test]
fn doctor_without_a_node_fails_says_so_and_still_checks_the_data_dir() {
    let tmp = tempfile::tempdir().expect("temp dir");
    // A data dir that never had a node.
    let (code, out, took) = doctor(tmp.path(), &[]);
    assert_eq!(code, 1, "{out}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    let first = out.lines().next().unwrap_or_default();
    assert!(first.starts_with("FAIL  node"), "{out}");
    assert!(first.contains("no node runs on this data dir"), "{out}");
    assert!(first.contains("start it: purr --data-dir"), "{out}");
    assert!(out.contains("is writable"), "{out}");
    assert!(out.contains("free on its disk"), "{out}");

    // The data dir of a node that stopped: its database is measured too.
    let mut a = Node::start();
    let dir = a.data_dir.clone();
    assert!(a.stop_within(Duration::from_secs(10)).is_some());
    let (code, out, _) = doctor(&dir, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("no node runs on this data dir"), "{out}");
    assert!(out.contains("purr.db "), "{out}");

    // No data dir at all.
    let (code, out, _) = doctor(&tmp.path().join("nowhere"), &["--json"]);
    assert_eq!(code, 1, "{out}");
    let v: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v["node"]["running"], false);
    assert_eq!(v["host"]["exists"], false);
}

#[test]
fn a_failing_connect_target_is_warned_once_and_its_recovery_said_once() {
    let port = free_port();
    let target = format!("127.0.0.1:{port}");
    let tmp = tempfile::tempdir().expect("temp dir");
    let log_path = tmp.path().join("a.log");
    let a = Node::builder()
        .arg("--connect")
        .arg(&target)
        .stderr_log(&log_path)
        .start();
    // Retries at about 0, 2 and 6 s.
    assert!(
        eventually(Duration::from_secs(12), || attempts(&a) >= 3),
        "fewer than 3 attempts"
    );
    let b = Node::builder().port(port).start();
    assert!(
        eventually(Duration::from_secs(20), || a.sees_online(&b.id)),
        "A never reached B"
    );
    let log = std::fs::read_to_string(&log_path).expect("log");
    let warned: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(" WARN ") && l.contains(&format!("cannot reach {target}")))
        .collect();
    assert_eq!(warned.len(), 1, "{log}");
    assert!(warned[0].contains("connection refused"), "{}", warned[0]);
    let recovered = log
        .lines()
        .filter(|l| l.contains(" INFO ") && l.contains(&format!("{target} is reachable again")))
        .count();
    assert_eq!(recovered, 1, "{log}");
}

#[test]
fn beacons_filtered_on_one_side_are_a_warning_about_multicast() {
    require_netns!();
    let lan = support::lan::Lan::builder(2).ipv4_only().build();
    lan.drop_multicast_to(1);
    let (h0, h1) = (&lan.hosts[0], &lan.hosts[1]);
    let a = h0.node().start();
    let b = h1.node().start();
    // B sends a beacon a second and hears none; A hears B's.
    let mut last = String::new();
    let warned = eventually(Duration::from_secs(15), || {
        let (code, out, took) = doctor_in(Some(&h1.ns.name), &b.data_dir, &[]);
        assert!(took < Duration::from_secs(5), "took {took:?}");
        assert!(code == 0 || code == 1, "{code}: {out}");
        last = out;
        last.contains("heard no beacons")
    });
    assert!(warned, "no warning:\n{last}");
    let line = last
        .lines()
        .find(|l| l.contains("heard no beacons"))
        .unwrap_or_default();
    assert!(line.starts_with("WARN  beacons"), "{line}");
    assert!(line.contains("multicast is filtered"), "{line}");
    let (_, out, _) = doctor_in(Some(&h0.ns.name), &a.data_dir, &[]);
    let heard = out
        .lines()
        .find(|l| l.contains("beacons heard"))
        .unwrap_or_default();
    assert!(
        heard.starts_with("OK") && heard.contains("from 1 node"),
        "{out}"
    );
    assert!(
        out.contains(&format!("{}: ethernet (10.88.0.1)", h0.ifname)),
        "{out}"
    );
}
