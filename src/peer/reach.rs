//! Peer-assisted reachability (issue 20): `RBCK` asks a peer to dial us back on the
//! addresses we advertise, `RBRS` says what it found at each. A node cannot test its
//! own address (a connection to it goes through loopback); a peer on the LAN can, and
//! that finds "A reaches B but B cannot reach A" (a firewall on A's port, a wrong
//! address, a host firewall that lets only outgoing connections through).
//!
//! Both bodies carry the sender's wall clock (`ts`, Unix ms): the receiver's clock
//! minus it is the pair's clock skew, up to the record's travel time.
//!
//! ```text
//!   A ── RBCK {nonce, ts, addrs ≤ 16} ──▶ B      (only to a peer that announced `reach`)
//!                                         B: each addr A may be dialled at anyway,
//!                                            connect ≤ 3 s, read A's HAND, close
//!   A ◀── RBRS {nonce, ts, results} ───── B      (at most one answer per peer a minute)
//! ```
//!
//! This module is the wire only: the bodies, their limits and their checks. Who may ask
//! what, and the dialling, belong elsewhere.

use std::net::SocketAddr;

use serde::{Deserialize, Deserializer, Serialize};

use super::inner::InnerError;
use super::json;

/// Most addresses in one `RBCK` or `RBRS` (the same bound as a `LIST` entry's addresses).
pub const MAX_REACH_ADDRS: usize = 16;

/// `RBCK`: "dial me back at these addresses".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ask {
    /// Random; the answer names it, so an answer to an older question is told apart.
    #[serde(serialize_with = "json::ser_hex", deserialize_with = "json::hex_array")]
    pub nonce: [u8; 16],
    /// The sender's wall clock, Unix milliseconds.
    pub ts: u64,
    /// The addresses the sender advertises (port never 0).
    #[serde(deserialize_with = "de_addrs")]
    pub addrs: Vec<SocketAddr>,
}

/// `RBRS`: what the asked peer found at each address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    /// The question's nonce.
    #[serde(serialize_with = "json::ser_hex", deserialize_with = "json::hex_array")]
    pub nonce: [u8; 16],
    /// The answerer's wall clock, Unix milliseconds.
    pub ts: u64,
    /// One per address asked (at most [`MAX_REACH_ADDRS`]).
    #[serde(deserialize_with = "de_results")]
    pub results: Vec<Tried>,
}

/// One address tried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tried {
    /// The address, as asked.
    pub addr: SocketAddr,
    /// What answered there.
    pub outcome: Outcome,
    /// Milliseconds from the connect to the outcome.
    pub ms: u32,
}

/// What a dial-back found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Connected, and the `HAND` that came back names the asker's id.
    Ok,
    /// Connected, but the `HAND` names another id.
    OtherKey,
    /// Connected, but no `HAND` came back (another program on that port).
    Handshake,
    /// A RST: nothing listens there.
    Refused,
    /// No answer within the deadline (packets dropped, host off).
    TimedOut,
    /// No route.
    Unreachable,
    /// Not tried: the answerer does not know that address as the asker's (it dials
    /// only addresses it would dial for the asker anyway, docs/SECURITY.md).
    NotKnown,
    /// Not tried: the answerer is busy with other dial-backs or asked too often.
    Busy,
    /// Any other failure, or an outcome this version does not know.
    #[serde(other)]
    Failed,
}

impl Outcome {
    /// The outcome as the wire and the diag JSON spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::OtherKey => "other_key",
            Outcome::Handshake => "handshake",
            Outcome::Refused => "refused",
            Outcome::TimedOut => "timed_out",
            Outcome::Unreachable => "unreachable",
            Outcome::NotKnown => "not_known",
            Outcome::Busy => "busy",
            Outcome::Failed => "failed",
        }
    }
}

/// Checks an `RBCK` (addresses are bounded while parsing; a zero port is refused).
pub fn validate_ask(a: &Ask) -> Result<(), InnerError> {
    no_zero_port(a.addrs.iter())
}

