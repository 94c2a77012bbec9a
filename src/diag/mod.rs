//! "Why can't I see my peer?" (issue 20): the facts a node keeps about finding and
//! reaching peers, as `GET /api/v1/diag` gives them, and the checks `purr doctor` prints.
//!
//! The facts come from their owners: the discovery thread counts beacons sent and heard
//! ([`crate::bus::DiscoveryStats`], reported to the state after each round of beacons);
//! the dialer (`state/dialer.rs`) keeps, per target, the last dial attempts with their
//! outcome and backoff, and per id the addresses learned with their source; the peer
//! table gives each contact's live path, what it found dialling us back (`RBCK`) and
//! its clock skew (`state/reach.rs`). The HTTP thread that answers `/api/v1/diag`
//! adds what it can read itself: the interface list ([`crate::discovery::ifaces::links`]),
//! the data dir and the firewall's files ([`host`]). Nothing here is I/O but [`host`];
//! the verdicts ([`verdict::checks`], [`reach::checks`]) are pure functions of a
//! [`Report`].
//!
//! ```text
//!   discovery ──DiscoveryStats──▶ state ──ApiReply::Diag(StateFacts)──▶ http thread
//!   dialer (attempts, sources) ─────┘                                   + links, host
//!   peer table (paths, reach) ──────┘                                   = Report ──checks──▶ JSON
//!   purr doctor ── GET /api/v1/diag ──▶ one line per check; no node: host facts only
//! ```

pub mod host;
pub mod path;
pub mod reach;
pub mod verdict;

use serde::{Deserialize, Serialize};

pub use verdict::{checks, Check, Verdict};

/// Everything `GET /api/v1/diag` answers (docs/HTTP.md).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub node: NodeFacts,
    /// Every interface of the node's network namespace, loopback included.
    pub interfaces: Vec<IfaceFacts>,
    pub beacons: BeaconFacts,
    /// `--connect` and `--peers` targets.
    pub targets: Vec<TargetFacts>,
    pub contacts: Vec<ContactFacts>,
    pub host: HostFacts,
    /// Groups known, and group records dropped (issue 18).
    #[serde(default)]
    pub groups: GroupFacts,
    /// The verdicts, computed from the facts above ([`verdict::checks`]).
    #[serde(default)]
    pub checks: Vec<Check>,
}

/// The node itself.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeFacts {
    pub running: bool,
    pub id: Option<String>,
    pub name: Option<String>,
    /// The listening socket, e.g. `[::]:35035`.
    pub listen: Option<String>,
    pub port: Option<u16>,
    /// LAN discovery runs (off under `--no-discovery` or when listening on loopback).
    pub discovery: bool,
    pub beacon_interval_s: Option<u64>,
    pub uptime_s: Option<u64>,
}

/// One network interface, with discovery's counters on it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IfaceFacts {
    pub name: String,
    /// Guessed from the name: `ethernet`, `wifi`, `vpn`, `container`, `loopback`.
    pub kind: IfaceKind,
    pub up: bool,
    pub multicast: bool,
    pub addrs: Vec<String>,
    /// Discovery sends and listens on it (up, multicast, not loopback, an address).
    pub used: bool,
    pub beacons_sent: u64,
    pub send_errors: u64,
    pub last_error: Option<String>,
    pub last_error_s_ago: Option<u64>,
}

/// Discovery's send counters on one interface, as the state reports them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SendCount {
    pub name: String,
    pub sent: u64,
    pub errors: u64,
    pub last_error: Option<String>,
    pub last_error_s_ago: Option<u64>,
}

/// What an interface probably is, from its name (a guess: names are only conventions).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IfaceKind {
    #[default]
    Ethernet,
    Wifi,
    Vpn,
    Container,
    Loopback,
}

impl IfaceKind {
    /// `wl*` Wi-Fi; `tailscale*`, `wg*`, `tun*`, `tap*`, `zt*` VPN; `docker*`, `br-*`,
    /// `veth*`, `virbr*`, `cni*`, `podman*` container bridges; `lo` loopback; the rest
    /// ethernet.
    pub fn guess(name: &str, loopback: bool) -> IfaceKind {
        let starts = |prefixes: &[&str]| prefixes.iter().any(|p| name.starts_with(p));
        if loopback || name == "lo" {
            IfaceKind::Loopback
        } else if starts(&["wl", "wifi", "ath"]) {
            IfaceKind::Wifi
        } else if starts(&["tailscale", "wg", "tun", "tap", "zt", "utun", "ppp"]) {
            IfaceKind::Vpn
        } else if starts(&[
            "docker", "br-", "veth", "virbr", "cni", "podman", "lxc", "flannel",
        ]) {
            IfaceKind::Container
        } else {
            IfaceKind::Ethernet
        }
    }
}

impl std::fmt::Display for IfaceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            IfaceKind::Ethernet => "ethernet",
            IfaceKind::Wifi => "Wi-Fi",
            IfaceKind::Vpn => "VPN",
            IfaceKind::Container => "container bridge",
            IfaceKind::Loopback => "loopback",
        })
    }
}

