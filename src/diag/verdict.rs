//! From facts to verdicts: one [`Check`] per thing a person can look at, each with a
//! plain `OK`, `WARN` or `FAIL` and, unless all is well, the one next step. A pure
//! function of a [`Report`], so every rule is tested without a network.
//!
//! ```text
//!   node ─────── running? ──no──▶ FAIL "no node runs on this data dir" (start it)
//!   interfaces ─ used: sends failing? ─▶ FAIL/WARN; no multicast (VPN) ─▶ WARN (--connect)
//!   beacons ──── sent for ≥ 3 intervals, heard none ─▶ WARN (multicast filtered)
//!   targets ──── owner online ─▶ OK; last attempt failed ─▶ FAIL with its reason
//!   contacts ─── online ─▶ OK (path); offline, attempts failing (or another key) ─▶ WARN
//!   reach ────── a peer dialled us back: reached ─▶ OK; failed ─▶ FAIL if no address
//!                worked, else WARN (reach.rs); clock skew over 2 min ─▶ WARN
//!   host ─────── data dir missing / read-only / disk full ─▶ FAIL; low space ─▶ WARN
//! ```

use serde::{Deserialize, Serialize};

use super::{AttemptFacts, ContactFacts, IfaceFacts, IfaceKind, Report, TargetFacts};

/// Free space under which the store will soon fail (`FAIL`).
pub const FREE_FAIL: u64 = 64 << 20;
/// Free space worth a warning.
pub const FREE_WARN: u64 = 512 << 20;
/// A WAL this large means checkpoints are not keeping up (a reader holding it open).
pub const WAL_WARN: u64 = 256 << 20;
/// Send errors older than this are history: an interface whose link-local address was
/// still tentative at start fails its first IPv6 sends, then works.
pub const RECENT_ERROR_S: u64 = 60;
/// Beacon intervals without hearing anyone before "heard none" is a warning: a node on
/// the LAN is heard within one interval, so three leave room for a late start.
pub const QUIET_INTERVALS: u64 = 3;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Verdict {
    #[serde(rename = "OK")]
    Ok,
    #[serde(rename = "WARN")]
    Warn,
    #[serde(rename = "FAIL")]
    Fail,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `pad`, so that `{:<4}` lines the checks up.
        f.pad(match self {
            Verdict::Ok => "OK",
            Verdict::Warn => "WARN",
            Verdict::Fail => "FAIL",
        })
    }
}

/// One line of `purr doctor`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    pub verdict: Verdict,
    /// `node`, `interface`, `beacons`, `target`, `contact`, `host`.
    pub area: String,
    /// What is checked: an interface name, a target, a contact's name.
    pub subject: String,
    /// What was found, in words.
    pub says: String,
    /// The one next step (none when all is well).
    pub next: Option<String>,
}

impl Check {
    pub(super) fn new(verdict: Verdict, area: &str, subject: &str, says: String) -> Check {
        Check {
            verdict,
            area: area.into(),
            subject: subject.into(),
            says,
            next: None,
        }
    }

    pub(super) fn next(mut self, step: impl Into<String>) -> Check {
        self.next = Some(step.into());
        self
    }
}

impl std::fmt::Display for Check {
    /// `FAIL  target 10.0.0.7:35035: refused …; next: …`
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:<4}  {}", self.verdict, self.area)?;
        if !self.subject.is_empty() {
            write!(f, " {}", self.subject)?;
        }
        write!(f, ": {}", self.says)?;
        match &self.next {
            Some(next) => write!(f, " -> {next}"),
            None => Ok(()),
        }
    }
}

/// The worst verdict, `Ok` for none.
pub fn worst(checks: &[Check]) -> Verdict {
    checks
        .iter()
        .map(|c| c.verdict)
        .max()
        .unwrap_or(Verdict::Ok)
}

/// Every check of a report, in the order `purr doctor` prints them.
pub fn checks(r: &Report) -> Vec<Check> {
    let mut out = vec![node(r)];
    if r.node.running {
        out.extend(interfaces(r));
        out.extend(beacons(r));
        out.extend(scan(r));
        out.extend(mdns(r));
        out.extend(super::reach::stopped_beacons(r));
        out.extend(r.targets.iter().map(target));
        out.extend(r.contacts.iter().map(contact));
        out.extend(r.contacts.iter().flat_map(super::reach::checks));
    }
    out.extend(host(r));
    out
}

