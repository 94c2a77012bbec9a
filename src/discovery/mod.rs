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
//!   (at start, +1 s)    │   (IPv4 and IPv6)                         │──▶ [ff02::7075:7272]:35035
//!   every minute  ───▶  │ re-list interfaces, join new ones         │
//!   every second  ───▶  │ our addresses (own_addrs): on a change ───┼──OwnAddrs──▶ state
//!                       │   re-list interfaces at once too          │
//!   12 intervals  ───▶  │ leave + join every group again (≤ 60 s)   │  (IGMP snooping)
//!   poll(2) ─readable─▶ │ parse ─▶ not us ─▶ Reports (1 per id/2 s) │──Discovered{id, addr, via}──▶ state
//!   --scan sweeps ───▶  │ the same beacon by unicast to each host   │──▶ <host>:35035 (256/s)
//!   unicast :35035 ──▶  │ parse ─▶ answer once (limits) ─▶ Reports  │       │ on_discovered
//!   every 60 s ─────▶   │ mDNS query _purr._tcp ─▶ answers (mdns)   │       │
//!                       └───────────────────────────────────────────┘       ▼
//!                                                                dialer (backoff, cap) ──▶ dial thread
//! ```
//!
//! Beyond the segment (issue 20.4, 20.5): a unicast beacon (`scan`) and an mDNS answer
//! (`mdns`) become the same `Discovered` as a multicast beacon, tagged with how they
//! were heard ([`Heard`]); what to dial is still the dialer's decision.
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
pub mod mdns;
pub mod own_addrs;
pub mod reports;
pub mod scan;
pub mod sockets;
pub mod stats;

use std::collections::HashSet;
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::time::{Duration, Instant};

use rustix::event::{poll, PollFd, PollFlags, Timespec};

use crate::bus::{Command, Heard, OwnAddr, StateHandle};
use crate::identity::NodeId;
use beacon::Beacon;
use ifaces::Iface;
use reports::Reports;
use scan::{Replies, Scanner};
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
/// Probes sent per wake-up at most (the bucket's burst is smaller anyway), so that a
/// sweep never keeps the thread from reading.
const MAX_PROBES_PER_WAKE: usize = 64;
/// Addresses remembered as having answered a probe (only counted for `purr doctor`).
const MAX_ANSWERED: usize = 4096;
/// How often the mDNS query for `_purr._tcp` goes out (and once at start). Answers are
/// only hints for nodes Avahi publishes; a found node becomes a contact that the dialer
/// redials by itself, so once a minute is plenty.
pub const MDNS_EVERY: Duration = Duration::from_secs(60);
/// The receive buffer for mDNS answers (a whole Ethernet frame's worth; RFC 6762 §17
/// answers are at most 9000 bytes, a bigger one is cut and then fails to parse).
const MDNS_BUF: usize = 9000;

/// After the first beacon the second comes this soon, then every interval. A switch
/// with IGMP snooping forwards the group to a port only once it has seen that port's
/// join, and nodes started together each join just before their first beacon: a node's
/// first beacon can be lost to another that started at the same moment, which then saw
/// it only a whole interval later (one office run in three: 5.1 s instead of 0.2 s).
/// RFC 6762 §8.3 repeats an announcement a second later for the same reason.
pub const SECOND_BEACON_AFTER: Duration = Duration::from_secs(1);

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
    /// `--scan`: ranges to probe with unicast beacons (none: only hear and answer them).
    pub scan: Vec<scan::Range>,
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
    /// Hears beacons sent to us alone, and sends probes and answers (`scan`).
    unicast: Option<UdpSocket>,
    /// `--scan`'s sweeps; `None` without ranges.
    scanner: Option<Scanner>,
    /// Answers to unicast beacons, rate-limited.
    replies: Replies,
    /// Addresses in the scanned ranges whose beacon came to us (bounded).
    answered: HashSet<std::net::Ipv4Addr>,
    /// The mDNS query socket (an ephemeral port, never 5353), the current query's id,
    /// and when the next query goes out.
    mdns: Option<UdpSocket>,
    mdns_id: u16,
    next_mdns: Instant,
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
    /// Beacons sent since the start (the second comes [`SECOND_BEACON_AFTER`] after the
    /// first; counted up to 2).
    beacons_sent: u8,
}

