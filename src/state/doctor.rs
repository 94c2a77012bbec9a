//! The state's part of `GET /api/v1/diag` (issue 20): the node, discovery's last
//! counters, the configured targets and every contact with its addresses, last dial
//! attempts, backoff and live path. Times become "seconds ago" here, against the `now`
//! the handler is given.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::bus::DiscoveryStats;
use crate::diag::{
    AddrFacts, AttemptFacts, BeaconFacts, ContactFacts, HeardFacts, SendCount, StateFacts,
    TargetFacts,
};
use crate::identity::NodeId;
use crate::store::Status;

use super::dial_log::Attempt;
use super::State;

/// Contacts in one report: the online ones first, then the most recently seen.
const MAX_CONTACTS: usize = 256;

fn secs(d: Duration) -> u64 {
    d.as_secs()
}

fn attempt_facts(target: &str, a: &Attempt, now: Instant) -> AttemptFacts {
    let (outcome, reason) = a.outcome.words();
    AttemptFacts {
        target: target.to_string(),
        s_ago: secs(now.saturating_duration_since(a.at)),
        outcome: outcome.into(),
        reason,
    }
}

/// Discovery's counters as the report shows them.
pub fn beacon_facts(stats: Option<&DiscoveryStats>, now: Instant) -> BeaconFacts {
    let Some(s) = stats else {
        return BeaconFacts::default();
    };
    BeaconFacts {
        sending_for_s: secs(now.saturating_duration_since(s.since)),
        sent: s.ifaces.iter().map(|i| i.sent).sum(),
        heard: s
            .heard
            .iter()
            .map(|h| HeardFacts {
                id: crate::hex::encode(&h.id),
                iface: h.iface.clone(),
                addr: h.addr.to_string(),
                count: h.count,
                first_s_ago: secs(now.saturating_duration_since(h.first)),
                last_s_ago: secs(now.saturating_duration_since(h.last)),
            })
            .collect(),
        scan: crate::diag::ScanFacts {
            ranges: s.unicast.ranges.clone(),
            sweeps: s.unicast.sweeps,
            sent: s.unicast.sent,
            errors: s.unicast.errors,
            answered: s.unicast.answered,
            heard: s.unicast.heard,
            replies: s.unicast.replies,
        },
        mdns: crate::diag::MdnsFacts {
            queries: s.mdns.queries,
            errors: s.mdns.errors,
            answers: s.mdns.answers,
            malformed: s.mdns.malformed,
            found: s.mdns.found,
        },
    }
}

impl State {
    /// The state's facts for `GET /api/v1/diag` at `now`.
    pub(super) fn diag_facts(&self, now: Instant) -> StateFacts {
        let mut node = self.about.clone();
        node.running = true;
        node.id = Some(self.identity.id_hex());
        node.name = Some(self.name.clone());
        node.port = Some(self.port);
        node.uptime_s = Some(secs(now.saturating_duration_since(self.started)));
        let mut outbox: HashMap<NodeId, u64> = HashMap::new();
        for (peer, status, _) in self.durable.outgoing.values() {
            if *status == Status::Pending {
                *outbox.entry(*peer).or_default() += 1;
            }
        }
        let stats = self.discovery_stats.as_deref();
        StateFacts {
            node,
            data_dir: self.data_dir.path().to_path_buf(),
            sent: stats
                .map(|s| {
                    s.ifaces
                        .iter()
                        .map(|i| SendCount {
                            name: i.name.clone(),
                            sent: i.sent,
                            errors: i.errors,
                            last_error: i.last_error.as_ref().map(|e| e.0.clone()),
                            last_error_s_ago: i
                                .last_error
                                .as_ref()
                                .map(|e| secs(now.saturating_duration_since(e.1))),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            beacons: beacon_facts(stats, now),
            targets: self.target_facts(now),
            contacts: self.contact_facts(&outbox, now),
            outbox: outbox.values().sum(),
            groups: self.group_facts(),
        }
    }

    /// Groups known and group records dropped, for the report.
    fn group_facts(&self) -> crate::diag::GroupFacts {
        crate::diag::GroupFacts {
            known: self.groups.map.len() as u64,
            dropped: self.groups.dropped,
        }
    }

    fn target_facts(&self, now: Instant) -> Vec<TargetFacts> {
        self.dialer
            .configured()
            .iter()
            .map(|t| {
                let owner = self.dialer.owner(t);
                TargetFacts {
                    target: t.clone(),
                    owner: owner.map(|o| crate::hex::encode(&o)),
                    online: owner.is_some_and(|o| self.peers.is_online(&o)),
                    backoff_s: self
                        .dialer
                        .backoff_left(t, owner.as_ref(), now)
                        .map(|d| secs(d).max(1)),
                    attempts: self
                        .dialer
                        .log
                        .attempts(t)
                        .map(|a| attempt_facts(t, a, now))
                        .collect(),
                }
            })
            .collect()
    }

    fn contact_facts(&self, outbox: &HashMap<NodeId, u64>, now: Instant) -> Vec<ContactFacts> {
        let mut contacts: Vec<_> = self.peers.contacts().collect();
        contacts.sort_by_key(|c| (!c.is_online(), std::cmp::Reverse(c.last_seen)));
        contacts.truncate(MAX_CONTACTS);
        contacts
            .into_iter()
            .map(|c| {
                let known = self.dialer.log.known(&c.id);
                let mut addrs: Vec<AddrFacts> = known
                    .iter()
                    .map(|k| AddrFacts {
                        addr: k.addr.clone(),
                        source: k.source.as_str().into(),
                        s_ago: Some(secs(now.saturating_duration_since(k.at))),
                    })
                    .collect();
                for a in &c.addrs {
                    let a = a.to_string();
                    if !addrs.iter().any(|k| k.addr == a) {
                        addrs.push(AddrFacts {
                            addr: a,
                            source: "stored".into(),
                            s_ago: None,
                        });
                    }
                }
                // Every address it may be dialled at, newest attempt first.
                let mut attempts: Vec<AttemptFacts> = addrs
                    .iter()
                    .flat_map(|a| {
                        self.dialer
                            .log
                            .attempts(&a.addr)
                            .map(|at| attempt_facts(&a.addr, at, now))
                    })
                    .collect();
                attempts.sort_by_key(|a| a.s_ago);
                attempts.dedup();
                attempts.truncate(super::dial_log::ATTEMPTS_PER_TARGET);
                let backoff = addrs
                    .iter()
                    .filter_map(|a| self.dialer.backoff_left(&a.addr, Some(&c.id), now))
                    .min();
                ContactFacts {
                    id: crate::hex::encode(&c.id),
                    name: c.name.clone(),
                    online: c.is_online(),
                    path: c.link().map(|l| l.remote.to_string()),
                    route: c.link().map(|l| l.path.clone()),
                    addrs,
                    backoff_s: backoff.filter(|_| !c.is_online()).map(|d| secs(d).max(1)),
                    attempts,
                    outbox: outbox.get(&c.id).copied().unwrap_or(0),
                    reach: c
                        .reach
                        .answer
                        .as_ref()
                        .map(|(at, results)| {
                            results
                                .iter()
                                .map(|t| crate::diag::ReachFacts {
                                    addr: t.addr.to_string(),
                                    outcome: t.outcome.as_str().into(),
                                    ms: t.ms,
                                    s_ago: secs(now.saturating_duration_since(*at)),
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                    clock_skew_ms: c.reach.skew.map(|(ms, _)| ms),
                }
            })
            .collect()
    }
}