/// Beacons heard from other nodes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BeaconFacts {
    /// Seconds since discovery started (0 when it does not run).
    pub sending_for_s: u64,
    /// Beacons sent, all interfaces together.
    pub sent: u64,
    /// Per source id and interface, the most recently heard first (at most 64).
    pub heard: Vec<HeardFacts>,
    /// Unicast beacons: `--scan` and answers (issue 20.4).
    #[serde(default)]
    pub scan: ScanFacts,
    /// mDNS browsing for `_purr._tcp` (issue 20.5).
    #[serde(default)]
    pub mdns: MdnsFacts,
}

/// Unicast discovery: the `--scan` sweeps, and unicast beacons heard and answered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanFacts {
    /// The `--scan` ranges (empty: none given).
    pub ranges: Vec<String>,
    pub sweeps: u64,
    /// Probes sent, and sends that failed.
    pub sent: u64,
    pub errors: u64,
    /// Distinct addresses in the ranges whose beacon came back.
    pub answered: u64,
    /// Unicast beacons heard from other nodes, and answers sent to them.
    pub heard: u64,
    pub replies: u64,
}

/// mDNS browsing: queries sent, answers received, purr nodes found in them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MdnsFacts {
    pub queries: u64,
    pub errors: u64,
    pub answers: u64,
    pub malformed: u64,
    pub found: u64,
}

/// Beacons of one id on one interface.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HeardFacts {
    pub id: String,
    /// The interface it came in on (for IPv4, guessed from the addresses).
    pub iface: String,
    /// Where it can be dialled (the beacon's source address and port).
    pub addr: String,
    pub count: u64,
    pub first_s_ago: u64,
    pub last_s_ago: u64,
}

/// A `--connect`/`--peers` target.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TargetFacts {
    pub target: String,
    /// The id that answered there last, and whether it is online now.
    pub owner: Option<String>,
    pub online: bool,
    /// Seconds until the dialer tries again, if it is backing off.
    pub backoff_s: Option<u64>,
    pub attempts: Vec<AttemptFacts>,
}

/// One dial attempt (the newest first in lists).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AttemptFacts {
    pub target: String,
    pub s_ago: u64,
    /// `connected`, `duplicate`, `other_key`, `ourselves`, `refused`, `timed_out`,
    /// `unreachable`, `unresolved`, `handshake`, `failed`.
    pub outcome: String,
    /// The outcome in words, with the system's error where there is one.
    pub reason: String,
}

/// A contact.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContactFacts {
    pub id: String,
    pub name: String,
    pub online: bool,
    /// The remote address of the live connection.
    pub path: Option<String>,
    /// How that connection reaches it, in words (`LAN 10.0.0.3`, `VPN wg0 10.8.0.2`;
    /// the Peer's `path`).
    #[serde(default)]
    pub route: Option<String>,
    pub addrs: Vec<AddrFacts>,
    pub backoff_s: Option<u64>,
    pub attempts: Vec<AttemptFacts>,
    /// Outgoing messages waiting for it.
    pub outbox: u64,
    /// What it found when it dialled us back on the addresses we advertise (`RBCK`,
    /// issue 20), one per address; empty until it answered (or if it cannot: a purr
    /// before 2026-12).
    #[serde(default)]
    pub reach: Vec<ReachFacts>,
    /// Its clock minus ours, in milliseconds (from its last `RBCK`/`RBRS`; none from a
    /// peer that sends neither).
    #[serde(default)]
    pub clock_skew_ms: Option<i64>,
}

/// One address we advertise, as a peer found it when it dialled us back.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReachFacts {
    pub addr: String,
    /// `ok`, `refused`, `timed_out`, `unreachable`, `other_key`, `handshake`,
    /// `not_known` (not tried: not an address it knows for us), `busy`, `failed`.
    pub outcome: String,
    /// Milliseconds its connect took (or until it gave up).
    pub ms: u32,
    pub s_ago: u64,
}

/// An address of a contact and where we learned it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AddrFacts {
    pub addr: String,
    /// `beacon`, `scan` (a unicast beacon), `mdns`, `list` (another peer's `LIST`),
    /// `announced` (its own `ADDR`), `connect` (--connect/--peers), `manual` (the UI's
    /// connect), `incoming` (it connected to us), `stored` (from an earlier run).
    pub source: String,
    /// Seconds since it was last learned from that source (none for `stored`).
    pub s_ago: Option<u64>,
}

/// The data dir and its disk.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HostFacts {
    pub data_dir: String,
    pub exists: bool,
    pub writable: bool,
    pub free_bytes: Option<u64>,
    pub db_bytes: Option<u64>,
    pub wal_bytes: Option<u64>,
    /// Outgoing messages waiting for their peer (known only from a running node).
    pub outbox: Option<u64>,
    /// Host firewalls whose configuration could be read ([`host::firewall`]).
    #[serde(default)]
    pub firewall: Vec<FirewallFacts>,
}