/// Checks an `RBRS`.
pub fn validate_answer(a: &Answer) -> Result<(), InnerError> {
    if a.results.len() > MAX_REACH_ADDRS {
        return Err(InnerError::TooMany {
            what: "RBRS results",
            count: a.results.len(),
            max: MAX_REACH_ADDRS,
        });
    }
    no_zero_port(a.results.iter().map(|t| &t.addr))
}

fn no_zero_port<'a>(mut addrs: impl Iterator<Item = &'a SocketAddr>) -> Result<(), InnerError> {
    match addrs.find(|a| a.port() == 0) {
        Some(a) => Err(InnerError::ZeroPort(*a)),
        None => Ok(()),
    }
}

fn de_addrs<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<SocketAddr>, D::Error> {
    json::bounded(d, MAX_REACH_ADDRS, "addresses in an RBCK")
}

fn de_results<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Tried>, D::Error> {
    json::bounded(d, MAX_REACH_ADDRS, "results in an RBRS")
}

#[cfg(test)]
mod tests {
    use super::super::inner::Inner;
    use super::*;

    #[test]
    fn ask_and_answer_round_trip_with_their_field_order() {
        let ask = Ask {
            nonce: [0xab; 16],
            ts: 5,
            addrs: vec!["10.0.0.1:35035".parse().unwrap()],
        };
        let mut out = Vec::new();
        Inner::ReachAsk(ask.clone()).encode(&mut out);
        let text = String::from_utf8(out.clone()).unwrap();
        assert_eq!(
            text,
            format!(
                r#"RBCK{{"nonce":"{}","ts":5,"addrs":["10.0.0.1:35035"]}}"#,
                "ab".repeat(16)
            )
        );
        assert_eq!(Inner::parse(&out), Ok(Inner::ReachAsk(ask)));
        let answer = Answer {
            nonce: [1; 16],
            ts: 7,
            results: vec![Tried {
                addr: "[fd00::1]:35035".parse().unwrap(),
                outcome: Outcome::TimedOut,
                ms: 3000,
            }],
        };
        let mut out = Vec::new();
        Inner::ReachAnswer(answer.clone()).encode(&mut out);
        assert!(String::from_utf8_lossy(&out).contains(r#""outcome":"timed_out","ms":3000"#));
        assert_eq!(Inner::parse(&out), Ok(Inner::ReachAnswer(answer)));
    }

    #[test]
    fn too_many_addresses_a_zero_port_or_a_bad_nonce_are_malformed() {
        let nonce = "00".repeat(16);
        let addrs = vec!["\"10.0.0.1:1\""; MAX_REACH_ADDRS + 1].join(",");
        let over = format!(r#"RBCK{{"nonce":"{nonce}","ts":1,"addrs":[{addrs}]}}"#);
        assert!(Inner::parse(over.as_bytes()).is_err());
        let at_max = vec!["\"10.0.0.1:1\""; MAX_REACH_ADDRS].join(",");
        let ok = format!(r#"RBCK{{"nonce":"{nonce}","ts":1,"addrs":[{at_max}]}}"#);
        assert!(Inner::parse(ok.as_bytes()).is_ok());
        let zero = format!(r#"RBCK{{"nonce":"{nonce}","ts":1,"addrs":["10.0.0.1:0"]}}"#);
        assert!(Inner::parse(zero.as_bytes()).is_err());
        assert!(Inner::parse(br#"RBCK{"nonce":"ab","ts":1,"addrs":[]}"#).is_err());
        let results = vec![r#"{"addr":"10.0.0.1:1","outcome":"ok","ms":1}"#; 17].join(",");
        let over = format!(r#"RBRS{{"nonce":"{nonce}","ts":1,"results":[{results}]}}"#);
        assert!(Inner::parse(over.as_bytes()).is_err());
    }

    #[test]
    fn an_outcome_from_a_later_version_is_read_as_failed() {
        let nonce = "00".repeat(16);
        let body = format!(
            r#"RBRS{{"nonce":"{nonce}","ts":1,"results":[{{"addr":"10.0.0.1:1","outcome":"teleported","ms":1}}]}}"#
        );
        match Inner::parse(body.as_bytes()) {
            Ok(Inner::ReachAnswer(a)) => assert_eq!(a.results[0].outcome, Outcome::Failed),
            other => panic!("{other:?}"),
        }
    }
}
