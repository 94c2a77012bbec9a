//! The system lines of a group's history: what each roster changed, and who changed it
//! (issue 18: "membership never changes implicitly — every change is a system line
//! naming who made it"). Pure: derived from two consecutive rosters, so every member
//! holding the same chain shows the same lines, with the same ids, in the same place.
//!
//! ```text
//!   v1                      created (by its owner), added (each other member)
//!   v(n-1) ──▶ v(n)         renamed, owner (the new one), added, removed — in this order
//! ```
//!
//! A line sits in display order at its roster's `(lamport, signer)`, before a message
//! with the same pair (none can exist: the signer's clock moves past its own roster).

use crate::identity::NodeId;
use crate::peer::group::{Leave, Roster, SignedRoster};

/// One change a roster made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The group's first roster.
    Created,
    /// A member came in.
    Added(NodeId),
    /// A member went out, removed by the signer.
    Removed(NodeId),
    /// A member went out at its own request (its signed leave names this removal).
    Left(NodeId),
    /// The name changed to this.
    Renamed(String),
    /// Ownership passed to this member.
    Owner(NodeId),
}

impl Change {
    /// The `change` field of the JSON.
    pub fn name(&self) -> &'static str {
        match self {
            Change::Created => "created",
            Change::Added(_) => "added",
            Change::Removed(_) => "removed",
            Change::Left(_) => "left",
            Change::Renamed(_) => "renamed",
            Change::Owner(_) => "owner",
        }
    }

    /// The member it names, if any.
    pub fn member(&self) -> Option<&NodeId> {
        match self {
            Change::Added(m) | Change::Removed(m) | Change::Left(m) | Change::Owner(m) => Some(m),
            Change::Created | Change::Renamed(_) => None,
        }
    }
}

/// What `next` changed after `prev` (`None`: `next` is the first roster).
pub fn changes(prev: Option<&Roster>, next: &Roster) -> Vec<Change> {
    let Some(prev) = prev else {
        let mut out = vec![Change::Created];
        out.extend(
            next.members
                .iter()
                .filter(|m| **m != next.owner)
                .map(|m| Change::Added(*m)),
        );
        return out;
    };
    let mut out = Vec::new();
    if prev.name != next.name {
        out.push(Change::Renamed(next.name.clone()));
    }
    if prev.owner != next.owner {
        out.push(Change::Owner(next.owner));
    }
    out.extend(
        next.members
            .iter()
            .filter(|m| !prev.has(m))
            .map(|m| Change::Added(*m)),
    );
    out.extend(
        prev.members
            .iter()
            .filter(|m| !next.has(m))
            .map(|m| Change::Removed(*m)),
    );
    out
}

/// Whether `member`, removed by the roster of version `removed_at` after being a member
/// since `joined`, had said it leaves: a leave made while it held a version in
/// `joined..removed_at` names this removal.
pub fn is_leave(leaves: &[Leave], member: &NodeId, joined: u64, removed_at: u64) -> bool {
    leaves
        .iter()
        .any(|l| l.member.0 == *member && (joined..removed_at).contains(&l.from))
}

/// The id of the `index`th line of roster `r`: 15 bytes of its hash and the index, so
/// that every member names a line alike and no message id (random) is expected to match.
pub fn line_id(r: &SignedRoster, index: usize) -> [u8; 16] {
    let mut id = [0u8; 16];
    id[..15].copy_from_slice(&r.hash()[..15]);
    id[15] = u8::try_from(index).unwrap_or(u8::MAX);
    id
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peer::group::GroupId;

    fn roster(name: &str, owner: u8, members: &[u8]) -> Roster {
        Roster {
            group: GroupId([1; 16]),
            version: 1,
            lamport: 1,
            signer: [owner; 32],
            owner: [owner; 32],
            prev: [0; 32],
            name: name.into(),
            members: members.iter().map(|m| [*m; 32]).collect(),
        }
    }

    #[test]
    fn every_roster_change_is_named() {
        let first = roster("cats", 1, &[1, 2]);
        assert_eq!(
            changes(None, &first),
            vec![Change::Created, Change::Added([2; 32])]
        );
        let next = roster("dogs", 3, &[1, 3]);
        assert_eq!(
            changes(Some(&first), &next),
            vec![
                Change::Renamed("dogs".into()),
                Change::Owner([3; 32]),
                Change::Added([3; 32]),
                Change::Removed([2; 32]),
            ]
        );
        assert!(changes(Some(&first), &first).is_empty());
    }

    #[test]
    fn a_leave_names_only_the_removal_of_the_span_it_was_made_in() {
        let key = crate::identity::Identity::from_secret(&[2; 32]);
        let leave = Leave::sign(GroupId([1; 16]), key.id(), 4, key.signing_key());
        let leaves = [leave];
        // Member since v3, removed by v5: its leave from v4 names it.
        assert!(is_leave(&leaves, &key.id(), 3, 5));
        // An earlier span (v1..v3) or a later one (v6..) is not that leave's.
        assert!(!is_leave(&leaves, &key.id(), 1, 3));
        assert!(!is_leave(&leaves, &key.id(), 6, 9));
        assert!(!is_leave(&leaves, &[9; 32], 3, 5));
    }
}
