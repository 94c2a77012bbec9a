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