/// A host firewall, as far as its files can be read without root: a hint, not a
/// verdict on what the kernel does.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirewallFacts {
    /// `ufw`, `firewalld`, `nftables`.
    pub tool: String,
    /// Whether it is on, when its files say (`None`: cannot tell).
    pub active: Option<bool>,
    /// Whether its rules could be read (ufw's are readable by root only).
    pub rules_readable: bool,
    /// Whether those rules name the node's port.
    pub mentions_port: bool,
}

/// Groups as the report shows them: how many this node knows, and the group records
/// it refused by reason. A hostile or broken member shows up here: every refusal of
/// a well-formed record is counted and the session goes on (docs/PROTOCOL.md §12).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupFacts {
    /// Groups this node knows, every phase (at most 256).
    pub known: u64,
    pub dropped: GroupDrops,
}

/// Group records refused, by reason (counted since the node started).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupDrops {
    /// Messages whose author's signature does not verify (forged authors included).
    pub bad_signature: u64,
    /// Records from a peer not in our roster, or messages by an author who was not a
    /// member at the roster version they name (or wrote after its removal).
    pub not_member: u64,
    /// Rosters, messages and summaries for a group we are not a member of.
    pub unknown_group: u64,
    /// Rosters that do not follow ours: a bad chain, a signer who is not the owner, a
    /// bad signature.
    pub bad_roster: u64,
    /// Rosters older than ours that are not a repeat of what we hold (rollbacks).
    pub rollback: u64,
    /// Messages naming a roster we lack, once 256 of the group are waiting for it.
    pub overflow: u64,
    /// Receipts naming a seq of ours we never wrote.
    pub bad_receipt: u64,
    /// Invitations refused: from a peer with too many pending already, or with the
    /// group table full.
    pub invitations: u64,
}

/// What the state thread contributes to a [`Report`] (`ApiReply::Diag`): the rest is
/// read by the HTTP thread.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StateFacts {
    pub node: NodeFacts,
    pub data_dir: std::path::PathBuf,
    /// Discovery's counters per interface.
    pub sent: Vec<SendCount>,
    pub beacons: BeaconFacts,
    pub targets: Vec<TargetFacts>,
    pub contacts: Vec<ContactFacts>,
    pub outbox: u64,
    pub groups: GroupFacts,
}

/// Puts a report together from the state's facts, the interfaces and the host, and
/// computes its checks.
pub fn assemble(
    state: StateFacts,
    links: Vec<crate::discovery::ifaces::Link>,
    host: HostFacts,
) -> Report {
    let interfaces = links
        .into_iter()
        .map(|link| {
            let counted = state.sent.iter().find(|c| c.name == link.name);
            iface_facts(link, counted)
        })
        .collect();
    let mut report = Report {
        node: state.node,
        interfaces,
        beacons: state.beacons,
        targets: state.targets,
        contacts: state.contacts,
        groups: state.groups,
        host: HostFacts {
            outbox: Some(state.outbox),
            ..host
        },
        checks: Vec::new(),
    };
    report.checks = checks(&report);
    report
}

/// One interface as the report shows it.
pub fn iface_facts(
    link: crate::discovery::ifaces::Link,
    counted: Option<&SendCount>,
) -> IfaceFacts {
    let used = crate::discovery::ifaces::select(link.clone()).is_some();
    let addrs = link
        .v4
        .iter()
        .map(ToString::to_string)
        .chain(link.v6.iter().map(ToString::to_string))
        .collect();
    IfaceFacts {
        kind: IfaceKind::guess(&link.name, link.loopback),
        name: link.name,
        up: link.up,
        multicast: link.multicast,
        addrs,
        used,
        beacons_sent: counted.map_or(0, |c| c.sent),
        send_errors: counted.map_or(0, |c| c.errors),
        last_error: counted.and_then(|c| c.last_error.clone()),
        last_error_s_ago: counted.and_then(|c| c.last_error_s_ago),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_kinds_are_guessed_from_names() {
        let kind = |n| IfaceKind::guess(n, false);
        assert_eq!(kind("wlp3s0"), IfaceKind::Wifi);
        assert_eq!(kind("tailscale0"), IfaceKind::Vpn);
        assert_eq!(kind("wg0"), IfaceKind::Vpn);
        assert_eq!(kind("tun0"), IfaceKind::Vpn);
        assert_eq!(kind("docker0"), IfaceKind::Container);
        assert_eq!(kind("br-3f2a"), IfaceKind::Container);
        assert_eq!(kind("veth12ab"), IfaceKind::Container);
        assert_eq!(kind("enp0s31f6"), IfaceKind::Ethernet);
        assert_eq!(kind("eth0"), IfaceKind::Ethernet);
        assert_eq!(IfaceKind::guess("lo", true), IfaceKind::Loopback);
        let json = serde_json::to_string(&IfaceKind::Container).unwrap();
        assert_eq!(json, "\"container\"");
    }
}
