//! Discovery benchmark: time from start until each of 4 nodes that find each other only
//! by LAN beacons (SPEC §4) lists the other 3, each node in its own network namespace.
//! Since issue 21 strangers are listed `nearby` from their beacons and get a session only
//! on demand, so "lists" means online or nearby (the baseline, by `--connect` and LIST,
//! has no beacons and still meshes: online).
//!
//! The namespaces are this program's own: a hub namespace holding a bridge, and four node
//! namespaces each joined to the bridge by a veth pair (10.88.0.1-4/24), all deleted at
//! the end (also on panic). Nodes with discovery on run only inside them (`ip netns exec`),
//! never in the machine's own namespace; this program talks to each node's API from a
//! thread that has entered that node's namespace.
//!
//! Prints "not measured" when the build has no discovery (no `src/discovery` module), when
//! network namespaces are unavailable (not root, no `ip`), or when no full mesh forms
//! within the bounded attempt.
//!
//! `cargo bench --bench discovery -- [--quick]` prints a Markdown section and `@summary`
//! lines for `scripts/bench.sh`.

mod support;

use std::os::fd::AsFd;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const NODES: usize = 4;
/// How long one attempt may take before we call discovery not working.
const ATTEMPT: Duration = Duration::from_secs(30);

/// Why namespaces cannot be used here, if they cannot.
fn netns_unavailable() -> Option<String> {
    if !rustix::process::geteuid().is_root() {
        return Some("not root".into());
    }
    match Command::new("ip").args(["netns", "list"]).output() {
        Ok(o) if o.status.success() => None,
        Ok(_) => Some("`ip netns` fails".into()),
        Err(_) => Some("no `ip` command".into()),
    }
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A namespace deleted on drop.
struct Ns(String);

impl Ns {
    fn new(name: String) -> Result<Ns, String> {
        ip(&["netns", "add", &name])?;
        let ns = Ns(name);
        ns.exec(&["ip", "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    fn exec(&self, cmd: &[&str]) -> Result<(), String> {
        let mut args = vec!["netns", "exec", &self.0];
        args.extend_from_slice(cmd);
        ip(&args)
    }

    /// Runs `f` on a thread inside this namespace.
    fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
        let path = format!("/run/netns/{}", self.0);
        std::thread::spawn(move || {
            let file = std::fs::File::open(&path).ok()?;
            rustix::thread::move_into_link_name_space(
                file.as_fd(),
                Some(rustix::thread::LinkNameSpaceType::Network),
            )
            .ok()?;
            Some(f())
        })
        .join()
        .ok()
        .flatten()
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

/// Four node namespaces on one bridge; the hub goes last so veths vanish with nodes.
struct Lan {
    nodes: Vec<Ns>,
    _hub: Ns,
}

fn lan(run: usize) -> Result<Lan, String> {
    let tag = format!("{}{run}", std::process::id() % 10_000);
    let hub = Ns::new(format!("purrb-hub-{tag}"))?;
    hub.exec(&["ip", "link", "add", "br0", "type", "bridge"])?;
    // Plain flooding of multicast: no IGMP snooping state to wait for.
    hub.exec(&[
        "ip",
        "link",
        "set",
        "br0",
        "type",
        "bridge",
        "mcast_snooping",
        "0",
    ])?;
    hub.exec(&["ip", "link", "set", "br0", "up"])?;
    let mut nodes = Vec::new();
    for i in 0..NODES {
        let ns = Ns::new(format!("purrb-n{i}-{tag}"))?;
        let (a, b) = (format!("pb{tag}n{i}"), format!("pb{tag}h{i}"));
        ip(&[
            "link", "add", &a, "netns", &ns.0, "type", "veth", "peer", "name", &b, "netns", &hub.0,
        ])?;
        ns.exec(&[
            "ip",
            "addr",
            "add",
            &format!("10.88.0.{}/24", i + 1),
            "dev",
            &a,
        ])?;
        ns.exec(&["ip", "link", "set", &a, "up"])?;
        hub.exec(&["ip", "link", "set", &b, "master", "br0"])?;
        hub.exec(&["ip", "link", "set", &b, "up"])?;
        nodes.push(ns);
    }
    Ok(Lan { nodes, _hub: hub })
}

/// How the nodes of an attempt find each other.
#[derive(Clone, Copy, PartialEq)]
enum Finding {
    /// LAN beacons only (the figure measured).
    Beacons,
    /// The baseline: `--no-discovery`, nodes 2–4 given node 1's address with `--connect`
    /// and meshing by LIST, in the same namespaces. Same starts, handshakes and LISTs,
    /// no beacons: what discovery adds is the difference.
    Connect,
}

/// One attempt: start 4 nodes and time the full mesh.
fn attempt(run: usize, finding: Finding) -> Result<Option<Duration>, String> {
    let lan = lan(run + if finding == Finding::Connect { 5 } else { 0 })?;
    let dirs: Vec<tempfile::TempDir> = (0..NODES)
        .map(|_| tempfile::tempdir().expect("tempdir"))
        .collect();
    let t0 = Instant::now();
    let mut nodes = Vec::new();
    for (i, (ns, dir)) in lan.nodes.iter().zip(&dirs).enumerate() {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &ns.0, &support::bin()])
            .args(["--port", "35035", "--beacon-interval", "1", "--data-dir"])
            .arg(dir.path());
        if finding == Finding::Connect {
            cmd.arg("--no-discovery");
            if i > 0 {
                cmd.args(["--connect", "10.88.0.1:35035"]);
            }
        }
        nodes.push(support::spawn(cmd, dir.path()));
    }
    let deadline = t0 + ATTEMPT;
    let mut meshed = [false; NODES];
    let counts = move |p: &serde_json::Value| match finding {
        Finding::Beacons => p["presence"] == "online" || p["presence"] == "nearby",
        Finding::Connect => p["online"] == true,
    };
    while Instant::now() < deadline && meshed.iter().any(|m| !m) {
        for (i, (ns, node)) in lan.nodes.iter().zip(&nodes).enumerate() {
            if meshed[i] {
                continue;
            }
            let token = node.token();
            let online = ns
                .run(move || {
                    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 35035));
                    support::api_get(addr, &token, "peers")
                        .and_then(|v| v.as_array().cloned())
                        .map(|a| a.iter().filter(|p| counts(p)).count())
                        .unwrap_or(0)
                })
                .unwrap_or(0);
            meshed[i] = online >= NODES - 1;
        }
        if meshed.iter().all(|m| *m) {
            return Ok(Some(t0.elapsed()));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(None)
}

fn not_measured(why: &str) {
    println!("### 6. Discovery\n");
    println!("not measured: {why}\n");
    println!("@summary | discovery: 4 nodes in namespaces until all list each other | not measured: {why} | — | n/a |");
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let runs = if quick { 1 } else { 3 };
    // `PURR_BENCH_BIN` may name a build from a branch that has discovery.
    let other_bin = std::env::var_os("PURR_BENCH_BIN").is_some();
    if !other_bin
        && !Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src/discovery")
            .is_dir()
    {
        return not_measured("discovery not in this build (no `src/discovery` module)");
    }
    if let Some(why) = netns_unavailable() {
        return not_measured(&format!("network namespaces unavailable ({why})"));
    }
    let mut times = Vec::new();
    let mut baseline = Vec::new();
    for run in 0..runs {
        match attempt(run, Finding::Connect) {
            Ok(Some(t)) => baseline.push(t),
            Ok(None) => {
                return not_measured(&format!(
                    "the baseline (--connect) formed no full mesh of {NODES} within {} s",
                    ATTEMPT.as_secs()
                ))
            }
            Err(e) => return not_measured(&format!("could not build the namespaces: {e}")),
        }
        match attempt(run, Finding::Beacons) {
            Ok(Some(t)) => times.push(t),
            Ok(None) => {
                return not_measured(&format!(
                "discovery not in this build or not working (not every one of {NODES} nodes listed the others within {} s)",
                ATTEMPT.as_secs()
            ))
            }
            Err(e) => return not_measured(&format!("could not build the namespaces: {e}")),
        }
    }
    let median = support::median_ms(times.clone());
    let base_median = support::median_ms(baseline.clone());
    println!("### 6. Discovery\n");
    println!(
        "Command: `cargo bench --bench discovery`. {NODES} nodes, each in its own network \
         namespace on one bridge, `--beacon-interval 1`, no `--connect`: time from starting \
         the first node until every node lists the other {} (online or nearby: strangers \
         are listed from their beacons and get a session on demand, issue 21; polled every \
         50 ms through each node's API), {runs} runs. Baseline in the same run and namespaces: \
         the same four nodes with `--no-discovery`, nodes 2–4 started with `--connect` to \
         node 1 and meshing through LIST (start-up, handshakes and peer lists without \
         beacons).\n",
        NODES - 1
    );
    let ms = |ts: &[Duration]| -> String {
        let list: Vec<String> = ts
            .iter()
            .map(|t| format!("{:.0}", t.as_secs_f64() * 1000.0))
            .collect();
        list.join(", ")
    };
    println!("| how nodes find each other | runs (ms) | median | ratio |");
    println!("|---|---|---|---|");
    println!(
        "| LAN beacons (discovery) | {} | **{median:.0} ms** | {:.2}× the baseline |",
        ms(&times),
        median / base_median.max(0.001)
    );
    println!(
        "| baseline: `--connect` to node 1, then LIST | {} | {base_median:.0} ms | 1 |",
        ms(&baseline)
    );
    println!(
        "\n@summary | discovery: {NODES} nodes in namespaces until all list each other (median of {runs}) | {median:.0} ms ({:.2}× the `--connect` baseline, {base_median:.0} ms) | — (no target) | measured |",
        median / base_median.max(0.001)
    );
    println!(
        "\n**What limits us.** Each node beacons as soon as it listens, so the nodes already \
         running list it at once; but it hears those only at their next beacon, up to one \
         `--beacon-interval` (1 s here) later. Strangers are not dialled (issue 21: listed \
         nearby, a session on demand), so no handshake or LIST is on this path: the figure \
         ({:.2}× the `--connect` baseline, which meshes by handshakes and LISTs) is \
         start-up plus at most one beacon interval.\n",
        median / base_median.max(0.001)
    );
}
