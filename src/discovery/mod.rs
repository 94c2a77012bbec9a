//! LAN discovery (SPEC §4): one thread that sends this node's beacon and listens for
//! the beacons of others, on IPv4 and IPv6, on every usable interface.
//!
//! It owns its sockets, the list of interfaces and what it has already said; it owns no
//! node state. A valid beacon from another id becomes [`Command::Discovered`] for the
//! state thread, which decides whether to dial, and dials only through the dialer
//! (`state/dialer.rs`): backoff per id and per address, 8 automatic dials in flight. That
//! is what keeps a flood of forged beacons from making the node hammer an address.
//!
//! ```text
//!                       ┌──────────── discovery thread ────────────┐
//!   every interval ───▶ │ send `meow:<id>:<port>` on each interface │──▶ 239.255.77.77:35035
//!   (and at start)      │   (IPv4 and IPv6)                         │──▶ [ff02::7075:7272]:35035
//!   every minute  ───▶  │ re-list interfaces, join new ones         │
//!   every second  ───▶  │ our addresses (own_addrs): on a change ───┼──OwnAddrs──▶ state
//!                       │   re-list interfaces at once too          │
//!   12 intervals  ───▶  │ leave + join every group again (≤ 60 s)   │  (IGMP snooping)
//!   poll(2) ─readable─▶ │ parse ─▶ not us ─▶ Reports (1 per id/2 s) │──Discovered{id, addr}──▶ state
//!                       └───────────────────────────────────────────┘       │ on_discovered
//!                                                                dialer (backoff, cap) ──▶ dial thread
//! ```
//!
//! Nothing here is fatal (the issue's "never fatal"): no usable interface, no IPv6, a
//! port held without `SO_REUSEPORT`, an interface that vanishes between two sends; each
//! is logged once (`Warnings`) and retried at the next look at the interfaces, and the
//! node runs on. `--no-discovery` means this module is never started: no socket at all.
//!
//! The thread is not joined at shutdown, like the connection threads: it ends when the
//! state thread is gone (its next report fails) or with the process.

pub mod beacon;
pub mod ifaces;
pub mod own_addrs;
pub mod reports;
pub mod sockets;
pub mod stats;

use std::collections::HashSet;
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::time::{Duration, Instant};

use rustix::event::{poll, PollFd, PollFlags, Timespec};

use crate::bus::{Command, OwnAddr, StateHandle};
use crate::identity::NodeId;
use beacon::Beacon;
use ifaces::Iface;
use reports::Reports;
use sockets::{Family, Warnings};
use stats::Counters;

/// How often the interfaces are listed again, so that a cable plugged in later (or an
/// address from a late DHCP answer) is used. Sooner after a failed send, and at every
/// beacon while no interface is usable.
pub const RESCAN: Duration = Duration::from_secs(60);
/// Beacon intervals between two re-joins of the groups (at most [`REJOIN_MAX`]). A
/// switch snooping IGMP/MLD with no querier on the LAN learns members only from their
/// unsolicited reports and forgets them after its membership interval (260 s by
/// default): beacons from a node then stop a few minutes after it started. Each re-join
/// is a new report. Measured in tests/doctor_faults.rs on a Linux bridge whose members
/// expire after 20 s: without it the beacons stop, with it they go on.
pub const REJOIN_BEACONS: u32 = 12;
/// The longest time between two re-joins: well inside the usual 260 s.
pub const REJOIN_MAX: Duration = Duration::from_secs(60);
/// The receive buffer: any datagram longer than [`beacon::MAX_LEN`] is rejected, this
/// only has to be big enough to see that it is.
const RECV_BUF: usize = 2048;
/// Datagrams read per wake-up before the thread looks at its clock again, so a flood
/// cannot delay our own beacons.
const MAX_READS_PER_WAKE: usize = 256;

/// What discovery needs to know.
pub struct Config {
    /// This node's id: put in the beacon, and ignored when heard.
    pub id: NodeId,
    /// This node's TCP port, the one in the beacon.
    pub port: u16,
    /// `--beacon-interval`.
    pub interval: Duration,
    /// Where `Discovered` goes.
    pub state: StateHandle,
}

/// The time between two re-joins for a beacon `interval`.
fn rejoin_every(interval: Duration) -> Duration {
    (interval * REJOIN_BEACONS).min(REJOIN_MAX)
}

/// Starts the discovery thread.
pub fn spawn(config: Config) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("discovery".into())
        .stack_size(crate::threads::THREAD_STACK)
        .spawn(move || Discovery::new(config).run())
}

