//! Group rules without I/O (issue 18): the roster chain a member holds, who was a
//! member when, what to do with a group message, and the one display order.
//!
//! A [`Chain`] is a member's view of one group's roster history. It starts from the
//! first roster it is given ([`Chain::start`], version 1: verified against its own
//! owner) and takes each later one only in order ([`Chain::apply`]):
//!
//! ```text
//!   roster v+1 ──▶ same group? ── version == v+1? ── prev == hash(v)? ── signer == owner(v)?
//!                   │ no          │ ≤ v: Stale         │ no               │ no
//!                   ▼             │ > v+1: Gap          ▼                  ▼
//!                 WrongGroup      ▼ (ask for it)       BadChain          WrongSigner
//!                                                     ── signature ok? ──▶ Applied
//!                                                         │ no: BadSignature
//! ```
//!
//! Membership over time is kept as spans (`from` version, and the version and Lamport
//! clock of the roster that removed the member), bounded by [`MAX_SPANS`]. A message is
//! judged by [`Chain::judge`]: held if it names a roster we do not have yet, dropped if
//! its author was not a member at the version it names, or wrote it (by its Lamport
//! clock) at or after the roster that removed it, which is what makes a removal stop
//! every later message even from a member who stamps an old version.

pub mod lines;

use crate::identity::NodeId;
use crate::peer::group::{GroupMsg, SignedRoster};

/// Most membership spans kept per group (a member added and removed again and again
/// adds one each time). A roster that would pass it is refused (create a new group).
pub const MAX_SPANS: usize = 1024;

/// Why a roster was not taken. All are dropped and counted; the session goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RosterError {
    /// For another group.
    WrongGroup,
    /// A version we already passed (a rollback, or a repeat).
    Stale { have: u64, got: u64 },
    /// Versions between ours and this one are missing: ask for them.
    Gap { have: u64, got: u64 },
    /// `prev` is not the hash of the roster we hold.
    BadChain,
    /// Not signed by the owner of the roster before it.
    WrongSigner,
    /// The signature does not verify.
    BadSignature,
    /// A first roster that is not version 1 with zero `prev`, signed by its owner.
    NotGenesis,
    /// The group has changed membership more than [`MAX_SPANS`] times.
    TooManyChanges,
}

/// What to do with a group message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Valid for this roster history: store, show, sync on.
    Accept,
    /// It names a roster version we do not hold yet: keep it until that roster comes.
    Hold,
    /// Refused for good; counted.
    Drop(DropReason),
}

/// Why a message was dropped (the counters of `GET /api/v1/diag`'s groups).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// The author's signature does not verify (a forged author, or corruption).
    BadSignature,
    /// Its author was not a member at the version it names, or wrote after removal.
    NotMember,
    /// For a group we are not in.
    UnknownGroup,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Span {
    id: NodeId,
    from: u64,
    /// (version, lamport) of the roster that removed it.
    until: Option<(u64, u64)>,
}

/// A member's view of one group's rosters.
#[derive(Debug, Clone)]
pub struct Chain {
    current: SignedRoster,
    hash: [u8; 32],
    spans: Vec<Span>,
}

impl Chain {
    /// Starts from version 1, self-signed by its owner (a group's genesis).
    pub fn start(first: SignedRoster) -> Result<Chain, RosterError> {
        let r = &first.roster;
        if r.version != 1 || r.prev != [0; 32] || r.signer != r.owner {
            return Err(RosterError::NotGenesis);
        }
        if !first.verify() {
            return Err(RosterError::BadSignature);
        }
        let spans = r
            .members
            .iter()
            .map(|id| Span {
                id: *id,
                from: 1,
                until: None,
            })
            .collect();
        Ok(Chain {
            hash: first.hash(),
            current: first,
            spans,
        })
    }

    /// The roster in force.
    pub fn current(&self) -> &SignedRoster {
        &self.current
    }

    /// Its version.
    pub fn version(&self) -> u64 {
        self.current.roster.version
    }

    /// Whether `id` is a member now.
    pub fn is_member(&self, id: &NodeId) -> bool {
        self.current.roster.has(id)
    }