fn node(r: &Report) -> Check {
    let n = &r.node;
    if !n.running {
        return Check::new(
            Verdict::Fail,
            "node",
            &r.host.data_dir,
            "no node runs on this data dir".into(),
        )
        .next(format!("start it: purr --data-dir {}", r.host.data_dir));
    }
    let discovery = if n.discovery {
        format!(
            "discovery on (a beacon every {} s)",
            n.beacon_interval_s.unwrap_or(5)
        )
    } else {
        "discovery off: peers come from --connect, --peers and other peers' lists".into()
    };
    let says = format!(
        "running{}, listening on {}; {discovery}",
        n.name
            .as_deref()
            .map(|name| format!(" as {name:?}"))
            .unwrap_or_default(),
        n.listen.as_deref().unwrap_or("?"),
    );
    Check::new(Verdict::Ok, "node", "", says)
}

fn interfaces(r: &Report) -> Vec<Check> {
    let mut out = Vec::new();
    // Loopback, and interfaces down without an address (spare devices), say nothing.
    let worth = |i: &&IfaceFacts| i.kind != IfaceKind::Loopback && (i.up || !i.addrs.is_empty());
    for i in r.interfaces.iter().filter(worth) {
        out.push(interface(i, r.node.discovery));
    }
    if r.node.discovery && !r.interfaces.iter().any(|i| i.used) {
        out.push(
            Check::new(
                Verdict::Fail,
                "interface",
                "(none)",
                "no interface is up, multicast-capable and has an address: no beacon goes out"
                    .into(),
            )
            .next("connect to the network, or give peers with --connect HOST:PORT"),
        );
    }
    out
}

fn interface(i: &IfaceFacts, discovery: bool) -> Check {
    let addrs = if i.addrs.is_empty() {
        "no address".to_string()
    } else {
        i.addrs.join(", ")
    };
    let what = format!("{} ({addrs})", i.kind);
    let check = |v, says: String| Check::new(v, "interface", &i.name, says);
    if !i.up {
        return check(Verdict::Ok, format!("{what}, down: not used"));
    }
    if !i.multicast {
        let says = format!(
            "{what} carries no multicast: peers there are found by address or from other peers"
        );
        return if i.kind == IfaceKind::Container {
            check(Verdict::Ok, says)
        } else {
            check(Verdict::Warn, says)
                .next("give a peer on it with --connect THEIR-ADDRESS:35035 (once is enough)")
        };
    }
    if !i.used {
        return check(Verdict::Ok, format!("{what}: no address, not used"));
    }
    if !discovery {
        return check(Verdict::Ok, format!("{what}: discovery is off"));
    }
    let counts = format!(
        "{} beacons sent, {} send errors",
        i.beacons_sent, i.send_errors
    );
    let ago = i.last_error_s_ago;
    let last = i
        .last_error
        .as_deref()
        .map(|e| match ago {
            Some(s) => format!(" (last: {e}, {s} s ago)"),
            None => format!(" (last: {e})"),
        })
        .unwrap_or_default();
    let recent = ago.is_none_or(|s| s < RECENT_ERROR_S);
    if i.send_errors > 0 && i.beacons_sent == 0 {
        check(Verdict::Fail, format!("{what}: {counts}{last}"))
            .next("no beacon leaves this interface: check its link, and a firewall on output UDP")
    } else if i.send_errors > 0 && recent {
        check(Verdict::Warn, format!("{what}: {counts}{last}"))
            .next("some beacons failed: a flapping link or a firewall on output UDP")
    } else if i.send_errors > 0 {
        check(
            Verdict::Ok,
            format!("{what}: {counts}{last}; sending works since"),
        )
    } else {
        let note = if i.kind == IfaceKind::Container {
            "; a container bridge: peers are rarely there"
        } else {
            ""
        };
        check(Verdict::Ok, format!("{what}: {counts}{note}"))
    }
}