/// The discovery thread's state. See the module docs.
struct Discovery {
    config: Config,
    beacon: Vec<u8>,
    send_v4: Option<UdpSocket>,
    send_v6: Option<UdpSocket>,
    listen_v4: Option<UdpSocket>,
    listen_v6: Option<UdpSocket>,
    ifaces: Vec<Iface>,
    /// Which listener has joined its group on which interface index.
    joined: HashSet<(Family, u32)>,
    warnings: Warnings,
    reports: Reports,
    /// Beacons sent and heard, for `purr doctor`.
    counters: Counters,
    next_beacon: Instant,
    next_scan: Instant,
    /// Our addresses as last reported to the state (`own_addrs`), and when to look.
    own: Option<Vec<OwnAddr>>,
    next_own: Instant,
    next_rejoin: Instant,
}

impl Discovery {
    fn new(config: Config) -> Discovery {
        let now = Instant::now();
        let config_interval = config.interval;
        Discovery {
            beacon: Beacon {
                id: config.id,
                port: config.port,
            }
            .emit(),
            config,
            send_v4: None,
            send_v6: None,
            listen_v4: None,
            listen_v6: None,
            ifaces: Vec::new(),
            joined: HashSet::new(),
            warnings: Warnings::default(),
            reports: Reports::default(),
            counters: Counters::new(now),
            next_beacon: now,
            next_scan: now,
            own: None,
            next_own: now,
            next_rejoin: now + rejoin_every(config_interval),
        }
    }

    fn run(mut self) {
        log::info!(
            "LAN discovery: a beacon every {} s to {}:{port} and [{}]:{port}",
            self.config.interval.as_secs(),
            sockets::GROUP_V4,
            sockets::GROUP_V6,
            port = sockets::PORT,
        );
        loop {
            let now = Instant::now();
            if now >= self.next_own && !self.look_at_own_addrs(now) {
                log::debug!("LAN discovery stopped: the state thread is gone");
                return;
            }
            if now >= self.next_scan {
                self.rescan(now);
            }
            if now >= self.next_beacon {
                self.send_beacons(now);
            }
            if now >= self.next_rejoin {
                self.rejoin(now);
            }
            let next = self
                .next_scan
                .min(self.next_beacon)
                .min(self.next_own)
                .min(self.next_rejoin);
            if !self.wait_and_read(next) {
                log::debug!("LAN discovery stopped: the state thread is gone");
                return;
            }
        }
    }

    /// Lists our addresses; when they changed, tells the state (which announces them
    /// and drops links whose local address is gone) and looks at the interfaces for
    /// beacons at once, so that a VPN coming up is used within a second, not a minute.
    /// False when the state thread is gone.
    fn look_at_own_addrs(&mut self, now: Instant) -> bool {
        self.next_own = now + own_addrs::POLL;
        let Some(own) = own_addrs::now() else {
            return true;
        };
        if self.own.as_ref() == Some(&own) {
            return true;
        }
        if self.own.is_some() {
            self.next_scan = now;
        }
        self.own = Some(own.clone());
        self.config.state.send(Command::OwnAddrs(own))
    }

    /// Lists the interfaces, opens the sockets a family needs once it has an interface,
    /// and joins the groups on interfaces not joined yet.
    fn rescan(&mut self, now: Instant) {
        let found = ifaces::usable();
        // With nothing to send on, look at every beacon instead: a node started before
        // its network is up (or whose only cable was pulled) joins it within one interval.
        self.next_scan = now
            + if found.is_empty() {
                self.config.interval
            } else {
                RESCAN
            };
        if found.is_empty() {
            self.warnings.warn(
                "no interface",
                format_args!(
                    "no interface is up, multicast-capable and not loopback; \
                     looking again at every beacon (peers can be given with --connect or --peers)"
                ),
            );
        }
        // Forget joins on interfaces that vanished (their memberships went with them) or
        // went down (the kernel keeps those; joining again answers EADDRINUSE, which
        // `sockets::join` takes as success).
        self.joined
            .retain(|(family, index)| found.iter().any(|i| i.index == *index && has(i, *family)));
        for family in [Family::V4, Family::V6] {
            let on: Vec<&Iface> = found.iter().filter(|i| has(i, family)).collect();
            if on.is_empty() {
                continue;
            }
            self.open(family);
            let listener = match family {
                Family::V4 => self.listen_v4.as_ref(),
                Family::V6 => self.listen_v6.as_ref(),
            };
            let Some(listener) = listener else {
                self.joined.retain(|(f, _)| *f != family);
                continue;
            };
            let mut failed = Vec::new();
            for iface in on {
                if self.joined.contains(&(family, iface.index)) {
                    continue;
                }
                match sockets::join(listener, family, iface.index) {
                    Ok(()) => {
                        self.joined.insert((family, iface.index));
                    }
                    Err(e) => failed.push((iface.name.clone(), e)),
                }
            }
            for (name, e) in failed {
                self.warnings.warn(
                    &format!("join {family} {name}"),
                    format_args!("cannot join the {family} group on {name}: {e}"),
                );
            }
        }
        if found != self.ifaces {
            let names: Vec<String> = found.iter().map(describe).collect();
            log::info!("LAN discovery on: {}", names.join(", "));
        }
        self.ifaces = found;
    }

