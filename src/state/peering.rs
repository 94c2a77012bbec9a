//! Peer events and dialing, as the state thread handles them: who is online, LIST
//! exchange, NAME, redials with backoff, configured addresses.

use std::time::Instant;

use crate::api::Event;
use crate::bus::{ConnId, DialError, PeerUp};
use crate::identity::NodeId;
use crate::peer::inner::{caps, hint_addr_ok, Inner, ListEntry};

use super::dial_log::{AddrSource, Change, Outcome};
use super::dialer::Source;
use super::peers::{dialable, Reads, UpOutcome};
use super::State;
use crate::rules::short_id as short;

/// How long after a session starts a peer that sent no `CAPS` is taken for one that
/// never will (a node before 2026-12). `CAPS` follows `LIST` at once, so this is only
/// a bound on a slow link; READs to that peer wait this long at most.
pub const CAPS_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

impl State {
    /// Pushes the contact's current `peer` object to every UI.
    pub(super) fn push_peer(&mut self, id: &NodeId) {
        self.peers.clear_changed(id);
        if let Some(peer) = self.peers.api(id) {
            self.subs.broadcast(&Event::Peer { peer });
        }
    }

    /// Sends the `peer` events that incoming messages only marked.
    pub(super) fn flush_unread(&mut self) {
        for id in self.peers.take_changed() {
            self.push_peer(&id);
        }
    }

    /// Starts a dial thread for `target` if the policy allows; true if started.
    pub(super) fn start_dial(
        &mut self,
        target: &str,
        id: Option<&NodeId>,
        source: Source,
        now: Instant,
    ) -> bool {
        if !self.dialer.try_start(target, id, source, now) {
            return false;
        }
        if let Err(e) = (self.dial)(target.to_string(), self.peer_ctx.clone()) {
            log::warn!("{e}");
            self.dialer.finish(target, Err(false), now);
            self.dialer.log.attempt(target, Outcome::Failed(e), now);
            return false;
        }
        log::debug!("dialling {target}");
        true
    }

    pub(super) fn on_peer_up(&mut self, up: PeerUp, dialed: Option<String>, at: Instant) {
        let id = up.id;
        let now = self.clock.now_ms();
        let mut other_key = false;
        if let Some(target) = &dialed {
            other_key = self.dialer.finish(target, Ok(id), at);
            self.dial_hints(at);
        }
        self.note_up(
            &id,
            &up.name,
            dialed.as_deref(),
            dialable(up.addr, up.port),
            at,
        );
        // The user chose this peer's address (`--connect`, `--peers`, `connect`): a
        // contact from the start, never a stranger.
        let chosen = self.dialer.configured_ids().contains(&id)
            || dialed
                .as_deref()
                .is_some_and(|t| self.dialer.has_waiters(t));
        let name = up.name.clone();
        // Renamed while this handshake ran: our HAND carried the old name.
        let renamed = up.our_name != self.name;
        let before = self.peers.get(&id).map(|c| c.name.clone());
        let outcome = self.peers.up(&self.own_id, up, now, at, chosen);
        if chosen && matches!(outcome, UpOutcome::Probing | UpOutcome::Duplicate) {
            // A stranger (it dialled us first) that the user chose: `up` made it a
            // contact, which must be stored now, as the accepted path below does; else
            // a message to it failed its insert (NOT NULL messages.peer) and the send
            // answered 503 (found by tests/doctor_faults.rs, a LAN where the other node
            // heard our beacon before our --connect dial got there).
            self.save_contact(&id);
        }
        match outcome {
            UpOutcome::Refused => {
                // Dropping the queue sender (with the PeerUp) closes the connection.
                return;
            }
            UpOutcome::Probing => {
                // The live link must prove itself (issue 16.7): anything it sends back
                // within PROBE_WAIT keeps it; silence hands over to the new connection.
                self.peers.send(&id, Inner::Ping, now);
                if let Some(target) = &dialed {
                    self.dialer.log.attempt(target, Outcome::Duplicate, at);
                }
                self.answer_connects(dialed.as_deref(), &id);
                return;
            }
            UpOutcome::Duplicate => {
                log::debug!("second connection to {} closed (SPEC §7 rule)", short(&id));
                if let Some(target) = &dialed {
                    self.dialer.log.attempt(target, Outcome::Duplicate, at);
                }
                self.answer_connects(dialed.as_deref(), &id);
                return;
            }
            UpOutcome::Accepted { replaced } => {
                if replaced.is_some() {
                    log::debug!("connection to {} replaced by a newer one", short(&id));
                }
                if let Some(target) = &dialed {
                    let outcome = if other_key {
                        Outcome::OtherKey
                    } else {
                        Outcome::Connected
                    };
                    self.dialer.log.attempt(target, outcome, at);
                }
            }
        }
        self.save_contact(&id);
        self.session_up(&id, dialed.is_none(), at);
        if renamed {
            self.peers.send(&id, Inner::Name(self.name.clone()), now);
        }
        // SPEC §7: after the handshake, LIST the peers we have authenticated ...
        let configured = self.dialer.configured_ids();
        let list = self.peers.list_for(&id, None, &configured);
        self.peers.send(&id, Inner::List(list), now);
        // ... then what this version can do (a peer before 2026-12 ignores it).
        let caps = caps::OURS.iter().map(|c| c.to_string()).collect();
        self.peers.send(&id, Inner::Caps(caps), now);
        // ... and tell the others about this one, so meshes form whatever the order.
        for other in self.peers.online() {
            let entry = self.peers.list_for(&other, Some(&id), &configured);
            if other != id && !entry.is_empty() {
                self.peers.send(&other, Inner::List(entry), now);
            }
        }
        self.push_peer(&id);
        self.refresh_conflicts(before.as_deref(), &name);
        self.answer_connects(dialed.as_deref(), &id);
        self.flush_outbox(id, at);
    }