    /// Takes the next roster if it follows the one in force (see the module docs).
    pub fn apply(&mut self, next: SignedRoster) -> Result<(), RosterError> {
        let (cur, new) = (&self.current.roster, &next.roster);
        if new.group != cur.group {
            return Err(RosterError::WrongGroup);
        }
        if new.version <= cur.version {
            return Err(RosterError::Stale {
                have: cur.version,
                got: new.version,
            });
        }
        if new.version != cur.version + 1 {
            return Err(RosterError::Gap {
                have: cur.version,
                got: new.version,
            });
        }
        if new.prev != self.hash {
            return Err(RosterError::BadChain);
        }
        if new.signer != cur.owner {
            return Err(RosterError::WrongSigner);
        }
        if !next.verify() {
            return Err(RosterError::BadSignature);
        }
        let added = new.members.iter().filter(|m| !cur.has(m)).count();
        if self.spans.len() + added > MAX_SPANS {
            return Err(RosterError::TooManyChanges);
        }
        for span in self.spans.iter_mut().filter(|s| s.until.is_none()) {
            if !new.has(&span.id) {
                span.until = Some((new.version, new.lamport));
            }
        }
        for m in new.members.iter().filter(|m| !cur.has(m)) {
            self.spans.push(Span {
                id: *m,
                from: new.version,
                until: None,
            });
        }
        self.hash = next.hash();
        self.current = next;
        Ok(())
    }

    /// The version from which `id` has been a member (its latest span), if ever.
    pub fn joined(&self, id: &NodeId) -> Option<u64> {
        self.spans
            .iter()
            .rev()
            .find(|s| s.id == *id)
            .map(|s| s.from)
    }

    /// Whether `id` could write a message stamped with roster `version` at `lamport`.
    pub fn member_at(&self, id: &NodeId, version: u64, lamport: u64) -> bool {
        self.spans.iter().any(|s| {
            s.id == *id
                && s.from <= version
                && s.until.is_none_or(|(v, l)| version < v && lamport < l)
        })
    }

    /// What to do with `msg` (its group already matched).
    pub fn judge(&self, msg: &GroupMsg) -> Verdict {
        self.judge_with(msg, GroupMsg::verify)
    }

    /// [`Chain::judge`], the signature checked by `verify`, which is called only for a
    /// message of a member (so a cache of keys it fills holds members' keys only).
    pub fn judge_with(&self, msg: &GroupMsg, verify: impl FnOnce(&GroupMsg) -> bool) -> Verdict {
        if msg.roster > self.version() {
            return Verdict::Hold;
        }
        if !self.member_at(&msg.author, msg.roster, msg.lamport) {
            return Verdict::Drop(DropReason::NotMember);
        }
        if !verify(msg) {
            return Verdict::Drop(DropReason::BadSignature);
        }
        Verdict::Accept
    }
}

