//! The data dir as `purr doctor` sees it: there, writable, the free space of its disk,
//! the size of `purr.db` and its WAL. Read-only: nothing is created (a client must not
//! create anything in a data dir, so writability is asked of `access(2)`, which also
//! answers `EROFS` for a read-only mount). And a firewall hint: what the configuration
//! files of ufw, firewalld and nftables say about our port, where a user can read them
//! (the kernel's live rules need root and netlink: not asked).

use std::path::Path;

use rustix::fs::Access;

use super::{FirewallFacts, HostFacts};

/// What the disk holding `dir` tells.
pub fn facts(dir: &Path) -> HostFacts {
    let exists = dir.is_dir();
    let size = |name: &str| std::fs::metadata(dir.join(name)).ok().map(|m| m.len());
    HostFacts {
        data_dir: dir.display().to_string(),
        exists,
        writable: exists && rustix::fs::access(dir, Access::WRITE_OK | Access::EXEC_OK).is_ok(),
        free_bytes: rustix::fs::statvfs(dir)
            .ok()
            .map(|s| s.f_bavail.saturating_mul(s.f_frsize)),
        db_bytes: size("purr.db"),
        wal_bytes: size("purr.db-wal"),
        outbox: None,
        firewall: Vec::new(),
    }
}

/// The host firewalls configured under `root` (`/` but in tests), and whether their
/// rules name `port`. Reads at most a few small files, each cut at 1 MiB.
pub fn firewall(root: &Path, port: u16) -> Vec<FirewallFacts> {
    let read = |p: &str| -> Option<String> {
        use std::io::Read;
        let f = std::fs::File::open(root.join(p)).ok()?;
        let mut s = String::new();
        f.take(1 << 20).read_to_string(&mut s).ok()?;
        Some(s)
    };
    let exists = |p: &str| root.join(p).exists();
    let mut out = Vec::new();
    // ufw: ufw.conf (world-readable) says whether it is on; its rules are root's.
    if let Some(conf) = read("etc/ufw/ufw.conf") {
        let rules: Vec<String> = ["etc/ufw/user.rules", "etc/ufw/user6.rules"]
            .iter()
            .filter_map(|p| read(p))
            .collect();
        out.push(FirewallFacts {
            tool: "ufw".into(),
            active: Some(conf.lines().any(|l| l.trim() == "ENABLED=yes")),
            rules_readable: !rules.is_empty(),
            mentions_port: rules.iter().any(|r| names_port(r, port)),
        });
    }
    // firewalld: running while /run/firewalld exists; its zones are world-readable.
    if exists("etc/firewalld") {
        let zones: Vec<String> = ["etc/firewalld/zones", "usr/lib/firewalld/zones"]
            .iter()
            .filter_map(|d| std::fs::read_dir(root.join(d)).ok())
            .flatten()
            .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
            .take(64)
            .collect();
        out.push(FirewallFacts {
            tool: "firewalld".into(),
            active: Some(exists("run/firewalld")),
            rules_readable: !zones.is_empty(),
            mentions_port: zones
                .iter()
                .any(|z| z.contains(&format!("port=\"{port}\""))),
        });
    }
    // nftables: the rules loaded at boot, if readable; whether they are loaded now
    // cannot be told without root.
    if let Some(conf) = read("etc/nftables.conf") {
        let has_rules = conf.lines().any(|l| {
            let l = l.trim();
            !l.is_empty() && !l.starts_with('#') && (l.contains("drop") || l.contains("reject"))
        });
        if has_rules {
            out.push(FirewallFacts {
                tool: "nftables".into(),
                active: None,
                rules_readable: true,
                mentions_port: names_port(&conf, port),
            });
        }
    }
    out
}

/// Whether firewall rules name `port` as a whole number (`--dport 35035`,
/// `tcp dport { 22, 35035 }`, ufw's `### tuple ### allow tcp 35035 …`).
fn names_port(rules: &str, port: u16) -> bool {
    let port = port.to_string();
    rules
        .split(|c: char| !c.is_ascii_digit())
        .any(|word| word == port)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_dir_is_writable_with_free_space_and_no_database() {
        let tmp = tempfile::tempdir().unwrap();
        let f = facts(tmp.path());
        assert!(f.exists && f.writable, "{f:?}");
        assert!(f.free_bytes.is_some_and(|b| b > 0), "{f:?}");
        assert_eq!(f.db_bytes, None);
        std::fs::write(tmp.path().join("purr.db"), [0u8; 100]).unwrap();
        assert_eq!(facts(tmp.path()).db_bytes, Some(100));
        let missing = facts(&tmp.path().join("nope"));
        assert!(!missing.exists && !missing.writable);
    }

    #[test]
    fn firewall_files_are_read_for_our_port_where_they_can_be() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        assert!(firewall(r, 35035).is_empty(), "no firewall configured");
        std::fs::create_dir_all(r.join("etc/ufw")).unwrap();
        std::fs::write(r.join("etc/ufw/ufw.conf"), "# comment\nENABLED=yes\n").unwrap();
        let f = &firewall(r, 35035)[0];
        assert_eq!(f.tool, "ufw");
        assert_eq!(f.active, Some(true));
        assert!(!f.rules_readable && !f.mentions_port);
        std::fs::write(
            r.join("etc/ufw/user.rules"),
            "### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in\n-A ufw-user-input -p tcp --dport 22 -j ACCEPT\n",
        )
        .unwrap();
        let f = &firewall(r, 35035)[0];
        assert!(f.rules_readable && !f.mentions_port);
        std::fs::write(
            r.join("etc/ufw/user.rules"),
            "-A ufw-user-input -p tcp --dport 35035 -j ACCEPT\n",
        )
        .unwrap();
        assert!(firewall(r, 35035)[0].mentions_port);
        assert!(!firewall(r, 3503)[0].mentions_port, "a whole number");
        std::fs::write(
            r.join("etc/nftables.conf"),
            "table inet filter {\n chain input { policy drop; tcp dport { 22, 35035 } accept }\n}\n",
        )
        .unwrap();
        let all = firewall(r, 35035);
        assert_eq!(all[1].tool, "nftables");
        assert!(all[1].mentions_port && all[1].active.is_none());
    }
}
