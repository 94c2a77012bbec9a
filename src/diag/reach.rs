//! The checks of peer-assisted reachability and clock skew (issue 20): what each peer
//! found when it dialled us back on the addresses we advertise (`RBCK`/`RBRS`), and
//! how far its clock is from ours; and beacons that stopped from a peer still connected
//! (IGMP snooping without a querier). Pure functions of the report.
//!
//! ```text
//!   per address: ok ─▶ OK "bob reached you on 10.0.0.1:35035 in 2 ms"
//!                failed ─▶ FAIL if bob reached none of them, else WARN, with the step
//!                not_known / busy ─▶ OK, said once (nothing was learned)
//!   clock skew > 2 min ─▶ WARN
//!   beacons of an online contact not heard for 3 intervals, after it was heard
//!   ─▶ WARN (a switch forgot our membership: IGMP snooping without a querier)
//! ```

use super::verdict::QUIET_INTERVALS;
use super::verdict::{duration, short, Check, Verdict};
use super::{ContactFacts, Report};

/// A clock this far from a peer's is worth a warning: message times look wrong.
pub const SKEW_WARN_MS: i64 = 120_000;

/// The reachability and clock checks of one contact.
pub fn checks(c: &ContactFacts) -> Vec<Check> {
    let who = format!("{} ({})", c.name, short(&c.id));
    let mut out = Vec::new();
    // An offline peer's answer may be stale: what it found is shown while it is online.
    let reach = if c.online { c.reach.as_slice() } else { &[] };
    let failed = |o: &str| !matches!(o, "ok" | "not_known" | "busy");
    let any_ok = reach.iter().any(|r| r.outcome == "ok");
    for r in reach {
        let check = |v, says: String| Check::new(v, "reach", &who, says);
        match r.outcome.as_str() {
            "ok" => out.push(check(
                Verdict::Ok,
                format!("{} reached you on {} in {} ms", c.name, r.addr, r.ms),
            )),
            "not_known" | "busy" => {}
            o if failed(o) => {
                let verdict = if any_ok { Verdict::Warn } else { Verdict::Fail };
                out.push(
                    check(
                        verdict,
                        format!(
                            "{} could not reach you on {}: {} ({} ms, {} s ago)",
                            c.name,
                            r.addr,
                            words(o),
                            r.ms,
                            r.s_ago
                        ),
                    )
                    .next(next_step(o, &r.addr)),
                );
            }
            _ => {}
        }
    }
    let untried: Vec<&str> = reach
        .iter()
        .filter(|r| r.outcome == "not_known")
        .map(|r| r.addr.as_str())
        .collect();
    if !untried.is_empty() {
        out.push(Check::new(
            Verdict::Ok,
            "reach",
            &who,
            format!(
                "{} did not try {}: not an address it knows for you",
                c.name,
                untried.join(", ")
            ),
        ));
    }
    if let Some(ms) = c.clock_skew_ms {
        let (ahead, abs) = (ms > 0, ms.unsigned_abs());
        let says = format!(
            "{}'s clock is {} {} ours",
            c.name,
            if abs < 1000 {
                format!("{abs} ms")
            } else {
                duration(abs / 1000)
            },
            if ahead { "ahead of" } else { "behind" }
        );
        if ms.abs() > SKEW_WARN_MS {
            out.push(Check::new(Verdict::Warn, "clock", &who, says).next(
                "set both clocks by NTP (timedatectl set-ntp true): message times look wrong",
            ));
        }
    }
    out
}

/// Beacons that stopped from a peer that is still connected: the beacons are lost on
/// the way, and the commonest cause is a switch snooping IGMP/MLD with no querier on
/// the LAN, which forgets members a few minutes after they joined. (A peer that left
/// stops its beacons too, but then it is offline: that is not flagged here.)
pub fn stopped_beacons(r: &Report) -> Vec<Check> {
    if !r.node.discovery {
        return Vec::new();
    }
    let interval = r.node.beacon_interval_s.unwrap_or(5).max(1);
    let mut out = Vec::new();
    for c in r.contacts.iter().filter(|c| c.online) {
        // Its newest source (it may be heard on several interfaces).
        let Some(h) = r
            .beacons
            .heard
            .iter()
            .filter(|h| h.id == c.id)
            .min_by_key(|h| h.last_s_ago)
        else {
            continue;
        };
        if h.last_s_ago <= QUIET_INTERVALS * interval || h.count < 2 {
            continue;
        }
        let heard_for = h.first_s_ago.saturating_sub(h.last_s_ago);
        out.push(
            Check::new(
                Verdict::Warn,
                "beacons",
                &format!("{} ({})", c.name, short(&c.id)),
                format!(
                    "beacons from {} on {} stopped {} ago after {} heard, while it is still                      connected",
                    c.name,
                    h.iface,
                    duration(h.last_s_ago),
                    duration(heard_for)
                ),
            )
            .next(
                "a switch snooping IGMP with no querier forgets members after a few minutes:                  purr re-joins the group every minute; if this persists, enable an IGMP querier                  on the switch or router (or turn snooping off)",
            ),
        );
    }
    out
}