    /// For `purr doctor` and the log: where `id` was reached (the `target` we dialled,
    /// or an incoming connection from `addr`), and a configured target working again.
    fn note_up(
        &mut self,
        id: &NodeId,
        name: &str,
        target: Option<&str>,
        addr: std::net::SocketAddr,
        at: Instant,
    ) {
        let Some(target) = target else {
            let addr = addr.to_string();
            self.dialer
                .log
                .learned(*id, &addr, AddrSource::Incoming, at);
            return;
        };
        let source = if self.dialer.is_configured(target) {
            Some(AddrSource::Connect)
        } else if self.dialer.log.is_manual(target) {
            Some(AddrSource::Manual)
        } else {
            None // a beacon, a LIST or a stored address: learned as such already
        };
        if let Some(source) = source {
            self.dialer.log.learned(*id, target, source, at);
        }
        if self.dialer.is_configured(target)
            && self.dialer.failing.outcome(target, true) == Some(Change::Recovered)
        {
            log::info!(
                "{target} is reachable again: connected to {name:?} ({})",
                short(id)
            );
        }
    }

    /// Tells UIs that asked to `connect` to `target` which peer answered.
    fn answer_connects(&mut self, target: Option<&str>, id: &NodeId) {
        let Some(target) = target else {
            return;
        };
        let subs = self.dialer.take_waiters(target);
        if subs.is_empty() {
            return;
        }
        if let Some(peer) = self.peers.api(id) {
            for sub in subs {
                self.subs.send(sub, &Event::Peer { peer: peer.clone() });
            }
        }
    }

    /// A name changed from `old` to `new`: contacts sharing either name get a new
    /// `name_conflict` value.
    fn refresh_conflicts(&mut self, old: Option<&str>, new: &str) {
        if old == Some(new) {
            return;
        }
        let mut ids = self.peers.named(new);
        if let Some(old) = old {
            ids.extend(self.peers.named(old));
        }
        for id in ids {
            self.push_peer(&id);
        }
    }