fn beacons(r: &Report) -> Option<Check> {
    if !r.node.discovery {
        return None;
    }
    let b = &r.beacons;
    let interval = r.node.beacon_interval_s.unwrap_or(5).max(1);
    if !b.heard.is_empty() {
        let mut ids: Vec<&str> = b.heard.iter().map(|h| h.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        let newest = b.heard.iter().map(|h| h.last_s_ago).min().unwrap_or(0);
        let sources: Vec<String> = b.heard.iter().take(MAX_SOURCES_SHOWN).map(source).collect();
        let more = b.heard.len().saturating_sub(MAX_SOURCES_SHOWN);
        let says = format!(
            "heard beacons from {} node(s), the last {newest} s ago: {}{}",
            ids.len(),
            sources.join("; "),
            if more > 0 {
                format!("; and {more} more")
            } else {
                String::new()
            }
        );
        return Some(Check::new(Verdict::Ok, "beacons", "heard", says));
    }
    if b.sending_for_s >= QUIET_INTERVALS * interval && b.sent >= QUIET_INTERVALS {
        let says = format!(
            "heard no beacons: sent {} in {} and heard none",
            b.sent,
            duration(b.sending_for_s)
        );
        return Some(Check::new(Verdict::Warn, "beacons", "heard", says).next(
            "if another node runs on this LAN, multicast is filtered here (Wi-Fi client \
             isolation, a firewall on UDP 35035, a switch): give a peer with --connect HOST:PORT, \
             or scan its subnet with --scan CIDR",
        ));
    }
    Some(Check::new(
        Verdict::Ok,
        "beacons",
        "heard",
        format!("none yet (listening for {})", duration(b.sending_for_s)),
    ))
}

/// Sources of beacons named in the `heard` line (the full list is in the JSON).
const MAX_SOURCES_SHOWN: usize = 8;

/// One source of beacons in words: `583d0d74 on eth0: 24 heard, about every 5 s`.
fn source(h: &super::HeardFacts) -> String {
    let every = beacon_interval(h)
        .map(|s| format!(", about every {s} s"))
        .unwrap_or_default();
    format!("{} on {}: {} heard{every}", short(&h.id), h.iface, h.count)
}

/// The mean time between a source's beacons, in whole seconds (`None` before two).
pub fn beacon_interval(h: &super::HeardFacts) -> Option<u64> {
    let gaps = h.count.checked_sub(1).filter(|&g| g > 0)?;
    let span = h.first_s_ago.saturating_sub(h.last_s_ago);
    Some((span + gaps / 2) / gaps)
}

/// `--scan` (issue 20.4): what the sweeps sent and who answered.
fn scan(r: &Report) -> Option<Check> {
    let s = &r.beacons.scan;
    if !r.node.discovery || s.ranges.is_empty() {
        return None;
    }
    let subject = s.ranges.join(", ");
    let says = format!(
        "{} sweep{}, {} probes sent, {} answered{}",
        s.sweeps,
        if s.sweeps == 1 { "" } else { "s" },
        s.sent,
        s.answered,
        if s.errors > 0 {
            format!(", {} could not be sent", s.errors)
        } else {
            String::new()
        }
    );
    let check = |v, says: String| Check::new(v, "scan", &subject, says);
    if s.sent == 0 && s.errors > 0 {
        return Some(
            check(Verdict::Fail, says)
                .next("no probe goes out: is there a route to the range (ip route get ADDRESS)?"),
        );
    }
    // After two sweeps (30 s) a node in the range that runs has heard one.
    if s.answered == 0 && s.sweeps >= 2 {
        return Some(check(Verdict::Warn, says).next(
            "no purr answered: check the range, and that UDP 35035 is not filtered on the way",
        ));
    }
    Some(check(Verdict::Ok, says))
}

/// mDNS browsing (issue 20.5): said only once something answered or a query failed.
fn mdns(r: &Report) -> Option<Check> {
    let m = &r.beacons.mdns;
    if !r.node.discovery || (m.answers == 0 && m.errors == 0) {
        return None;
    }
    let says = format!(
        "{} queries, {} answers, {} purr node(s) named{}",
        m.queries,
        m.answers,
        m.found,
        if m.errors > 0 {
            format!(", {} queries could not be sent", m.errors)
        } else {
            String::new()
        }
    );
    Some(Check::new(
        if m.errors > 0 && m.queries == 0 {
            Verdict::Warn
        } else {
            Verdict::Ok
        },
        "mdns",
        "_purr._tcp",
        says,
    ))
}

fn target(t: &TargetFacts) -> Check {
    let check = |v, says: String| Check::new(v, "target", &t.target, says);
    if t.online {
        return check(
            Verdict::Ok,
            format!(
                "connected ({})",
                t.owner.as_deref().map(short).unwrap_or("?")
            ),
        );
    }
    let Some(last) = t.attempts.first() else {
        return check(Verdict::Ok, "not dialled yet".into());
    };
    let failed = t.attempts.iter().take_while(|a| failure(a)).count();
    if !failure(last) {
        return check(Verdict::Ok, format!("last attempt: {}", last.reason));
    }
    let says = format!(
        "{} ({failed} failed attempt{} in a row{})",
        last.reason,
        if failed == 1 { "" } else { "s" },
        retry(t.backoff_s)
    );
    let mut next = next_step(&last.outcome).to_string();
    // When something may answer there that is not the purr we expect, say how to see it.
    if matches!(
        last.outcome.as_str(),
        "handshake" | "other_key" | "timed_out"
    ) {
        next.push_str(&format!(
            " (`purr doctor --peer {}` says what answers there)",
            t.target
        ));
    }
    check(Verdict::Fail, says).next(next)
}

/// `10.0.0.3:35035 from announced, incoming, 100.64.0.3:35035 from announced`: each
/// address once, with every source it came from.
fn addr_words(addrs: &[super::AddrFacts]) -> String {
    let mut grouped: Vec<(&str, Vec<&str>)> = Vec::new();
    for a in addrs {
        match grouped.iter_mut().find(|(addr, _)| *addr == a.addr) {
            Some((_, sources)) if !sources.contains(&a.source.as_str()) => sources.push(&a.source),
            Some(_) => {}
            None => grouped.push((&a.addr, vec![&a.source])),
        }
    }
    grouped
        .iter()
        .map(|(addr, sources)| format!("{addr} from {}", sources.join(" and ")))
        .collect::<Vec<_>>()
        .join(", ")
}

fn contact(c: &ContactFacts) -> Check {
    let subject = format!("{} ({})", c.name, short(&c.id));
    let check = |v, says: String| Check::new(v, "contact", &subject, says);
    let addrs = if c.addrs.is_empty() {
        "no known address".to_string()
    } else {
        addr_words(&c.addrs)
    };
    if c.online {
        let path = c.path.as_deref().unwrap_or("?");
        // Every address it may be reached at, with where each came from (issue 20):
        // the ones a reconnect would try.
        return check(
            Verdict::Ok,
            match &c.route {
                Some(route) => format!("online via {route} ({path}); addresses: {addrs}"),
                None => format!("online via {path}; addresses: {addrs}"),
            },
        );
    }
    let waiting = if c.outbox > 0 {
        format!("; {} message(s) wait for it", c.outbox)
    } else {
        String::new()
    };
    // Its address now answers with another key: the newest attempt there may since
    // have connected (to that other node), so look past it.
    if let Some(k) = c.attempts.iter().find(|a| a.outcome == "other_key") {
        return check(
            Verdict::Warn,
            format!(
                "offline; {} {} s ago: {}; addresses: {addrs}{waiting}",
                k.target, k.s_ago, k.reason
            ),
        )
        .next(next_step(&k.outcome));
    }
    match c.attempts.first() {
        Some(last) if failure(last) => check(
            Verdict::Warn,
            format!(
                "offline; last dial {}: {}{}; addresses: {addrs}{waiting}",
                last.target,
                last.reason,
                retry(c.backoff_s)
            ),
        )
        .next(next_step(&last.outcome)),
        _ if c.addrs.is_empty() => check(
            Verdict::Warn,
            format!("offline, no known address{waiting}"),
        )
        .next("it is found again by its beacon or another peer's list, or give it with --connect HOST:PORT"),
        // Nothing failed yet (not dialled lately), but it is not reachable now: never
        // an OK for a contact that is offline (issue 20: "never all OK while a known
        // contact is unreachable").
        _ => check(
            Verdict::Warn,
            format!("offline, not dialled lately; addresses: {addrs}{waiting}"),
        )
        .next("purr redials contacts by itself; if it stays offline, check that it runs purr and is on the network"),
    }
}

fn host(r: &Report) -> Vec<Check> {
    let h = &r.host;
    let check = |v, subject: &str, says: String| Check::new(v, "host", subject, says);
    if !h.exists {
        return vec![check(
            Verdict::Fail,
            "data dir",
            format!("{} does not exist", h.data_dir),
        )
        .next("check --data-dir (a node creates it at its first start)")];
    }
    let mut out = vec![if h.writable {
        check(
            Verdict::Ok,
            "data dir",
            format!("{} is writable", h.data_dir),
        )
    } else {
        check(
            Verdict::Fail,
            "data dir",
            format!("{} cannot be written", h.data_dir),
        )
        .next("fix its owner and mode (the node's user needs rwx), or a read-only mount")
    }];
    if let Some(free) = h.free_bytes {
        let says = format!("{} free on its disk", bytes(free));
        out.push(if free < FREE_FAIL {
            check(Verdict::Fail, "disk", says).next("free some space: the store cannot commit")
        } else if free < FREE_WARN {
            check(Verdict::Warn, "disk", says).next("free some space soon")
        } else {
            check(Verdict::Ok, "disk", says)
        });
    }
    let db = h.db_bytes.unwrap_or(0);
    let wal = h.wal_bytes.unwrap_or(0);
    let mut says = format!("purr.db {}, WAL {}", bytes(db), bytes(wal));
    match h.outbox {
        Some(0) => says.push_str(", the outbox is empty"),
        Some(n) => says.push_str(&format!(", {n} message(s) in the outbox")),
        None => {}
    }
    out.push(if wal > WAL_WARN {
        check(Verdict::Warn, "database", says)
            .next("another program keeps purr.db open for reading; close it")
    } else {
        check(Verdict::Ok, "database", says)
    });
    let port = r.node.port.unwrap_or(35035);
    out.extend(h.firewall.iter().filter_map(|f| firewall(f, port)));
    out
}

/// A host firewall's configuration against our port (a hint: its files, not the kernel).
fn firewall(f: &super::FirewallFacts, port: u16) -> Option<Check> {
    let check = |v, says: String| Check::new(v, "host", "firewall", says);
    let on = match f.active {
        Some(false) => return None,
        Some(true) => format!("{} is on", f.tool),
        None => format!("{} is configured", f.tool),
    };
    Some(if !f.rules_readable {
        check(
            Verdict::Ok,
            format!("{on}; its rules are readable by root only (peers that cannot reach you: allow TCP and UDP {port})"),
        )
    } else if f.mentions_port {
        check(Verdict::Ok, format!("{on}; its rules name port {port}"))
    } else {
        let allow = match f.tool.as_str() {
            "ufw" => format!("sudo ufw allow {port}/tcp && sudo ufw allow 35035/udp"),
            "firewalld" => format!(
                "sudo firewall-cmd --permanent --add-port={port}/tcp --add-port=35035/udp && sudo firewall-cmd --reload"
            ),
            _ => format!("accept TCP {port} and UDP 35035 in its input chain"),
        };
        check(
            Verdict::Warn,
            format!("{on}; its rules do not name port {port}: peers' connections and beacons are probably dropped"),
        )
        .next(allow)
    })
}

/// Whether an attempt failed (a duplicate or a connection is not a failure).
fn failure(a: &AttemptFacts) -> bool {
    !matches!(a.outcome.as_str(), "connected" | "duplicate")
}

/// The next step for a failed attempt's outcome.
fn next_step(outcome: &str) -> &'static str {
    match outcome {
        "refused" => "nothing listens there: is purr running on that host, and is the port right?",
        "timed_out" => {
            "no answer: a wrong address, the host is off, or a firewall drops TCP to that port"
        }
        "unreachable" => "no route to that address: check it, and that this host is on that network",
        "unresolved" => "the host name does not resolve: check it, or give the IP address",
        "handshake" => "something answers but the handshake failed: another program on that port, or a very old purr",
        "ourselves" => "that address is this node itself: remove it from --connect/--peers",
        "other_key" => "another node answers there now: the peer moved, or its identity changed",
        _ => "see the node's log (RUST_LOG=debug) for the full error",
    }
}