    /// Leaves and joins every group joined, so each interface reports its membership
    /// again (see [`REJOIN_BEACONS`]). A failure is left to the next scan, which joins
    /// what is not joined.
    fn rejoin(&mut self, now: Instant) {
        self.next_rejoin = now + rejoin_every(self.config.interval);
        let joined: Vec<(Family, u32)> = self.joined.iter().copied().collect();
        for (family, index) in joined {
            let Some(listener) = self.listener(family) else {
                continue;
            };
            if let Err(e) = sockets::rejoin(listener, family, index) {
                log::debug!("LAN discovery: re-joining the {family} group on {index}: {e}");
                self.joined.remove(&(family, index));
            }
        }
    }

    /// Opens the sender and listener of `family` if they are not open (again: a port
    /// held by another program may be free at the next scan).
    fn open(&mut self, family: Family) {
        let (send, listen) = match family {
            Family::V4 => (&mut self.send_v4, &mut self.listen_v4),
            Family::V6 => (&mut self.send_v6, &mut self.listen_v6),
        };
        if send.is_none() {
            match sockets::sender(family) {
                Ok(s) => *send = Some(s),
                Err(e) => {
                    self.warnings.warn(
                        &format!("sender {family}"),
                        format_args!("cannot open the {family} beacon sender: {e}"),
                    );
                }
            }
        }
        if listen.is_none() {
            match sockets::listener(family) {
                Ok(s) => *listen = Some(s),
                Err(e) => {
                    self.warnings.warn(
                        &format!("listener {family}"),
                        format_args!(
                            "cannot listen on UDP port {} ({family}): {e}",
                            sockets::PORT
                        ),
                    );
                }
            }
        }
    }

    fn listener(&self, family: Family) -> Option<&UdpSocket> {
        match family {
            Family::V4 => self.listen_v4.as_ref(),
            Family::V6 => self.listen_v6.as_ref(),
        }
    }

    /// Sends the beacon on every interface, in both families where it has them. A
    /// failure (an interface gone, its address removed) brings the next scan forward.
    fn send_beacons(&mut self, now: Instant) {
        self.next_beacon = now + self.config.interval;
        let mut failed = Vec::new();
        for iface in &self.ifaces {
            if let (Some(via), Some(s)) = (iface.v4, &self.send_v4) {
                let sent = sockets::send_v4(s, via, &self.beacon);
                self.counters
                    .sent(&iface.name, sent.as_ref().map(drop), now);
                if let Err(e) = sent {
                    failed.push((Family::V4, iface.name.clone(), e));
                }
            }
            if let (true, Some(s)) = (iface.v6, &self.send_v6) {
                let sent = sockets::send_v6(s, iface.index, &self.beacon);
                self.counters
                    .sent(&iface.name, sent.as_ref().map(drop), now);
                if let Err(e) = sent {
                    failed.push((Family::V6, iface.name.clone(), e));
                }
            }
        }
        if !failed.is_empty() {
            self.next_scan = self.next_scan.min(self.next_beacon);
        }
        for (family, name, e) in failed {
            self.warnings.warn(
                &format!("send {family} {name}"),
                format_args!("cannot send the {family} beacon on {name}: {e}"),
            );
        }
        // The state keeps the latest for `GET /api/v1/diag`; a gone state thread is
        // noticed at the next report.
        let stats = Box::new(self.counters.snapshot());
        self.config.state.send(Command::DiscoveryStats(stats));
    }

    /// Waits until `until` for beacons, handling those that arrive. False when the state
    /// thread is gone.
    fn wait_and_read(&mut self, until: Instant) -> bool {
        let timeout = until.saturating_duration_since(Instant::now());
        let ready: Vec<(Family, bool)> = {
            let mut fds = Vec::with_capacity(2);
            let mut families = Vec::with_capacity(2);
            for family in [Family::V4, Family::V6] {
                if let Some(s) = self.listener(family) {
                    fds.push(PollFd::new(s, PollFlags::IN));
                    families.push(family);
                }
            }
            if fds.is_empty() {
                std::thread::sleep(timeout);
                return true;
            }
            let ts = Timespec::try_from(timeout).ok();
            match poll(&mut fds, ts.as_ref()) {
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => return true,
                Err(e) => {
                    self.warnings
                        .warn("poll", format_args!("waiting for beacons failed: {e}"));
                    std::thread::sleep(timeout.min(Duration::from_secs(1)));
                    return true;
                }
            }
            families
                .into_iter()
                .zip(&fds)
                .filter(|(_, fd)| !fd.revents().is_empty())
                .map(|(f, fd)| (f, fd.revents().contains(PollFlags::ERR)))
                .collect()
        };
        ready.into_iter().all(|(family, error)| {
            if error {
                self.clear_error(family);
            }
            self.read(family)
        })
    }