impl Discovery {
    fn new(config: Config) -> Discovery {
        let now = Instant::now();
        let scanner = (!config.scan.is_empty()).then(|| Scanner::new(config.scan.clone(), now));
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
            unicast: None,
            scanner,
            replies: Replies::new(now),
            answered: HashSet::new(),
            mdns: None,
            mdns_id: 0,
            next_mdns: now,
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
            beacons_sent: 0,
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
        if let Some(s) = &self.scanner {
            let ranges: Vec<String> = s.ranges().iter().map(ToString::to_string).collect();
            log::info!(
                "LAN discovery: scanning {} by unicast beacons ({} probes/s; again after {} s, \
                 then every {} s)",
                ranges.join(", "),
                scan::RATE_PER_S,
                scan::SECOND_SWEEP.as_secs(),
                scan::SWEEP_EVERY.as_secs(),
            );
        }
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
            if now >= self.next_mdns {
                self.query_mdns(now);
            }
            if now >= self.next_rejoin {
                self.rejoin(now);
            }
            self.send_held_answers(now);
            let mut wake = self
                .next_scan
                .min(self.next_beacon)
                .min(self.next_own)
                .min(self.next_mdns)
                .min(self.next_rejoin);
            if let Some(at) = self.replies.wake_at(now) {
                wake = wake.min(at);
            }
            if self.scanner.is_some() {
                self.probe(now);
                if let Some(s) = &mut self.scanner {
                    wake = wake.min(s.wake_at(now));
                }
            }
            if !self.wait_and_read(wake) {
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
        let links = match ifaces::links() {
            Ok(links) => links,
            Err(e) => {
                log::warn!("cannot list network interfaces: {e}");
                Vec::new()
            }
        };
        if let Some(s) = &mut self.scanner {
            // Never probe ourselves: every address of every interface, usable or not.
            s.set_own(links.iter().flat_map(|l| l.v4.iter().copied()));
        }
        // Unicast beacons need no multicast-capable interface (a VPN has none): the
        // listener is opened whatever the interfaces, and again if it failed.
        if self.unicast.is_none() {
            match sockets::unicast_listener() {
                Ok(s) => self.unicast = Some(s),
                Err(e) => {
                    self.warnings.warn(
                        "listener unicast",
                        format_args!(
                            "cannot listen for unicast beacons on UDP port {}: {e}",
                            sockets::PORT
                        ),
                    );
                }
            }
        }
        let found: Vec<Iface> = links.into_iter().filter_map(ifaces::select).collect();
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

    fn ear(&self, ear: Ear) -> Option<&UdpSocket> {
        match ear {
            Ear::Group(family) => self.listener(family),
            Ear::Unicast => self.unicast.as_ref(),
            Ear::Mdns => self.mdns.as_ref(),
        }
    }

    /// Sends the one-shot mDNS query for `_purr._tcp.local` on every IPv4 interface
    /// (RFC 6762 §5.1: from an ephemeral port; answers come back to it by unicast).
    fn query_mdns(&mut self, now: Instant) {
        self.next_mdns = now + MDNS_EVERY;
        if self.mdns.is_none() {
            match sockets::mdns_querier() {
                Ok(s) => self.mdns = Some(s),
                Err(e) => {
                    self.warnings.warn(
                        "mdns socket",
                        format_args!("cannot open a socket for mDNS queries: {e}"),
                    );
                    return;
                }
            }
        }
        let Some(socket) = &self.mdns else { return };
        // A fresh id per round: an answer must echo it (a stray or forged datagram to
        // our port mostly will not).
        self.mdns_id = crate::rng::bytes::<2>()
            .map(u16::from_be_bytes)
            .unwrap_or(self.mdns_id.wrapping_add(1));
        let query = mdns::query(self.mdns_id);
        let mut failed = Vec::new();
        for iface in &self.ifaces {
            let Some(via) = iface.v4 else { continue };
            let m = self.counters.mdns();
            match sockets::send_mdns(socket, via, &query) {
                Ok(()) => m.queries += 1,
                Err(e) => {
                    m.errors += 1;
                    failed.push((iface.name.clone(), e));
                }
            }
        }
        for (name, e) in failed {
            self.warnings.warn(
                &format!("mdns {name}"),
                format_args!("cannot send the mDNS query on {name}: {e}"),
            );
        }
    }

    /// An answer on the mDNS socket. False when the state thread is gone.
    fn on_mdns(&mut self, data: &[u8], from: SocketAddr) -> bool {
        // A responder answers from 5353 (RFC 6762 §6.7); anything else is not one.
        if from.port() != mdns::MDNS_PORT {
            return true;
        }
        let found = match mdns::parse(data, self.mdns_id, from.ip()) {
            Ok(found) => found,
            Err(why) => {
                if matches!(why, mdns::MdnsError::Malformed(_)) {
                    self.counters.mdns().malformed += 1;
                }
                log::trace!("ignored an mDNS datagram from {from}: {why}");
                return true;
            }
        };
        self.counters.mdns().answers += 1;
        let now = Instant::now();
        for f in found {
            if f.id == self.config.id {
                continue;
            }
            // One address per node per answer: the dialer's backoff and the 2 s
            // report limit apply as to beacons; the next answer brings the next one.
            let Some(&addr) = f.addrs.first() else {
                continue;
            };
            self.counters.mdns().found += 1;
            let Some(addr) = self.reports.heard(f.id, addr, now) else {
                continue;
            };
            log::debug!("mDNS: {} at {addr}", crate::rules::short_id(&f.id));
            let sent = self.config.state.send(Command::Discovered {
                id: f.id,
                addr,
                via: Heard::Mdns,
            });
            if !sent {
                return false;
            }
        }
        true
    }

    /// Sends the probes a sweep has due now (the bucket decides how many).
    fn probe(&mut self, now: Instant) {
        let Some(scanner) = &mut self.scanner else {
            return;
        };
        let mut failed = None;
        for _ in 0..MAX_PROBES_PER_WAKE {
            let Some(to) = scanner.next(now) else { break };
            let sent = match &self.unicast {
                Some(s) => sockets::send_unicast(s, to, &self.beacon),
                None => Err(std::io::Error::other("no unicast socket")),
            };
            if let Err(e) = sent {
                scanner.failed();
                failed = Some((to, e));
            }
        }
        if let Some((to, e)) = failed {
            self.warnings.warn(
                "scan send",
                format_args!("cannot send a unicast beacon to {to} (--scan): {e}"),
            );
        }
    }

    /// How long until the next beacon, this one counted: [`SECOND_BEACON_AFTER`] after
    /// the first (or the interval, if shorter), the interval after every other.
    fn after_this_beacon(&mut self) -> Duration {
        self.beacons_sent = self.beacons_sent.saturating_add(1).min(2);
        if self.beacons_sent == 1 {
            SECOND_BEACON_AFTER.min(self.config.interval)
        } else {
            self.config.interval
        }
    }

    /// Sends the beacon on every interface, in both families where it has them. A
    /// failure (an interface gone, its address removed) brings the next scan forward.
    fn send_beacons(&mut self, now: Instant) {
        self.next_beacon = now + self.after_this_beacon();
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
        if let Some(s) = &self.scanner {
            let u = self.counters.unicast();
            u.ranges = s.ranges().iter().map(ToString::to_string).collect();
            u.sweeps = s.counts.sweeps;
            u.sent = s.counts.sent;
            u.errors = s.counts.errors;
            u.answered = self.answered.len() as u64;
        }
        self.counters.unicast().replies = self.replies.sent;
        let stats = Box::new(self.counters.snapshot());
        self.config.state.send(Command::DiscoveryStats(stats));
    }

    /// Waits until `until` for beacons, handling those that arrive. False when the state
    /// thread is gone.
    fn wait_and_read(&mut self, until: Instant) -> bool {
        let timeout = until.saturating_duration_since(Instant::now());
        let ready: Vec<(Ear, bool)> = {
            let mut fds = Vec::with_capacity(EARS.len());
            let mut families = Vec::with_capacity(EARS.len());
            for ear in EARS {
                if let Some(s) = self.ear(ear) {
                    fds.push(PollFd::new(s, PollFlags::IN));
                    families.push(ear);
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
        ready.into_iter().all(|(ear, error)| {
            if error {
                self.clear_error(ear);
            }
            self.read(ear)
        })
    }

    /// A pending socket error (an ICMP error, say) makes `poll` return at once until it
    /// is read; read it, so that the thread does not spin.
    fn clear_error(&mut self, ear: Ear) {
        let pending = self.ear(ear).and_then(|s| s.take_error().ok().flatten());
        if let Some(e) = pending {
            self.warnings.warn(
                &format!("receive {ear}"),
                format_args!("the {ear} listener reported: {e}"),
            );
        }
    }

    /// Reads what is queued on one listener. False when the state thread is gone.
    fn read(&mut self, ear: Ear) -> bool {
        let mut buf = vec![0u8; if ear == Ear::Mdns { MDNS_BUF } else { RECV_BUF }];
        let via = match ear {
            Ear::Group(_) => Heard::Multicast,
            Ear::Unicast | Ear::Mdns => Heard::Unicast,
        };
        for _ in 0..MAX_READS_PER_WAKE {
            let Some(listener) = self.ear(ear) else {
                return true;
            };
            match listener.recv_from(&mut buf) {
                Ok((n, from)) => {
                    let alive = if ear == Ear::Mdns {
                        self.on_mdns(&buf[..n], from)
                    } else {
                        self.on_datagram(&buf[..n], from, via)
                    };
                    if !alive {
                        return false;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.warnings.warn(
                        &format!("receive {ear}"),
                        format_args!("cannot receive {ear} beacons: {e}"),
                    );
                    // Whatever it is, do not spin on it.
                    std::thread::sleep(Duration::from_millis(100));
                    break;
                }
            }
        }
        true
    }

    /// One datagram from `from`, heard `via` the group or unicast. False when the state
    /// thread is gone.
    fn on_datagram(&mut self, data: &[u8], from: SocketAddr, via: Heard) -> bool {
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
        // `heard` is the multicast beacons' (purr doctor tells "multicast filtered" by
        // it); unicast ones are counted apart, and their sources show as `scan`.
        if via == Heard::Unicast {
            self.on_unicast(from, now);
        } else if self
            .counters
            .heard(beacon.id, from, addr, &self.ifaces, now)
        {
            self.greet(from, now);
        }
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
            via,
        })
    }

    /// A node we had not heard on that interface beaconed from `from`: we answer with our
    /// beacon by unicast, within the limits of [`Replies`], so that it lists us at once
    /// instead of at our next beacon (up to `--beacon-interval` later). Since strangers
    /// are only `nearby` (no session, no `LIST` to tell them of us), a node that starts
    /// would otherwise see the office only as each desk's next beacon comes round.
    fn greet(&mut self, from: SocketAddr, now: Instant) {
        let SocketAddr::V4(from) = from else { return };
        let ip = *from.ip();
        if !self.replies.should_answer(ip, now) {
            return;
        }
        if let Some(s) = &self.unicast {
            if let Err(e) = sockets::send_unicast(s, ip, &self.beacon) {
                log::debug!("LAN discovery: cannot greet {ip} by unicast: {e}");
            }
        }
    }

    /// Sends the answers and greetings the rate held back whose turn has come.
    fn send_held_answers(&mut self, now: Instant) {
        while let Some(ip) = self.replies.next_due(now) {
            if let Some(s) = &self.unicast {
                if let Err(e) = sockets::send_unicast(s, ip, &self.beacon) {
                    log::debug!("LAN discovery: cannot greet {ip} by unicast: {e}");
                }
            }
        }
    }

    /// A valid unicast beacon of another node came from `from`: an answer to our probe
    /// (counted), or a probe of theirs (answered with our beacon, within the limits).
    fn on_unicast(&mut self, from: SocketAddr, now: Instant) {
        self.counters.unicast().heard += 1;
        let SocketAddr::V4(from) = from else { return };
        let ip = *from.ip();
        if self.scanner.as_ref().is_some_and(|s| s.covers(ip)) {
            if self.answered.len() < MAX_ANSWERED {
                self.answered.insert(ip);
            }
            return;
        }
        self.greet(SocketAddr::V4(from), now);
    }
}

/// The sockets discovery reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ear {
    /// A group listener (multicast beacons).
    Group(Family),
    /// The IPv4 unicast listener (`--scan` probes and answers).
    Unicast,
    /// The mDNS query socket (answers to our queries).
    Mdns,
}

const EARS: [Ear; 4] = [
    Ear::Group(Family::V4),
    Ear::Group(Family::V6),
    Ear::Unicast,
    Ear::Mdns,
];

impl std::fmt::Display for Ear {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ear::Group(family) => write!(f, "{family}"),
            Ear::Unicast => f.write_str("unicast"),
            Ear::Mdns => f.write_str("mDNS"),
        }
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
    fn the_second_beacon_comes_a_second_after_the_first_then_every_interval() {
        let config = |secs| Config {
            id: [7; 32],
            port: 35035,
            interval: Duration::from_secs(secs),
            state: StateHandle::detached().0,
            scan: Vec::new(),
        };
        let mut d = Discovery::new(config(5));
        let t0 = Instant::now();
        d.send_beacons(t0);
        assert_eq!(d.next_beacon, t0 + SECOND_BEACON_AFTER);
        let t1 = t0 + SECOND_BEACON_AFTER;
        d.send_beacons(t1);
        assert_eq!(d.next_beacon, t1 + Duration::from_secs(5));
        for i in 2..5u64 {
            let t = t1 + Duration::from_secs(5 * (i - 1));
            d.send_beacons(t);
            assert_eq!(d.next_beacon, t + Duration::from_secs(5));
        }
        // An interval shorter than the second's gap is kept from the start.
        let mut quick = Discovery::new(Config {
            interval: Duration::from_millis(200),
            ..config(1)
        });
        quick.send_beacons(t0);
        assert_eq!(quick.next_beacon, t0 + Duration::from_millis(200));
    }

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