    pub(super) fn on_dial_failed(&mut self, target: String, error: DialError, now: Instant) {
        log::debug!("dial {target} failed: {error}");
        let ourselves = error == DialError::SelfConnection;
        self.dialer.finish(&target, Err(ourselves), now);
        let outcome = Outcome::Failed(error.clone());
        if self.dialer.is_configured(&target)
            && self.dialer.failing.outcome(&target, false) == Some(Change::NowFailing)
        {
            // Once per failure, not per retry: the dialer keeps trying with backoff.
            log::warn!(
                "cannot reach {target} (from --connect/--peers): {}; retrying with backoff (purr doctor shows more)",
                outcome.words().1
            );
        }
        self.dialer.log.attempt(&target, outcome, now);
        self.dial_hints(now);
        for sub in self.dialer.take_waiters(&target) {
            self.subs.send(
                sub,
                &Event::error(format!("{target}: {error}"), Some("connect".into())),
            );
        }
    }

    pub(super) fn on_peer_down(&mut self, conn: ConnId, now: Instant) {
        // A held connection that ends takes nothing with it.
        if let Some(id) = self.peers.candidate_of(conn) {
            self.peers.drop_probe(&id, "it ended");
            return;
        }
        // A probed live link that ends hands over to the held connection.
        let probe = self
            .peers
            .peer_of(conn)
            .filter(|id| self.peers.live_conn(id) == Some(conn))
            .and_then(|id| self.peers.take_probe(&id));
        if let Some(id) = self.peers.down(conn, self.clock.now_ms()) {
            match probe {
                Some(p) => self.adopt(*p, now),
                None => self.now_offline(id, now),
            }
        }
    }

    /// The held connection of a probe becomes the peer's session: as if it had just
    /// authenticated, then what it sent while held is handled.
    fn adopt(&mut self, probe: super::peers::Probe, now: Instant) {
        let super::peers::Probe {
            candidate, held, ..
        } = probe;
        let (id, conn) = (candidate.id, candidate.conn);
        log::info!(
            "peer {}: its earlier connection is gone; {conn} takes over",
            short(&id)
        );
        self.on_peer_up(candidate, None, now);
        for inner in held {
            self.on_peer_msg(conn, inner, now);
        }
    }

    /// Probes whose live link stayed silent for [`super::peers::PROBE_WAIT`]: the live
    /// link is dropped and the held connection takes over.
    fn end_overdue_probes(&mut self, now: Instant) {
        for id in self.peers.probes_overdue(now, super::peers::PROBE_WAIT) {
            let Some(probe) = self.peers.take_probe(&id) else {
                continue;
            };
            self.peers.disconnect(
                &id,
                self.clock.now_ms(),
                "it did not answer a probe while a newer connection waited",
            );
            self.adopt(*probe, now);
        }
    }

    /// Disconnects a peer ourselves (`why`: it stalled, or our disk is far behind): its
    /// connection's threads end once they see the link gone.
    pub(super) fn drop_peer(&mut self, id: NodeId, why: &str, now: Instant) {
        if self.peers.disconnect(&id, self.clock.now_ms(), why) {
            self.now_offline(id, now);
        }
    }

    /// Peers whose queue filled while we sent to them: [`PeerTable::send`] has already
    /// dropped their link. The dialer's backoff for them starts at `now`.
    pub(super) fn after_dropped_links(&mut self, now: Instant) {
        for id in self.peers.take_dropped() {
            self.now_offline(id, now);
        }
    }

    /// A contact has just lost its live link, however it ended: the dialer may try
    /// again, the UIs are told. (Its outbox state went with its `Presence`.)
    fn now_offline(&mut self, id: NodeId, now: Instant) {
        self.files_peer_down(&id);
        self.peers.saw(&id, now);
        self.dialer.disconnected(&id, now);
        self.save_contact(&id);
        self.push_peer(&id);
    }