    /// A pending socket error (an ICMP error, say) makes `poll` return at once until it
    /// is read; read it, so that the thread does not spin.
    fn clear_error(&mut self, family: Family) {
        let pending = self
            .listener(family)
            .and_then(|s| s.take_error().ok().flatten());
        if let Some(e) = pending {
            self.warnings.warn(
                &format!("receive {family}"),
                format_args!("the {family} listener reported: {e}"),
            );
        }
    }

    /// Reads what is queued on `family`'s listener. False when the state thread is gone.
    fn read(&mut self, family: Family) -> bool {
        let mut buf = [0u8; RECV_BUF];
        for _ in 0..MAX_READS_PER_WAKE {
            let Some(listener) = self.listener(family) else {
                return true;
            };
            match listener.recv_from(&mut buf) {
                Ok((n, from)) => {
                    if !self.on_datagram(&buf[..n], from) {
                        return false;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.warnings.warn(
                        &format!("receive {family}"),
                        format_args!("cannot receive {family} beacons: {e}"),
                    );
                    // Whatever it is, do not spin on it.
                    std::thread::sleep(Duration::from_millis(100));
                    break;
                }
            }
        }
        true
    }

    /// One datagram from `from`. False when the state thread is gone.
    fn on_datagram(&mut self, data: &[u8], from: SocketAddr) -> bool {
        let beacon = match Beacon::parse(data) {
            Ok(b) => b,
            Err(why) => {
                log::trace!("ignored a datagram from {from}: {why}");
                return true;
            }
        };
        if beacon.id == self.config.id {
            return true;
        }
        let addr = dial_addr(from, beacon.port);
        let now = Instant::now();
        self.counters
            .heard(beacon.id, from, addr, &self.ifaces, now);
        let Some(addr) = self.reports.heard(beacon.id, addr, now) else {
            return true;
        };
        log::debug!(
            "beacon from {} at {addr}",
            crate::rules::short_id(&beacon.id)
        );
        self.config.state.send(Command::Discovered {
            id: beacon.id,
            addr,
        })
    }
}

/// Whether discovery uses `family` on `iface`.
fn has(iface: &Iface, family: Family) -> bool {
    match family {
        Family::V4 => iface.v4.is_some(),
        Family::V6 => iface.v6,
    }
}

/// `eth0 (IPv4 10.0.0.2, IPv6)`, for the log.
fn describe(iface: &Iface) -> String {
    match (iface.v4, iface.v6) {
        (Some(v4), true) => format!("{} (IPv4 {v4}, IPv6)", iface.name),
        (Some(v4), false) => format!("{} (IPv4 {v4})", iface.name),
        (None, _) => format!("{} (IPv6)", iface.name),
    }
}

/// Where the beacon's sender can be dialled: its source address with the beacon's port.
/// An IPv6 link-local source keeps its scope (the interface it came in on): without it,
/// `fe80::…` cannot be dialled.
pub fn dial_addr(from: SocketAddr, port: u16) -> SocketAddr {
    match from {
        SocketAddr::V4(a) => SocketAddrV4::new(*a.ip(), port).into(),
        SocketAddr::V6(a) => SocketAddrV6::new(*a.ip(), port, 0, a.scope_id()).into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dial_addresses_take_the_beacon_port_and_keep_the_scope() {
        let v4: SocketAddr = "10.0.0.2:40000".parse().unwrap();
        assert_eq!(dial_addr(v4, 35035).to_string(), "10.0.0.2:35035");
        let ll: SocketAddr = "[fe80::1%7]:40000".parse().unwrap();
        let dial = dial_addr(ll, 4242);
        assert_eq!(dial.to_string(), "[fe80::1%7]:4242");
        // The dial thread resolves the target string: the scope must survive it.
        assert_eq!(dial.to_string().parse::<SocketAddr>().unwrap(), dial);
        let ula: SocketAddr = "[fd00::2]:1".parse().unwrap();
        assert_eq!(dial_addr(ula, 2).to_string(), "[fd00::2]:2");
    }

    #[test]
    fn interfaces_are_described_for_the_log() {
        let mut i = Iface {
            index: 3,
            name: "eth0".into(),
            v4: Some(std::net::Ipv4Addr::new(10, 0, 0, 2)),
            v6: true,
        };
        assert_eq!(describe(&i), "eth0 (IPv4 10.0.0.2, IPv6)");
        i.v6 = false;
        assert_eq!(describe(&i), "eth0 (IPv4 10.0.0.2)");
        i.v4 = None;
        i.v6 = true;
        assert_eq!(describe(&i), "eth0 (IPv6)");
        assert!(has(&i, Family::V6) && !has(&i, Family::V4));
    }
}