/// The first 8 characters of a hex id, as the logs show it.
pub(super) fn short(hex: &str) -> &str {
    hex.get(..8).unwrap_or(hex)
}

/// `, next try in 8 s`
fn retry(backoff_s: Option<u64>) -> String {
    match backoff_s {
        Some(s) => format!(", next try in {s} s"),
        None => String::new(),
    }
}

/// `2 min 5 s`
pub(super) fn duration(s: u64) -> String {
    if s >= 60 {
        format!("{} min {} s", s / 60, s % 60)
    } else {
        format!("{s} s")
    }
}

/// `12.3 MiB`
fn bytes(b: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = b as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::super::{BeaconFacts, HeardFacts, HostFacts, NodeFacts};
    use super::*;

    fn running() -> Report {
        Report {
            node: NodeFacts {
                running: true,
                name: Some("alice".into()),
                listen: Some("[::]:35035".into()),
                port: Some(35035),
                discovery: true,
                beacon_interval_s: Some(5),
                ..Default::default()
            },
            interfaces: vec![IfaceFacts {
                name: "eth0".into(),
                kind: IfaceKind::Ethernet,
                up: true,
                multicast: true,
                addrs: vec!["10.0.0.2".into()],
                used: true,
                beacons_sent: 24,
                ..Default::default()
            }],
            host: HostFacts {
                data_dir: "/d".into(),
                exists: true,
                writable: true,
                free_bytes: Some(10 << 30),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn find<'a>(checks: &'a [Check], area: &str) -> &'a Check {
        checks
            .iter()
            .find(|c| c.area == area)
            .unwrap_or_else(|| panic!("no {area} check in {checks:#?}"))
    }

    fn attempt(outcome: &str, reason: &str) -> AttemptFacts {
        AttemptFacts {
            target: "10.0.0.7:35035".into(),
            s_ago: 3,
            outcome: outcome.into(),
            reason: reason.into(),
        }
    }

    #[test]
    fn a_healthy_node_is_all_ok() {
        let c = checks(&running());
        assert!(c.iter().all(|c| c.verdict == Verdict::Ok), "{c:#?}");
        assert_eq!(worst(&c), Verdict::Ok);
        assert!(c.iter().all(|c| c.next.is_none()));
    }

    #[test]
    fn no_node_is_a_failure_with_the_way_to_start_one_and_host_checks_still_run() {
        let r = Report {
            node: NodeFacts::default(),
            ..running()
        };
        let c = checks(&r);
        let n = find(&c, "node");
        assert_eq!(n.verdict, Verdict::Fail);
        assert_eq!(n.says, "no node runs on this data dir");
        assert_eq!(n.next.as_deref(), Some("start it: purr --data-dir /d"));
        assert!(c.iter().any(|c| c.area == "host" && c.subject == "disk"));
        assert!(!c.iter().any(|c| c.area == "interface"), "{c:#?}");
    }

    #[test]
    fn beacons_sent_for_long_and_none_heard_is_a_warning_about_filtered_multicast() {
        let mut r = running();
        r.beacons = BeaconFacts {
            sending_for_s: 125,
            sent: 25,
            heard: Vec::new(),
            ..Default::default()
        };
        let c = checks(&r);
        let b = find(&c, "beacons");
        assert_eq!(b.verdict, Verdict::Warn);
        assert!(b.says.starts_with("heard no beacons"), "{b}");
        assert!(b.says.contains("2 min 5 s"), "{b}");
        let next = b.next.as_deref().unwrap_or_default();
        assert!(next.contains("multicast is filtered"), "{next}");
        assert!(next.contains("client isolation"), "{next}");

        // Too early to tell: fewer than three intervals.
        r.beacons.sending_for_s = 12;
        assert_eq!(find(&checks(&r), "beacons").verdict, Verdict::Ok);

        // Heard someone: fine.
        r.beacons.sending_for_s = 600;
        r.beacons.heard.push(HeardFacts {
            id: "ab".repeat(32),
            iface: "eth0".into(),
            last_s_ago: 2,
            count: 100,
            ..Default::default()
        });
        assert_eq!(find(&checks(&r), "beacons").verdict, Verdict::Ok);

        // Discovery off: no such check.
        r.node.discovery = false;
        assert!(!checks(&r).iter().any(|c| c.area == "beacons"));
    }

    #[test]
    fn the_scan_says_what_went_out_and_warns_when_nobody_answers() {
        let mut r = running();
        assert!(
            !checks(&r).iter().any(|c| c.area == "scan"),
            "no --scan: no line"
        );
        r.beacons.scan = super::super::ScanFacts {
            ranges: vec!["10.2.0.0/24".into()],
            sweeps: 1,
            sent: 254,
            ..Default::default()
        };
        let c = checks(&r);
        let s = find(&c, "scan");
        assert_eq!(s.verdict, Verdict::Ok, "first sweep: too early to tell");
        assert_eq!(s.subject, "10.2.0.0/24");
        assert_eq!(s.says, "1 sweep, 254 probes sent, 0 answered");
        // Two sweeps and nobody: a warning with the next step.
        r.beacons.scan.sweeps = 2;
        r.beacons.scan.sent = 508;
        let c = checks(&r);
        let s = find(&c, "scan");
        assert_eq!(s.verdict, Verdict::Warn);
        assert!(
            s.next.as_deref().unwrap_or_default().contains("UDP 35035"),
            "{s}"
        );
        r.beacons.scan.answered = 1;
        assert_eq!(find(&checks(&r), "scan").verdict, Verdict::Ok);
        // Nothing could be sent (no route): a failure.
        r.beacons.scan.sent = 0;
        r.beacons.scan.errors = 254;
        let c = checks(&r);
        let s = find(&c, "scan");
        assert_eq!(s.verdict, Verdict::Fail);
        assert!(s.says.ends_with("254 could not be sent"), "{s}");
    }

    #[test]
    fn mdns_is_said_once_something_answered() {
        let mut r = running();
        r.beacons.mdns.queries = 3;
        assert!(!checks(&r).iter().any(|c| c.area == "mdns"));
        r.beacons.mdns.answers = 2;
        r.beacons.mdns.found = 1;
        let c = checks(&r);
        let m = find(&c, "mdns");
        assert_eq!(m.verdict, Verdict::Ok);
        assert_eq!(m.says, "3 queries, 2 answers, 1 purr node(s) named");
    }

    #[test]
    fn a_failing_target_says_why_and_what_to_do() {
        let mut r = running();
        r.targets.push(TargetFacts {
            target: "10.0.0.7:35035".into(),
            backoff_s: Some(8),
            attempts: vec![
                attempt("refused", "refused (Connection refused (os error 111))"),
                attempt("refused", "refused"),
                attempt("connected", "connected"),
                attempt("refused", "refused"),
            ],
            ..Default::default()
        });
        let c = checks(&r);
        let t = find(&c, "target");
        assert_eq!(t.verdict, Verdict::Fail);
        assert_eq!(t.subject, "10.0.0.7:35035");
        assert!(t.says.starts_with("refused"), "{t}");
        assert!(t.says.contains("2 failed attempts in a row"), "{t}");
        assert!(t.says.contains("next try in 8 s"), "{t}");
        assert!(
            t.next
                .as_deref()
                .unwrap_or_default()
                .contains("nothing listens there"),
            "{t}"
        );
        assert_eq!(worst(&c), Verdict::Fail);

        // Each reason has its own step.
        for (outcome, step) in [
            ("timed_out", "firewall"),
            ("unreachable", "no route"),
            ("ourselves", "this node itself"),
            ("other_key", "another node answers"),
        ] {
            r.targets[0].attempts = vec![attempt(outcome, outcome)];
            let c = checks(&r);
            let next = find(&c, "target").next.clone().unwrap_or_default();
            assert!(next.contains(step), "{outcome}: {next}");
            let probe = next.contains("purr doctor --peer 10.0.0.7:35035");
            let wanted = matches!(outcome, "timed_out" | "other_key");
            assert_eq!(probe, wanted, "{outcome}: {next}");
        }
        r.targets[0].attempts = vec![attempt("handshake", "handshake failed")];
        let next = find(&checks(&r), "target").next.clone().unwrap_or_default();
        assert!(
            next.contains("`purr doctor --peer 10.0.0.7:35035`"),
            "{next}"
        );

        r.targets[0].online = true;
        r.targets[0].owner = Some("ab".repeat(32));
        assert_eq!(find(&checks(&r), "target").verdict, Verdict::Ok);
    }

    #[test]
    fn beacons_heard_are_named_per_source_with_count_and_interval() {
        let mut r = running();
        let heard = |id: &str, count, first, last| super::super::HeardFacts {
            id: id.repeat(32),
            iface: "eth0".into(),
            addr: "10.0.0.2:35035".into(),
            count,
            first_s_ago: first,
            last_s_ago: last,
        };
        r.beacons.heard = vec![heard("ab", 25, 123, 3), heard("cd", 1, 2, 2)];
        let k = find(&checks(&r), "beacons").clone();
        assert_eq!(k.verdict, Verdict::Ok, "{k}");
        assert!(
            k.says
                .contains("abababab on eth0: 25 heard, about every 5 s"),
            "{k}"
        );
        assert!(
            k.says.contains("cdcdcdcd on eth0: 1 heard;")
                || k.says.ends_with("cdcdcdcd on eth0: 1 heard"),
            "{k}"
        );
    }

    #[test]
    fn contacts_show_their_path_or_why_they_are_offline() {
        let mut r = running();
        r.contacts.push(ContactFacts {
            id: "cd".repeat(32),
            name: "bob".into(),
            online: true,
            path: Some("10.0.0.3:41000".into()),
            ..Default::default()
        });
        let c = checks(&r);
        let k = find(&c, "contact");
        assert_eq!(k.verdict, Verdict::Ok);
        assert!(k.says.contains("online via 10.0.0.3:41000"), "{k}");
        assert!(k.subject.starts_with("bob ("), "{k}");
        r.contacts[0].route = Some("VPN wg0 10.0.0.3".into());
        let addr = |addr: &str, source: &str| crate::diag::AddrFacts {
            addr: addr.into(),
            source: source.into(),
            s_ago: Some(1),
        };
        r.contacts[0].addrs = vec![
            addr("10.0.0.3:35035", "announced"),
            addr("192.168.1.3:35035", "announced"),
            addr("10.0.0.3:35035", "incoming"),
            addr("10.0.0.3:35035", "announced"),
        ];
        let k = find(&checks(&r), "contact").clone();
        assert!(
            k.says.contains(
                "online via VPN wg0 10.0.0.3 (10.0.0.3:41000); addresses: \
                 10.0.0.3:35035 from announced and incoming, 192.168.1.3:35035 from announced"
            ),
            "{k}"
        );

        r.contacts[0].online = false;
        r.contacts[0].attempts = vec![attempt("timed_out", "timed out")];
        r.contacts[0].backoff_s = Some(30);
        r.contacts[0].outbox = 2;
        let c = checks(&r);
        let k = find(&c, "contact");
        assert_eq!(k.verdict, Verdict::Warn);
        assert!(k.says.contains("timed out, next try in 30 s"), "{k}");
        assert!(k.says.contains("2 message(s) wait"), "{k}");

        // Offline with nothing failed yet is still not OK: it cannot be reached now.
        r.contacts[0].attempts.clear();
        let k = find(&checks(&r), "contact").clone();
        assert_eq!(k.verdict, Verdict::Warn, "{k}");
        assert!(k.says.contains("offline, not dialled lately"), "{k}");
        r.contacts[0].addrs.clear();
        assert_eq!(
            find(&checks(&r), "contact").verdict,
            Verdict::Warn,
            "no address"
        );
    }

    #[test]
    fn interfaces_without_multicast_or_with_failing_sends_are_named() {
        let mut r = running();
        r.interfaces.push(IfaceFacts {
            name: "tailscale0".into(),
            kind: IfaceKind::Vpn,
            up: true,
            multicast: false,
            addrs: vec!["100.64.0.1".into()],
            ..Default::default()
        });
        r.interfaces.push(IfaceFacts {
            name: "docker0".into(),
            kind: IfaceKind::Container,
            up: true,
            multicast: true,
            used: true,
            beacons_sent: 0,
            send_errors: 7,
            last_error: Some("Operation not permitted".into()),
            ..Default::default()
        });
        let c = checks(&r);
        let ts = c.iter().find(|c| c.subject == "tailscale0").unwrap();
        assert_eq!(ts.verdict, Verdict::Warn);
        assert!(
            ts.says.contains(
                "carries no multicast: peers there are found by address or from other peers"
            ),
            "{ts}"
        );
        let d = c.iter().find(|c| c.subject == "docker0").unwrap();
        assert_eq!(d.verdict, Verdict::Fail);
        assert!(
            d.says
                .contains("7 send errors (last: Operation not permitted)"),
            "{d}"
        );

        // Errors that stopped long ago (IPv6 before DAD ended, at start) are history.
        let verdict = |r: &Report| {
            let c = checks(r);
            c.iter().find(|c| c.subject == "docker0").map(|c| c.verdict)
        };
        let docker = r
            .interfaces
            .iter_mut()
            .find(|i| i.name == "docker0")
            .unwrap();
        docker.beacons_sent = 50;
        docker.last_error_s_ago = Some(5);
        assert_eq!(verdict(&r), Some(Verdict::Warn));
        let docker = r
            .interfaces
            .iter_mut()
            .find(|i| i.name == "docker0")
            .unwrap();
        docker.last_error_s_ago = Some(RECENT_ERROR_S + 1);
        assert_eq!(verdict(&r), Some(Verdict::Ok));

        // Nothing usable at all while discovery is on.
        for i in &mut r.interfaces {
            i.used = false;
        }
        let c = checks(&r);
        assert!(c
            .iter()
            .any(|c| c.subject == "(none)" && c.verdict == Verdict::Fail));
    }

    #[test]
    fn host_problems_fail_or_warn() {
        let mut r = running();
        r.host.writable = false;
        r.host.free_bytes = Some(1 << 20);
        let c = checks(&r);
        let fails: Vec<&str> = c
            .iter()
            .filter(|c| c.verdict == Verdict::Fail)
            .map(|c| c.subject.as_str())
            .collect();
        assert_eq!(fails, ["data dir", "disk"]);
        r.host.free_bytes = Some(100 << 20);
        r.host.writable = true;
        r.host.wal_bytes = Some(WAL_WARN + 1);
        let c = checks(&r);
        assert_eq!(
            c.iter().find(|c| c.subject == "disk").unwrap().verdict,
            Verdict::Warn
        );
        assert_eq!(
            c.iter().find(|c| c.subject == "database").unwrap().verdict,
            Verdict::Warn
        );
        r.host.exists = false;
        let c = checks(&r);
        assert_eq!(c.iter().filter(|c| c.area == "host").count(), 1);
    }

    #[test]
    fn a_firewall_whose_rules_do_not_name_our_port_is_a_warning_with_the_command() {
        let mut r = running();
        let fw = |active, readable, mentions| super::super::FirewallFacts {
            tool: "ufw".into(),
            active,
            rules_readable: readable,
            mentions_port: mentions,
        };
        let line = |r: &Report| checks(r).into_iter().find(|c| c.subject == "firewall");
        r.host.firewall = vec![fw(Some(true), true, false)];
        let c = line(&r).expect("a firewall line");
        assert_eq!(c.verdict, Verdict::Warn);
        assert!(c.says.contains("do not name port 35035"), "{c}");
        assert_eq!(
            c.next.as_deref(),
            Some("sudo ufw allow 35035/tcp && sudo ufw allow 35035/udp")
        );
        r.host.firewall = vec![fw(Some(true), true, true)];
        assert_eq!(line(&r).map(|c| c.verdict), Some(Verdict::Ok));
        r.host.firewall = vec![fw(Some(true), false, false)];
        assert_eq!(line(&r).map(|c| c.verdict), Some(Verdict::Ok));
        r.host.firewall = vec![fw(Some(false), true, false)];
        assert!(line(&r).is_none(), "off: nothing to say");
    }

    #[test]
    fn a_check_is_one_line_with_its_next_step() {
        let c = Check::new(Verdict::Fail, "target", "h:1", "refused".into()).next("start it");
        assert_eq!(c.to_string(), "FAIL  target h:1: refused -> start it");
        let ok = Check::new(Verdict::Ok, "node", "", "running".into());
        assert_eq!(ok.to_string(), "OK    node: running");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(12), "12 B");
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json["verdict"], "FAIL");
    }
}