    pub(super) fn on_peer_msg(&mut self, conn: ConnId, inner: Inner, now: Instant) {
        // Records from a connection that lost a duplicate race are ignored.
        let Some(id) = self.peers.peer_of(conn) else {
            return;
        };
        // A held connection's records wait for the outcome of the probe.
        if self.peers.candidate_of(conn) == Some(id) {
            self.peers.hold(&id, inner);
            return;
        }
        // Anything from a probed live link proves it alive: the held one goes.
        if self.peers.live_conn(&id) == Some(conn) {
            self.peers
                .drop_probe(&id, "the live connection answered its probe");
        }
        if let Some(c) = self.peers.get_mut(&id) {
            c.last_seen = Some(self.clock.now_ms());
        }
        if super::sessions::is_traffic(&inner) {
            self.peers.touch(&id, now);
        }
        match inner {
            Inner::List(entries) => self.learn(id, entries, now),
            Inner::Name(name) => {
                let name = crate::rules::normalize_name(&name);
                let old = self.peers.get(&id).map(|c| c.name.clone());
                if let Some(c) = self.peers.get_mut(&id) {
                    c.name = name.clone();
                }
                self.save_contact(&id);
                self.push_peer(&id);
                self.refresh_conflicts(old.as_deref(), &name);
            }
            Inner::Mess(mess) => self.on_mess(id, mess, now),
            Inner::Ackn(ids) => {
                self.offers_acked(&id, &ids);
                self.peers.progress(&id, now);
                self.on_receipt(id, ids, crate::store::Status::Delivered);
                // The peer is taking what we send: queue more of its outbox.
                self.continue_outbox(id);
            }
            Inner::Read(ids) => self.on_receipt(id, ids, crate::store::Status::Read),
            Inner::Addr(body) => self.on_addr(id, body, now),
            Inner::Caps(caps) => {
                let reads = if caps.iter().any(|c| c == caps::READ_ACK) {
                    Reads::Confirmed { sent_up_to: 0 }
                } else {
                    Reads::Unconfirmed
                };
                self.peers.set_reads(&id, reads);
                self.send_unsent_reads(id);
                self.files_cap_known(id, Self::caps_have_files(&caps));
                self.groups_cap_known(id, caps.iter().any(|c| c == caps::GROUPS));
                self.announce_cap_known(id, caps.iter().any(|c| c == caps::ADDR));
                if caps.iter().any(|c| c == caps::REACH) {
                    self.reach_cap_known(id, now);
                }
            }
            Inner::Rack(ids) => self.on_read_stored(ids),
            Inner::FileOffer(_)
            | Inner::FileRequest(_)
            | Inner::FileCredit(_)
            | Inner::FileChunk(_)
            | Inner::FileEnd(_)
            | Inner::FileDone(_)
            | Inner::FileCancel(_) => self.on_file_msg(id, inner),
            Inner::GroupRoster(_)
            | Inner::GroupMsg(_)
            | Inner::GroupSync(_)
            | Inner::GroupInvite(_)
            | Inner::GroupAccept(_)
            | Inner::GroupDecline(_)
            | Inner::GroupReceipt(_)
            | Inner::GroupLeave(_) => self.on_group_msg(id, inner, now),
            Inner::ReachAsk(ask) => self.on_reach_ask(id, ask, now),
            Inner::ReachAnswer(answer) => self.on_reach_answer(id, answer, now),
            Inner::Auth(_) | Inner::Ping | Inner::Pong | Inner::Unknown(_) => {}
        }
    }

    /// LIST entries from `from`: peers we are not connected to are dialled as automatic
    /// dials allow, the rest queued (SPEC §7: entries are hints, bounded like beacons).
    /// Addresses a peer may not make us dial are dropped here ([`hint_addr_ok`]).
    fn learn(&mut self, from: NodeId, entries: Vec<ListEntry>, now: Instant) {
        let from_loopback = self
            .peers
            .get(&from)
            .and_then(|c| c.link())
            .is_some_and(|l| l.remote.ip().is_loopback());
        let mut refused = 0usize;
        for entry in entries {
            if entry.id == self.own_id || self.peers.is_online(&entry.id) {
                continue;
            }
            let before = entry.addrs.len();
            // LAN first, then VPN (the entry's kinds, or guessed).
            let listed = super::addr_order::listed(&entry.addrs, &entry.kinds);
            let targets: Vec<String> = super::addr_order::dial_order(&[], &listed)
                .iter()
                .map(|(a, _)| *a)
                .filter(|a| hint_addr_ok(a, from_loopback))
                .map(|a| a.to_string())
                .collect();
            refused += before.saturating_sub(targets.len());
            for t in &targets {
                self.dialer.log.learned(entry.id, t, AddrSource::List, now);
            }
            if !targets.is_empty() {
                self.dialer.queue_hint(entry.id, targets);
            }
        }
        if refused > 0 {
            log::debug!(
                "LIST from {}: {refused} addresses we do not dial (unspecified, loopback, multicast, broadcast)",
                short(&from)
            );
        }
        self.dial_hints(now);
    }

