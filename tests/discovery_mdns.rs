//! DNS-SD without a second responder (issue 20.5), with Debian's real `avahi-daemon`:
//! it runs in one namespace of a private LAN and publishes the service file `purr
//! avahi-service` printed for a node there; a node in the other namespace finds it by a
//! one-shot mDNS query from an ephemeral port (it is listed nearby, issue 21) and its
//! first message connects them, with no beacon to go by.
//!
//! ```text
//!   h0: avahi-daemon (its own config: no D-Bus, only h0's interface; the service file
//!       bind-mounted over /etc/avahi/services in a private mount namespace)
//!       purr X --no-discovery: sends no beacon and hears none
//!   h1: purr Y, discovery on ── query _purr._tcp.local PTR ──▶ 224.0.0.251:5353
//!                           ◀── answer (unicast to Y's port) ── avahi ── Y dials X
//! ```
//!
//! Needs root, `ip`, `unshare` and avahi-daemon (`apt-get install avahi-daemon`;
//! scripts/check-prereqs.sh installs it); skips, saying why, otherwise. Avahi runs with
//! `--no-drop-root --no-chroot`, `enable-dbus=no` and its pid file in a private /run, so
//! it needs no system bus and never meets a system-wide avahi.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::eventually;
use support::lan::{make_contacts, Host, Lan};
use support::{Node, BIN};

const AVAHI: &str = "/usr/sbin/avahi-daemon";

/// An avahi-daemon in a namespace, killed (by its pid) on drop.
struct Avahi {
    child: Child,
    log: PathBuf,
}

impl Avahi {
    /// Starts avahi in `host`'s namespace publishing `service` (a file's text) on the
    /// host's LAN interface; waits (bounded) until it says the service is established.
    fn start(host: &Host, dir: &Path, service: &str) -> Avahi {
        let services = dir.join("services");
        let run = dir.join("run");
        std::fs::create_dir_all(&services).expect("services dir");
        std::fs::create_dir_all(&run).expect("run dir");
        std::fs::write(services.join("purr.service"), service).expect("service file");
        let conf = dir.join("avahi-daemon.conf");
        std::fs::write(
            &conf,
            format!(
                "[server]\nhost-name=purrtest\nuse-ipv4=yes\nuse-ipv6=no\n\
                 allow-interfaces={}\nenable-dbus=no\n\
                 [wide-area]\nenable-wide-area=no\n\
                 [publish]\npublish-hinfo=no\npublish-workstation=no\n",
                host.ifname
            ),
        )
        .expect("avahi config");
        let log = dir.join("avahi.log");
        let out = std::fs::File::create(&log).expect("avahi log");
        // A private mount namespace: our service dir over the system's, a private /run
        // for its pid file and socket. `exec` keeps the pid we kill.
        let script = format!(
            "mount --bind '{}' /etc/avahi/services && mount --bind '{}' /run && \
             exec {AVAHI} -f '{}' --no-drop-root --no-chroot --no-rlimits --debug",
            services.display(),
            run.display(),
            conf.display()
        );
        let child = Command::new("ip")
            .args(["netns", "exec", &host.ns.name])
            .args(["unshare", "--mount", "--propagation", "private", "sh", "-c"])
            .arg(script)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log fd"))
            .stderr(out)
            .spawn()
            .expect("start avahi-daemon");
        let avahi = Avahi { child, log };
        let up = eventually(Duration::from_secs(15), || {
            avahi.log_text().contains("successfully established")
        });
        assert!(
            up,
            "avahi did not publish the service: {}",
            avahi.log_text()
        );
        avahi
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Avahi {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Why this test cannot run here, if it cannot.
fn no_avahi() -> Option<String> {
    if !Path::new(AVAHI).exists() {
        return Some(format!(
            "{AVAHI} is not installed (apt-get install avahi-daemon)"
        ));
    }
    let unshare = Command::new("unshare").arg("--version").output();
    if !unshare.is_ok_and(|o| o.status.success()) {
        return Some("no unshare (util-linux)".into());
    }
    None
}

/// `purr avahi-service` for `node` (its data dir and port), as a user would run it.
fn service_file(node: &Node) -> String {
    let out = Command::new(BIN)
        .arg("--data-dir")
        .arg(&node.data_dir)
        .args(["--port", &node.port.to_string(), "avahi-service"])
        .output()
        .expect("run purr avahi-service");
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("/etc/avahi/services/purr.service"),
        "{stderr}"
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn a_node_published_by_avahi_is_found_by_mdns_and_connected() {
    require_netns!();
    if let Some(why) = no_avahi() {
        eprintln!("SKIP: this test needs avahi-daemon ({why})");
        return;
    }
    let lan = Lan::builder(2).ipv4_only().build();
    let (h0, h1) = (&lan.hosts[0], &lan.hosts[1]);
    // X: no discovery at all, so nothing but mDNS can name it to Y.
    let x = Node::builder().netns(&h0.ns.name).start();
    let service = service_file(&x);
    assert!(service.contains("<type>_purr._tcp</type>"), "{service}");
    assert!(
        service.contains(&format!("<port>{}</port>", x.port)),
        "{service}"
    );
    assert!(service.contains(&format!("<txt-record>id={}</txt-record>", x.id)));

    let lists = |node: &Node| {
        h1.peers(node)
            .unwrap_or_default()
            .iter()
            .any(|p| p["id"] == x.id.as_str() && p["presence"] == "nearby")
    };
    // Without avahi, Y (discovery on) does not find X.
    let y = h1.node().start();
    let found = eventually(Duration::from_secs(4), || lists(&y));
    assert!(!found, "Y found X without mDNS");
    drop(y);

    let dir = tempfile::tempdir().expect("tempdir");
    let _avahi = Avahi::start(h0, dir.path(), &service);
    let start = Instant::now();
    let y = h1.node().start();
    let listed = eventually(Duration::from_secs(10), || lists(&y));
    let took = start.elapsed();
    assert!(listed, "Y did not list X within 10 s of its start");
    eprintln!("mDNS (avahi-daemon): start to X listed nearby in {took:?}");
    // Y's first message opens a session to the address the answer gave.
    make_contacts(h1, &y, h0, &x);
    eprintln!(
        "mDNS (avahi-daemon): start to connected (a message sent once listed) in {:?}",
        start.elapsed()
    );

    // Y learned X's address from mDNS, and purr doctor says so.
    let (_, d) = h1.api(&y, "GET", "diag", None).expect("diag");
    let sources: Vec<&str> = d["contacts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["id"] == x.id.as_str())
        .flat_map(|c| c["addrs"].as_array().into_iter().flatten())
        .filter_map(|a| a["source"].as_str())
        .collect();
    assert!(sources.contains(&"mdns"), "sources {sources:?}: {d}");
    // Discovery's counters reach the state with its next beacon (every second here).
    let mut d = d;
    let counted = eventually(Duration::from_secs(5), || {
        d = h1
            .api(&y, "GET", "diag", None)
            .map(|r| r.1)
            .unwrap_or(Value::Null);
        d["beacons"]["mdns"]["found"].as_u64() >= Some(1)
    });
    let m = &d["beacons"]["mdns"];
    assert!(counted, "{m}");
    assert!(m["queries"].as_u64() >= Some(1), "{m}");
    let check = d["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["area"] == "mdns").cloned())
        .unwrap_or(Value::Null);
    assert_eq!(check["verdict"], "OK", "{check}");
}