/// The one display order everywhere: by Lamport clock, then author id.
pub fn order_key(lamport: u64, author: &NodeId) -> (u64, NodeId) {
    (lamport, *author)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;
    use crate::peer::group::{GroupId, Roster};
    use crate::peer::inner::MsgId;

    fn who(n: u8) -> Identity {
        Identity::from_secret(&[n; 32])
    }

    fn roster(
        v: u64,
        lamport: u64,
        signer: &Identity,
        owner: &Identity,
        prev: [u8; 32],
        members: &[&Identity],
    ) -> SignedRoster {
        let mut m: Vec<NodeId> = members.iter().map(|i| i.id()).collect();
        m.sort();
        Roster {
            group: GroupId([3; 16]),
            version: v,
            lamport,
            signer: signer.id(),
            owner: owner.id(),
            prev,
            name: "g".into(),
            members: m,
        }
        .sign(signer.signing_key())
    }

    fn msg(author: &Identity, roster: u64, lamport: u64) -> GroupMsg {
        GroupMsg {
            group: GroupId([3; 16]),
            id: MsgId([lamport as u8; 16]),
            author: author.id(),
            seq: 1,
            lamport,
            roster,
            ts: 0,
            text: "t".into(),
            sig: [0; 64],
        }
        .sign(author.signing_key())
    }

    #[test]
    fn chain_takes_the_next_roster_and_refuses_rollback_gaps_forks_and_strangers() {
        let (a, b, c) = (who(1), who(2), who(3));
        let g = roster(1, 1, &a, &a, [0; 32], &[&a, &b]);
        let mut chain = Chain::start(g.clone()).expect("genesis");
        let v2 = roster(2, 5, &a, &a, g.hash(), &[&a, &b, &c]);
        // Signed by a member who is not the owner.
        let by_b = roster(2, 5, &b, &a, g.hash(), &[&a, &b, &c]);
        assert_eq!(chain.apply(by_b), Err(RosterError::WrongSigner));
        // Not chained to what we hold.
        let fork = roster(2, 5, &a, &a, [9; 32], &[&a, &b, &c]);
        assert_eq!(chain.apply(fork), Err(RosterError::BadChain));
        let v3_early = roster(3, 6, &a, &a, v2.hash(), &[&a]);
        assert_eq!(
            chain.apply(v3_early),
            Err(RosterError::Gap { have: 1, got: 3 })
        );
        chain.apply(v2.clone()).expect("v2");
        assert!(chain.is_member(&c.id()));
        assert_eq!(
            chain.apply(g.clone()),
            Err(RosterError::Stale { have: 2, got: 1 })
        );
        // A signature that does not match.
        let mut evil = roster(3, 6, &a, &a, v2.hash(), &[&a]);
        evil.sig[0] ^= 1;
        assert_eq!(chain.apply(evil), Err(RosterError::BadSignature));
        // A genesis signed by someone else.
        assert_eq!(
            Chain::start(roster(1, 1, &b, &a, [0; 32], &[&a])).err(),
            Some(RosterError::NotGenesis)
        );
    }

    #[test]
    fn ownership_passes_with_a_roster_signed_by_the_old_owner() {
        let (a, b) = (who(1), who(2));
        let g = roster(1, 1, &a, &a, [0; 32], &[&a, &b]);
        let mut chain = Chain::start(g.clone()).expect("genesis");
        let handover = roster(2, 2, &a, &b, g.hash(), &[&a, &b]);
        chain.apply(handover.clone()).expect("handover");
        // The old owner can no longer change it.
        let by_a = roster(3, 3, &a, &a, handover.hash(), &[&a]);
        assert_eq!(chain.apply(by_a), Err(RosterError::WrongSigner));
        let by_b = roster(3, 3, &b, &b, handover.hash(), &[&b]);
        assert_eq!(chain.apply(by_b), Ok(()));
    }

    #[test]
    fn messages_are_judged_by_the_roster_they_name_and_removal_stops_later_ones() {
        let (a, b, c) = (who(1), who(2), who(3));
        let g = roster(1, 1, &a, &a, [0; 32], &[&a, &b]);
        let mut chain = Chain::start(g.clone()).expect("genesis");
        assert_eq!(chain.judge(&msg(&b, 1, 2)), Verdict::Accept);
        assert_eq!(
            chain.judge(&msg(&c, 1, 2)),
            Verdict::Drop(DropReason::NotMember)
        );
        assert_eq!(chain.judge(&msg(&b, 2, 2)), Verdict::Hold);
        // b removed at version 2, Lamport 10.
        chain
            .apply(roster(2, 10, &a, &a, g.hash(), &[&a]))
            .expect("v2");
        // Written before the removal: still b's.
        assert_eq!(chain.judge(&msg(&b, 1, 9)), Verdict::Accept);
        // Stamped with the old version but written after it: dropped.
        assert_eq!(
            chain.judge(&msg(&b, 1, 10)),
            Verdict::Drop(DropReason::NotMember)
        );
        assert_eq!(
            chain.judge(&msg(&b, 2, 11)),
            Verdict::Drop(DropReason::NotMember)
        );
        // A forged author.
        let mut forged = msg(&a, 2, 12);
        forged.sig = msg(&b, 2, 12).sig;
        assert_eq!(
            chain.judge(&forged),
            Verdict::Drop(DropReason::BadSignature)
        );
    }

    #[test]
    fn order_is_lamport_then_author() {
        let mut keys = [
            order_key(2, &[1; 32]),
            order_key(1, &[9; 32]),
            order_key(2, &[0; 32]),
        ];
        keys.sort();
        assert_eq!(
            keys,
            [
                order_key(1, &[9; 32]),
                order_key(2, &[0; 32]),
                order_key(2, &[1; 32])
            ]
        );
    }

    use proptest::prelude::*;

    proptest::proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn parsers_never_panic_on_any_bytes(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..700)) {
            let _ = SignedRoster::parse(&bytes);
            let _ = GroupMsg::parse(&bytes);
        }

        /// Rosters delivered in any order: the chain ends at the last version whatever
        /// the order, taking each exactly once when it follows (the rest wait).
        #[test]
        fn rosters_in_any_order_end_at_the_same_version(order in proptest::sample::subsequence((2u64..=6).collect::<Vec<_>>(), 5).prop_shuffle()) {
            let a = who(1);
            let mut all = vec![roster(1, 1, &a, &a, [0; 32], &[&a])];
            for v in 2..=6u64 {
                let prev = all[all.len() - 1].hash();
                let members: Vec<Identity> = (1..=v as u8).map(who).collect();
                let refs: Vec<&Identity> = members.iter().collect();
                all.push(roster(v, v, &a, &a, prev, &refs));
            }
            let mut chain = Chain::start(all[0].clone()).expect("genesis");
            let mut waiting: Vec<u64> = Vec::new();
            for v in order {
                waiting.push(v);
                // Retry what waits, as a member does when a roster arrives.
                while let Some(pos) = waiting.iter().position(|&w| w == chain.version() + 1) {
                    let w = waiting.remove(pos);
                    prop_assert_eq!(chain.apply(all[(w - 1) as usize].clone()), Ok(()));
                }
            }
            prop_assert_eq!(chain.version(), 6);
            prop_assert!(chain.is_member(&who(6).id()));
        }
    }
}
