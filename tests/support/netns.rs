//! Private networks for tests: network namespaces joined by veth pairs, created by the
//! test and deleted on drop (also when the test fails). Nothing here touches the
//! machine's own interfaces. Needs root and `ip` (iproute2); tests skip otherwise.

use std::os::fd::AsFd;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// Why netns tests cannot run here, if they cannot: not root, no `ip`, or root without
/// CAP_NET_ADMIN (a container), found by creating and deleting one namespace. Asked
/// once per test process.
pub fn unavailable() -> Option<String> {
    static WHY: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    WHY.get_or_init(probe).clone()
}

fn probe() -> Option<String> {
    if !rustix::process::geteuid().is_root() {
        return Some("not root".into());
    }
    let name = format!("purr-probe-{}-0", std::process::id()); // the sweep's pattern
    match Command::new("ip").args(["netns", "add", &name]).output() {
        Ok(o) if o.status.success() => {
            let _ = Command::new("ip").args(["netns", "del", &name]).output();
            None
        }
        Ok(o) => Some(format!(
            "`ip netns add` fails (no CAP_NET_ADMIN?): {}",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => Some(format!("no `ip` command: {e}")),
    }
}

/// Skips the calling test (returns from it) with a clear message when netns is unavailable.
#[macro_export]
macro_rules! require_netns {
    () => {
        if let Some(why) = support::netns::unavailable() {
            eprintln!("SKIP: this test needs network namespaces ({why})");
            return;
        }
    };
}

/// Runs `ip` with these arguments; panics if it fails.
pub fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A short unique tag for names (interface names are limited to 15 characters).
pub fn tag() -> String {
    format!(
        "{}{}",
        std::process::id() % 100_000,
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A network namespace, deleted on drop.
pub struct Netns {
    pub name: String,
}

/// Deletes the namespaces of test processes that are gone. A test that fails while one
/// of its threads still holds a namespace (an `Arc<Netns>` moved into it), or a test run
/// that is killed, never runs that `Drop`; the name carries the creating pid, so the
/// next run can tell such a namespace from one a concurrent run still uses.
pub fn sweep_stale() {
    let Ok(dir) = std::fs::read_dir("/run/netns") else {
        return;
    };
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix("purr-") else {
            continue;
        };
        // purr-<label>-<pid>-<n>
        let mut fields = rest.rsplit('-');
        let (Some(_n), Some(pid)) = (fields.next(), fields.next()) else {
            continue;
        };
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            eprintln!("deleting network namespace {name}: its test process {pid} is gone");
            let _ = Command::new("ip").args(["netns", "del", &name]).output();
        }
    }
}

impl Netns {
    /// A new namespace with its loopback up.
    pub fn new(label: &str) -> Netns {
        static SWEEP: std::sync::Once = std::sync::Once::new();
        SWEEP.call_once(sweep_stale);
        let name = format!(
            "purr-{label}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        ip(&["netns", "add", &name]);
        let ns = Netns { name };
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    /// Runs a command inside the namespace; panics if it fails.
    pub fn exec(&self, cmd: &[&str]) {
        let mut args = vec!["netns", "exec", &self.name];
        args.extend_from_slice(cmd);
        ip(&args);
    }

    /// Runs `f` on a thread that has entered this namespace; sockets it opens live here.
    pub fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        self.spawn(f).join().expect("netns thread")
    }

    /// Like [`Netns::run`], without waiting: the thread runs `f` inside the namespace.
    pub fn spawn<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> std::thread::JoinHandle<T> {
        let path = format!("/run/netns/{}", self.name);
        std::thread::spawn(move || {
            let file = std::fs::File::open(&path).expect("open netns");
            rustix::thread::move_into_link_name_space(
                file.as_fd(),
                Some(rustix::thread::LinkNameSpaceType::Network),
            )
            .expect("setns");
            f()
        })
    }

    /// Runs a shell command inside the namespace (for `/proc/sys/net` writes, which
    /// apply to the namespace of the writer); panics if it fails.
    pub fn sh(&self, script: &str) {
        self.exec(&["sh", "-c", script]);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        match Command::new("ip")
            .args(["netns", "del", &self.name])
            .output()
        {
            Ok(o) if o.status.success() => {}
            Ok(o) => eprintln!(
                "ip netns del {}: {}",
                self.name,
                String::from_utf8_lossy(&o.stderr).trim()
            ),
            Err(e) => eprintln!("ip netns del {}: {e}", self.name),
        }
    }
}

/// Joins two namespaces with a veth pair and gives each end an address (CIDR form).
/// The pair disappears with either namespace.
pub fn link(a: &Netns, a_cidr: &str, b: &Netns, b_cidr: &str) {
    let t = tag();
    let (ea, eb) = (format!("pva{t}"), format!("pvb{t}"));
    ip(&[
        "link", "add", &ea, "netns", &a.name, "type", "veth", "peer", "name", &eb, "netns", &b.name,
    ]);
    a.exec(&["ip", "addr", "add", a_cidr, "dev", &ea]);
    b.exec(&["ip", "addr", "add", b_cidr, "dev", &eb]);
    a.exec(&["ip", "link", "set", &ea, "up"]);
    b.exec(&["ip", "link", "set", &eb, "up"]);
}

/// Room in the kernel's neighbour tables (ARP for IPv4, NDP for IPv6) for a LAN of
/// many namespaces, given back on drop.
///
/// The tables are one per address family for the whole machine, shared by every
/// namespace, and sized by `net.ipv{4,6}.neigh.default.gc_thresh1/2/3` (only visible in
/// the machine's own namespace). At the kernel's defaults (`gc_thresh3` = 1024 entries)
/// a bridge of more than ~16 namespaces that all talk to each other overflows them:
/// new entries are refused ("neighbour table overflow" in the kernel log) and that looks
/// like connection time-outs. [`NeighTables::raise`] lifts the three thresholds of both
/// families to at least the given sizes and puts back the values it found on drop (also
/// when the caller panics). It only ever raises: a value already higher is left alone.
pub struct NeighTables {
    /// (sysctl file, value found), for every value this guard changed.
    saved: Vec<(String, String)>,
}

impl NeighTables {
    /// The sysctl files, IPv4 then IPv6, thresholds 1, 2, 3.
    fn files() -> Vec<String> {
        let mut v = Vec::new();
        for family in ["ipv4", "ipv6"] {
            for t in 1..=3 {
                v.push(format!("/proc/sys/net/{family}/neigh/default/gc_thresh{t}"));
            }
        }
        v
    }

    /// The current values, `[v4 t1, t2, t3, v6 t1, t2, t3]` (0 where unreadable).
    pub fn current() -> Vec<u64> {
        Self::files()
            .iter()
            .map(|f| {
                std::fs::read_to_string(f)
                    .ok()
                    .and_then(|s| s.trim().parse().ok())
                    .unwrap_or(0)
            })
            .collect()
    }

    /// Raises gc_thresh1/2/3 of both families to at least `thresh` (1, 2, 3).
    pub fn raise(thresh: [u64; 3]) -> Result<NeighTables, String> {
        let mut guard = NeighTables { saved: Vec::new() };
        for (i, file) in Self::files().into_iter().enumerate() {
            let old = std::fs::read_to_string(&file).map_err(|e| format!("{file}: {e}"))?;
            let want = thresh[i % 3];
            if old.trim().parse::<u64>().is_ok_and(|v| v >= want) {
                continue;
            }
            // On error `guard` is dropped here and restores what was already changed.
            std::fs::write(&file, want.to_string()).map_err(|e| format!("{file}: {e}"))?;
            guard.saved.push((file, old.trim().to_string()));
        }
        Ok(guard)
    }
}

impl Drop for NeighTables {
    fn drop(&mut self) {
        // Highest threshold first on the way down, as thresh1 ≤ thresh2 ≤ thresh3.
        for (file, old) in self.saved.iter().rev() {
            if let Err(e) = std::fs::write(file, old) {
                eprintln!("restoring {file} to {old}: {e}");
            }
        }
    }
}