fn words(outcome: &str) -> &'static str {
    match outcome {
        "refused" => "refused",
        "timed_out" => "timed out",
        "unreachable" => "no route",
        "other_key" => "another node answered there",
        "handshake" => "something answered that is not purr",
        _ => "failed",
    }
}

/// The next step when a peer cannot reach us at `addr`.
fn next_step(outcome: &str, addr: &str) -> String {
    let port = addr.rsplit(':').next().unwrap_or("35035");
    match outcome {
        "timed_out" => format!(
            "a firewall on this host or the network drops incoming TCP to port {port}: allow it \
             (e.g. `ufw allow {port}/tcp`); until then only this side can dial"
        ),
        "refused" => {
            "nothing listens on that address: does --listen bind another address?".to_string()
        }
        "unreachable" => "that peer has no route to this address: it is not on its network".into(),
        "other_key" => "another purr answers on that address (a port forward or NAT?)".into(),
        "handshake" => format!("another program answers on port {port}: a port forward or proxy?"),
        _ => "see the node's log (RUST_LOG=debug)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::ReachFacts;
    use super::*;

    fn bob(reach: &[(&str, &str)]) -> ContactFacts {
        ContactFacts {
            id: "cd".repeat(32),
            name: "bob".into(),
            online: true,
            reach: reach
                .iter()
                .map(|(addr, outcome)| ReachFacts {
                    addr: addr.to_string(),
                    outcome: outcome.to_string(),
                    ms: 2,
                    s_ago: 1,
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn a_peer_that_reached_us_is_ok_and_one_that_could_not_is_a_failure_with_the_step() {
        let c = checks(&bob(&[("10.0.0.1:35035", "ok")]));
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].verdict, Verdict::Ok);
        assert_eq!(c[0].says, "bob reached you on 10.0.0.1:35035 in 2 ms");

        let c = checks(&bob(&[("10.0.0.1:35035", "timed_out")]));
        assert_eq!(c[0].verdict, Verdict::Fail);
        assert!(c[0]
            .says
            .starts_with("bob could not reach you on 10.0.0.1:35035: timed out"));
        assert!(c[0]
            .next
            .as_deref()
            .unwrap_or_default()
            .contains("port 35035"));

        // One address works: the other is a warning, not a failure.
        let c = checks(&bob(&[
            ("10.0.0.1:35035", "ok"),
            ("[fd00::1]:35035", "refused"),
        ]));
        let v: Vec<Verdict> = c.iter().map(|c| c.verdict).collect();
        assert_eq!(v, [Verdict::Ok, Verdict::Warn]);

        // Not tried: said once, no verdict against us.
        let c = checks(&bob(&[("172.17.0.1:35035", "not_known")]));
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].verdict, Verdict::Ok);
        assert!(checks(&bob(&[])).is_empty());
    }

    #[test]
    fn beacons_that_stop_from_a_connected_peer_are_a_warning_about_igmp_snooping() {
        let mut r = Report {
            node: super::super::NodeFacts {
                running: true,
                discovery: true,
                beacon_interval_s: Some(5),
                ..Default::default()
            },
            contacts: vec![bob(&[])],
            ..Default::default()
        };
        r.beacons.heard.push(super::super::HeardFacts {
            id: "cd".repeat(32),
            iface: "eth0".into(),
            count: 50,
            first_s_ago: 300,
            last_s_ago: 40,
            ..Default::default()
        });
        let c = stopped_beacons(&r);
        assert_eq!(c.len(), 1, "{c:#?}");
        assert_eq!(c[0].verdict, Verdict::Warn);
        assert!(
            c[0].says.contains("stopped 40 s ago after 4 min 20 s"),
            "{}",
            c[0]
        );
        assert!(c[0].next.as_deref().unwrap_or_default().contains("IGMP"));
        // Still coming: nothing to say.
        r.beacons.heard[0].last_s_ago = 3;
        assert!(stopped_beacons(&r).is_empty());
        // Stopped, but the peer is gone too: it left, nothing was lost.
        r.beacons.heard[0].last_s_ago = 40;
        r.contacts[0].online = false;
        assert!(stopped_beacons(&r).is_empty());
    }

    #[test]
    fn a_clock_over_two_minutes_off_is_a_warning() {
        let mut c = bob(&[]);
        c.clock_skew_ms = Some(90_000);
        assert!(checks(&c).is_empty());
        c.clock_skew_ms = Some(-303_000);
        let w = checks(&c);
        assert_eq!(w[0].verdict, Verdict::Warn);
        assert_eq!(w[0].says, "bob's clock is 5 min 3 s behind ours");
    }
}