    /// Dials queued `LIST` hints while automatic slots are free.
    pub(super) fn dial_hints(&mut self, now: Instant) {
        while let Some((id, targets)) = self.dialer.next_hint() {
            // A peer we hear by beacon is dialled only if we keep a session with it
            // (`sessions`); the LIST may have come before its beacon, and then its
            // session is closed when idle.
            if id == self.own_id || self.peers.is_online(&id) || self.on_demand(&id) {
                continue;
            }
            for target in targets {
                if self.start_dial(&target, Some(&id), Source::Automatic, now) {
                    break;
                }
            }
        }
    }

    /// A beacon from `id` at `addr` (SPEC §4): it is nearby; dial it if we keep a
    /// session with it (a contact: `sessions`) unless it is us or already online.
    /// Beacons can be forged, so the dial goes through the dialer like any automatic one:
    /// its backoff per id and per address and its cap on dials in flight are what stop a
    /// flood of beacons from hammering an address.
    pub(super) fn on_discovered(
        &mut self,
        id: NodeId,
        addr: std::net::SocketAddr,
        via: crate::bus::Heard,
        now: Instant,
    ) {
        if id == self.own_id {
            return;
        }
        // However it was heard, a hint is acted on alike; only its source is kept.
        let source = match via {
            crate::bus::Heard::Multicast => AddrSource::Beacon,
            crate::bus::Heard::Unicast => AddrSource::Scan,
            crate::bus::Heard::Mdns => AddrSource::Mdns,
        };
        self.dialer.log.learned(id, &addr.to_string(), source, now);
        if !self.beacon_heard(id, addr, now) || self.peers.is_online(&id) {
            return;
        }
        self.start_dial(&addr.to_string(), Some(&id), Source::Automatic, now);
    }

    /// Once a second: keep configured addresses and known peers connected.
    pub(super) fn on_tick(&mut self, now: Instant) {
        let peers = &self.peers;
        for target in self.dialer.configured_to_dial(|id| peers.is_online(id)) {
            self.start_dial(&target, None, Source::User, now);
        }
        // An address an online contact uses now is not where an offline one lives.
        let taken: std::collections::HashSet<std::net::SocketAddr> = self
            .peers
            .contacts()
            .filter(|c| c.is_online())
            .flat_map(|c| c.addrs.first().copied())
            .collect();
        // Strangers are not redialled: a beacon or a LIST brings them back if they matter.
        // Each in turn, LAN first, then VPN, then the rest: seen and announced (`ADDR`).
        let offline: Vec<(NodeId, Vec<String>)> = self
            .peers
            .contacts()
            .filter(|c| !c.is_online() && !c.is_stranger())
            .map(|c| {
                let order = super::addr_order::dial_order(&c.addrs, &c.announced);
                let free = order.into_iter().filter(|(a, _)| !taken.contains(a));
                (c.id, free.map(|(a, _)| a.to_string()).collect())
            })
            .collect();
        for (id, targets) in offline {
            for target in targets {
                if self.dialer.in_flight(&target) {
                    break;
                }
                if self.start_dial(&target, Some(&id), Source::Automatic, now) {
                    break;
                }
            }
        }
        self.end_overdue_probes(now);
        self.tick_sessions(now);
        self.tick_gaps(now);
        self.tick_announce(now);
        // A peer whose CAPS did not follow its LIST is an older purr: its READs go out
        // the old way.
        for id in self.peers.caps_overdue(now, CAPS_WAIT) {
            self.peers.set_reads(&id, Reads::Unconfirmed);
            self.send_unsent_reads(id);
            self.files_cap_known(id, false);
        }
        self.expire_offers();
        // Outboxes being re-sent go on even if the peer sends no ACKN.
        for id in self.peers.resending() {
            self.continue_outbox(id);
        }
        self.drop_stalled(now);
        self.dial_hints(now);
        self.dialer.prune(now);
        let expired = self.peers.expire_strangers(now);
        if expired > 0 {
            log::debug!("{expired} strangers forgotten (offline for 10 minutes)");
        }
    }
}
