//! The group kinds of inner messages (docs/PROTOCOL.md §6 and §12, capability `groups`):
//! signed rosters, signed group messages, sync summaries, invitations.
//!
//! Groups have no group key: every group record travels pairwise over the sessions
//! members already have. What makes forwarding safe is that rosters and messages are
//! signed by their author's Ed25519 identity key over a fixed binary layout, so any
//! member can hand them on and the receiver still checks who wrote them.
//!
//! ```text
//!   GROS  <roster body> || sig(64)    owner-signed membership, chained by hash
//!   GMSG  <message body> || sig(64)   author-signed text, gapless seq per author
//!   GSYN  {"group","v","have":[[author,seq],...]}   what the sender holds
//!   GINV  {"group","name","owner"}    an invitation (to a contact)
//!   GACC  {"group"}                   the invitee accepts (to the owner)
//!   GDEC  {"group"}                   declines an invitation or leaves (to the owner)
//!   GRCP  {"group","delivered","read"} a member to an author: of your messages here I
//!                                     hold every seq ≤ delivered, have read ≤ read
//!   GLEV  {"group","member","from","sig"}  a member's signed "I leave" (any member
//!                                     forwards it: the removal that follows shows as `left`)
//! ```
//!
//! Roster body (all integers big-endian):
//!
//! ```text
//!   offset  size     field
//!   0       16       group     the group id (16 random bytes)
//!   16      8        version   u64, 1 for the first roster, +1 per change
//!   24      8        lamport   u64, the signer's Lamport clock for this change
//!   32      32       signer    who signed: the owner of the previous roster (of this
//!                              one for version 1)
//!   64      32       owner     the owner from now on (a handover names a new one)
//!   96      32       prev      SHA-256 of the previous signed roster; zeros for version 1
//!   128     2        name_len  u16, bytes of name (1..=256; 1..=64 characters)
//!   130     n        name      UTF-8
//!   130+n   1        count     members, 1..=64
//!   131+n   32*count members   node ids, strictly ascending (so one roster has one encoding)
//! ```
//!
//! Message body:
//!
//! ```text
//!   offset  size  field
//!   0       16    group
//!   16      16    id        message id (16 random bytes)
//!   32      32    author    node id of the writer
//!   64      8     seq       u64, the author's gapless per-group number, from 1
//!   72      8     lamport   u64, the author's Lamport clock, ≥ 1
//!   80      8     roster    u64, the roster version the author held
//!   88      8     ts        i64, the author's wall clock (ms), for display only
//!   96      4     text_len  u32, 1..=65536
//!   100     n     text      UTF-8
//! ```
//!
//! Signing inputs are domain-separated: `"purr/1 roster\0" || body` and
//! `"purr/1 gmsg\0" || body`, signed with Ed25519 (RFC 8032, no prehash). A roster's
//! hash (what the next one names as `prev`) is `SHA-256("purr/1 roster\0" || body || sig)`.
//!
//! Parsing is bounded by the layout (every length is checked against what is left
//! before anything is allocated); a body that does not parse is malformed and closes
//! the session like any other kind. Signatures are *not* checked here but by the
//! receiver's group logic ([`SignedRoster::verify`], [`GroupMsg::verify`]), because a
//! bad signature is dropped and counted, the session goes on.

use std::fmt;

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::de::Deserializer;
use serde::{Deserialize, Serialize, Serializer};
use sha2::{Digest, Sha256};

use super::inner::{kind, InnerError, MsgId};
use super::json;
use crate::hex;

/// Most members of a group (issue 18).
pub const MAX_MEMBERS: usize = 64;
/// Longest group name, in characters.
pub const MAX_GROUP_NAME_CHARS: usize = 64;
/// Longest group name on the wire, in bytes (64 characters of up to 4 bytes).
pub const MAX_GROUP_NAME_BYTES: usize = 4 * MAX_GROUP_NAME_CHARS;
/// Longest group message text, in bytes (as a `MESS`).
pub const MAX_GROUP_TEXT: usize = crate::rules::MAX_TEXT_LEN;
/// Most authors in one `GSYN` (past members count: their messages stay in history).
pub const MAX_SYNC_AUTHORS: usize = 256;
/// Fixed part of a roster body before the name.
const ROSTER_HEAD: usize = 130;
/// Fixed part of a message body before the text.
const MSG_HEAD: usize = 100;
/// Signing domain of rosters.
pub const ROSTER_DOMAIN: &[u8] = b"purr/1 roster\0";
/// Signing domain of group messages.
pub const GMSG_DOMAIN: &[u8] = b"purr/1 gmsg\0";
/// Signing domain of leave statements.
pub const LEAVE_DOMAIN: &[u8] = b"purr/1 leave\0";

/// A group id: 16 random bytes, 32 lowercase hex characters in JSON.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupId(pub [u8; 16]);

impl fmt::Display for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(&self.0))
    }
}

impl fmt::Debug for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GroupId({self})")
    }
}

impl Serialize for GroupId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for GroupId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        json::hex_array::<16, D>(d).map(GroupId)
    }
}

/// A roster: who is in a group at one version, and who may change it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roster {
    /// The group.
    pub group: GroupId,
    /// 1 for the first roster, +1 per change.
    pub version: u64,
    /// The signer's Lamport clock for this change (orders it among messages).
    pub lamport: u64,
    /// Who signed: the previous roster's owner (this one's for version 1).
    pub signer: [u8; 32],
    /// The owner from this version on.
    pub owner: [u8; 32],
    /// Hash of the previous signed roster; zeros for version 1.
    pub prev: [u8; 32],
    /// The group's name.
    pub name: String,
    /// Strictly ascending, 1..=[`MAX_MEMBERS`].
    pub members: Vec<[u8; 32]>,
}

/// A roster with the signer's signature over [`ROSTER_DOMAIN`] `||` its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRoster {
    /// What was signed.
    pub roster: Roster,
    /// Ed25519 signature of `roster.signer`.
    pub sig: [u8; 64],
}

/// A group message as its author signed it.
#[derive(Clone, PartialEq, Eq)]
pub struct GroupMsg {
    /// The group.
    pub group: GroupId,
    /// Random id; receivers deduplicate on it.
    pub id: MsgId,
    /// Who wrote (and signed) it.
    pub author: [u8; 32],
    /// The author's gapless per-group number, from 1.
    pub seq: u64,
    /// The author's Lamport clock.
    pub lamport: u64,
    /// The roster version the author held.
    pub roster: u64,
    /// The author's wall clock, ms (display only).
    pub ts: i64,
    /// 1..=[`MAX_GROUP_TEXT`] bytes of UTF-8.
    pub text: String,
    /// The author's Ed25519 signature.
    pub sig: [u8; 64],
}

impl fmt::Debug for GroupMsg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // No text in logs.
        write!(
            f,
            "GroupMsg({} {} by {} #{} L{} r{}, {} bytes)",
            self.group,
            self.id,
            crate::rules::short_id(&self.author),
            self.seq,
            self.lamport,
            self.roster,
            self.text.len()
        )
    }
}

/// `GSYN`: what the sender holds of one group: its roster version and, per author, the
/// highest `seq` up to which it holds every message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// The group.
    pub group: GroupId,
    /// The sender's roster version.
    pub v: u64,
    /// Per author, the highest `seq` held with every one before it.
    #[serde(deserialize_with = "de_have")]
    pub have: Vec<(Author, u64)>,
}

/// A node id as hex in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Author(pub [u8; 32]);

impl Serialize for Author {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Author {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        json::hex_array::<32, D>(d).map(Author)
    }
}

/// `GINV`: the owner invites the receiver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invite {
    /// The group.
    pub group: GroupId,
    /// Its name.
    pub name: String,
    /// Its owner (the sender).
    pub owner: Author,
}

/// `GACC` / `GDEC`: names only the group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRef {
    /// The group.
    pub group: GroupId,
}

/// `GRCP`: a member tells an author how far it holds and has read the author's
/// messages in a group (seqs, high-water marks). Its member is the session's peer: a
/// receipt is never forwarded, so nobody can speak for another member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The group.
    pub group: GroupId,
    /// Every message of the receiver's with `seq` ≤ this is stored by the sender.
    pub delivered: u64,
    /// Every message of the receiver's with `seq` ≤ this is read by the sender's user
    /// (≤ `delivered`: read implies delivered).
    pub read: u64,
}

/// `GLEV`: a member's own statement that it leaves a group, made while it held roster
/// version `from`. Signed by `member` over [`LEAVE_DOMAIN`] `|| group(16) || member(32)
/// || from (u64 BE)`, so any member can forward it and nobody can leave for another.
/// It names the first roster after `from` without `member` as a leave, not a removal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leave {
    /// The group.
    pub group: GroupId,
    /// Who leaves (and signed).
    pub member: Author,
    /// The roster version it held when it left.
    pub from: u64,
    /// Ed25519 signature of `member`.
    #[serde(
        serialize_with = "json::ser_hex",
        deserialize_with = "json::hex_array::<64, _>"
    )]
    pub sig: [u8; 64],
}

impl Leave {
    fn body(group: &GroupId, member: &[u8; 32], from: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(56);
        out.extend_from_slice(&group.0);
        out.extend_from_slice(member);
        out.extend_from_slice(&from.to_be_bytes());
        out
    }

    /// `member`'s signed leave (its key must be `member`'s for receivers to accept).
    pub fn sign(group: GroupId, member: [u8; 32], from: u64, key: &SigningKey) -> Leave {
        let sig = key
            .sign(&signing_input(
                LEAVE_DOMAIN,
                &Leave::body(&group, &member, from),
            ))
            .to_bytes();
        Leave {
            group,
            member: Author(member),
            from,
            sig,
        }
    }

    /// Whether `member` signed it.
    pub fn verify(&self) -> bool {
        verify(
            &self.member.0,
            LEAVE_DOMAIN,
            &Leave::body(&self.group, &self.member.0, self.from),
            &self.sig,
        )
    }
}

/// Checks a `GRCP`: `read` ≤ `delivered` (otherwise malformed).
pub fn validate_receipt(r: &Receipt) -> Result<(), InnerError> {
    if r.read > r.delivered {
        return Err(bad(kind::GRCP, "read above delivered"));
    }
    Ok(())
}

fn de_have<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(Author, u64)>, D::Error> {
    json::bounded(d, MAX_SYNC_AUTHORS, "authors in a GSYN")
}

/// Why a roster or message is refused by its own content (shape, not signature).
fn bad(kind: [u8; 4], why: &str) -> InnerError {
    InnerError::Json {
        kind,
        reason: why.into(),
    }
}

/// Checks a group name: 1..=64 characters, not blank, no control characters.
pub fn valid_group_name(name: &str) -> bool {
    let chars = name.chars().count();
    (1..=MAX_GROUP_NAME_CHARS).contains(&chars)
        && !name.trim().is_empty()
        && !name.chars().any(char::is_control)
}

/// A cursor over a body that never reads past its end.
struct Reader<'a> {
    rest: &'a [u8],
    kind: [u8; 4],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], InnerError> {
        if self.rest.len() < n {
            return Err(bad(self.kind, "body shorter than its layout"));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], InnerError> {
        let kind = self.kind;
        self.take(N)?
            .try_into()
            .map_err(|_| bad(kind, "body shorter than its layout"))
    }
    fn u64(&mut self) -> Result<u64, InnerError> {
        self.array::<8>().map(u64::from_be_bytes)
    }
}

impl Roster {
    /// The canonical body (see the module docs).
    pub fn body(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(ROSTER_HEAD + self.name.len() + 1 + 32 * 64);
        out.extend_from_slice(&self.group.0);
        out.extend_from_slice(&self.version.to_be_bytes());
        out.extend_from_slice(&self.lamport.to_be_bytes());
        out.extend_from_slice(&self.signer);
        out.extend_from_slice(&self.owner);
        out.extend_from_slice(&self.prev);
        let name_len = u16::try_from(self.name.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&name_len.to_be_bytes());
        out.extend_from_slice(self.name.as_bytes());
        out.push(u8::try_from(self.members.len()).unwrap_or(u8::MAX));
        for m in &self.members {
            out.extend_from_slice(m);
        }
        out
    }

    /// Signs as `key` (whose public key must be `self.signer` for receivers to accept).
    pub fn sign(self, key: &SigningKey) -> SignedRoster {
        let sig = key.sign(&signing_input(ROSTER_DOMAIN, &self.body()));
        SignedRoster {
            roster: self,
            sig: sig.to_bytes(),
        }
    }

    /// Whether `id` is listed.
    pub fn has(&self, id: &[u8; 32]) -> bool {
        self.members.binary_search(id).is_ok()
    }

    fn check_shape(&self) -> Result<(), InnerError> {
        let k = kind::GROS;
        if self.version == 0 {
            return Err(bad(k, "roster version 0"));
        }
        if !valid_group_name(&self.name) || self.name.len() > MAX_GROUP_NAME_BYTES {
            return Err(bad(k, "group name not 1..=64 characters"));
        }
        if self.members.is_empty() || self.members.len() > MAX_MEMBERS {
            return Err(bad(k, "members not 1..=64"));
        }
        if self.members.windows(2).any(|w| w[0] >= w[1]) {
            return Err(bad(k, "members not strictly ascending"));
        }
        if !self.has(&self.owner) {
            return Err(bad(k, "the owner is not a member"));
        }
        Ok(())
    }
}

impl SignedRoster {
    /// Parses a `GROS` body (roster body `||` 64-byte signature).
    pub fn parse(body: &[u8]) -> Result<SignedRoster, InnerError> {
        let mut r = Reader {
            rest: body,
            kind: kind::GROS,
        };
        let group = GroupId(r.array()?);
        let version = r.u64()?;
        let lamport = r.u64()?;
        let signer = r.array()?;
        let owner = r.array()?;
        let prev = r.array()?;
        let name_len = usize::from(u16::from_be_bytes(r.array()?));
        if name_len > MAX_GROUP_NAME_BYTES {
            return Err(bad(kind::GROS, "group name longer than 256 bytes"));
        }
        let name = std::str::from_utf8(r.take(name_len)?)
            .map_err(|_| bad(kind::GROS, "group name is not UTF-8"))?
            .to_string();
        let count = usize::from(r.array::<1>()?[0]);
        if count > MAX_MEMBERS {
            return Err(bad(kind::GROS, "more than 64 members"));
        }
        let mut members = Vec::with_capacity(count);
        for _ in 0..count {
            members.push(r.array()?);
        }
        let sig = r.array()?;
        if !r.rest.is_empty() {
            return Err(bad(kind::GROS, "bytes after the signature"));
        }
        let roster = Roster {
            group,
            version,
            lamport,
            signer,
            owner,
            prev,
            name,
            members,
        };
        roster.check_shape()?;
        Ok(SignedRoster { roster, sig })
    }

    /// Appends the `GROS` body.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.roster.body());
        out.extend_from_slice(&self.sig);
    }

    /// The shape rules [`SignedRoster::parse`] enforces, for senders.
    pub fn validate(&self) -> Result<(), InnerError> {
        self.roster.check_shape()
    }

    /// Whether the signature is `signer`'s over the canonical body.
    pub fn verify(&self) -> bool {
        verify(
            &self.roster.signer,
            ROSTER_DOMAIN,
            &self.roster.body(),
            &self.sig,
        )
    }

    /// `SHA-256(ROSTER_DOMAIN || body || sig)`: what the next roster names as `prev`.
    pub fn hash(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(ROSTER_DOMAIN);
        h.update(self.roster.body());
        h.update(self.sig);
        h.finalize().into()
    }
}

impl GroupMsg {
    /// The canonical body (see the module docs).
    pub fn body(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(MSG_HEAD + self.text.len());
        out.extend_from_slice(&self.group.0);
        out.extend_from_slice(&self.id.0);
        out.extend_from_slice(&self.author);
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.lamport.to_be_bytes());
        out.extend_from_slice(&self.roster.to_be_bytes());
        out.extend_from_slice(&self.ts.to_be_bytes());
        let len = u32::try_from(self.text.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(self.text.as_bytes());
        out
    }

    /// Fills in `sig` as `key` (whose public key must be `author`).
    pub fn sign(mut self, key: &SigningKey) -> GroupMsg {
        self.sig = key
            .sign(&signing_input(GMSG_DOMAIN, &self.body()))
            .to_bytes();
        self
    }

    /// Whether the signature is the author's over the canonical body.
    pub fn verify(&self) -> bool {
        verify(&self.author, GMSG_DOMAIN, &self.body(), &self.sig)
    }

    /// [`GroupMsg::verify`] with the author's key already decoded (`key` must be the
    /// author's, or this is false): a member keeps its members' keys, and decoding one
    /// (a point decompression) was a fifth of each check.
    pub fn verify_with(&self, key: &VerifyingKey) -> bool {
        key.as_bytes() == &self.author
            && key
                .verify(
                    &signing_input(GMSG_DOMAIN, &self.body()),
                    &Signature::from_bytes(&self.sig),
                )
                .is_ok()
    }

    /// Parses a `GMSG` body (message body `||` 64-byte signature).
    pub fn parse(body: &[u8]) -> Result<GroupMsg, InnerError> {
        let k = kind::GMSG;
        let mut r = Reader {
            rest: body,
            kind: k,
        };
        let group = GroupId(r.array()?);
        let id = MsgId(r.array()?);
        let author = r.array()?;
        let seq = r.u64()?;
        let lamport = r.u64()?;
        let roster = r.u64()?;
        let ts = i64::from_be_bytes(r.array()?);
        let len = usize::try_from(u32::from_be_bytes(r.array()?)).unwrap_or(usize::MAX);
        if len == 0 || len > MAX_GROUP_TEXT {
            return Err(bad(k, "text not 1..=65536 bytes"));
        }
        let text = std::str::from_utf8(r.take(len)?)
            .map_err(|_| bad(k, "text is not UTF-8"))?
            .to_string();
        let sig = r.array()?;
        if !r.rest.is_empty() {
            return Err(bad(k, "bytes after the signature"));
        }
        let msg = GroupMsg {
            group,
            id,
            author,
            seq,
            lamport,
            roster,
            ts,
            text,
            sig,
        };
        msg.validate()?;
        Ok(msg)
    }

    /// The limits [`GroupMsg::parse`] enforces, for senders.
    pub fn validate(&self) -> Result<(), InnerError> {
        let k = kind::GMSG;
        if self.seq == 0 || self.lamport == 0 || self.roster == 0 {
            return Err(bad(k, "seq, lamport and roster start at 1"));
        }
        match self.text.len() {
            0 => Err(InnerError::EmptyText),
            len if len > MAX_GROUP_TEXT => Err(InnerError::TextTooLong { len }),
            _ => Ok(()),
        }
    }

    /// Appends the `GMSG` body.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.body());
        out.extend_from_slice(&self.sig);
    }
}

/// Checks `GSYN` and `GINV` limits.
pub fn validate_sync(s: &Summary) -> Result<(), InnerError> {
    if s.have.len() > MAX_SYNC_AUTHORS {
        return Err(InnerError::TooMany {
            what: "authors in a GSYN",
            count: s.have.len(),
            max: MAX_SYNC_AUTHORS,
        });
    }
    Ok(())
}

/// Checks a `GINV`'s name (a malformed one closes, like a `NAME`).
pub fn validate_invite(i: &Invite) -> Result<(), InnerError> {
    if !valid_group_name(&i.name) {
        return Err(bad(kind::GINV, "group name not 1..=64 characters"));
    }
    Ok(())
}

fn signing_input(domain: &[u8], body: &[u8]) -> Vec<u8> {
    let mut input = Vec::with_capacity(domain.len() + body.len());
    input.extend_from_slice(domain);
    input.extend_from_slice(body);
    input
}

fn verify(id: &[u8; 32], domain: &[u8], body: &[u8], sig: &[u8; 64]) -> bool {
    let Ok(key) = super::hand::identity_key(id) else {
        return false;
    };
    key.verify(&signing_input(domain, body), &Signature::from_bytes(sig))
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;

    fn ids(n: u8) -> Identity {
        Identity::from_secret(&[n; 32])
    }

    fn roster(owner: &Identity, members: &[&Identity]) -> SignedRoster {
        let mut m: Vec<[u8; 32]> = members.iter().map(|i| i.id()).collect();
        m.sort();
        Roster {
            group: GroupId([7; 16]),
            version: 1,
            lamport: 1,
            signer: owner.id(),
            owner: owner.id(),
            prev: [0; 32],
            name: "cats".into(),
            members: m,
        }
        .sign(owner.signing_key())
    }

    fn msg(author: &Identity, text: &str) -> GroupMsg {
        GroupMsg {
            group: GroupId([7; 16]),
            id: MsgId([9; 16]),
            author: author.id(),
            seq: 1,
            lamport: 2,
            roster: 1,
            ts: 1_700_000_000_000,
            text: text.into(),
            sig: [0; 64],
        }
        .sign(author.signing_key())
    }

    #[test]
    fn roster_round_trips_and_verifies_and_any_changed_byte_breaks_it() {
        let (a, b) = (ids(1), ids(2));
        let r = roster(&a, &[&a, &b]);
        let mut out = Vec::new();
        r.encode(&mut out);
        let back = SignedRoster::parse(&out).expect("parses");
        assert_eq!(back, r);
        assert!(back.verify());
        for i in [0, 20, 40, 70, 100, 129, out.len() - 70, out.len() - 1] {
            let mut evil = out.clone();
            evil[i] ^= 1;
            if let Ok(p) = SignedRoster::parse(&evil) {
                assert!(!p.verify(), "byte {i} changed and still verifies");
            }
        }
    }

    #[test]
    fn a_roster_signature_does_not_verify_as_a_message_and_back() {
        // Domain separation: the same key signs both kinds.
        let a = ids(1);
        let m = msg(&a, "hi");
        assert!(m.verify());
        let sig = key_sig(&a, ROSTER_DOMAIN, &m.body());
        let forged = GroupMsg { sig, ..m };
        assert!(!forged.verify());
    }

    /// With the key decoded beforehand, a message verifies exactly when `verify` says
    /// so, and never with a key that is not its author's (a cache mixing two up).
    #[test]
    fn a_message_checked_with_a_decoded_key_verifies_only_with_its_authors() {
        let (a, b) = (ids(1), ids(2));
        let key = |i: &Identity| super::super::hand::identity_key(&i.id()).unwrap();
        let m = msg(&a, "hi");
        assert!(m.verify_with(&key(&a)));
        assert!(!m.verify_with(&key(&b)));
        let mut bad = m.clone();
        bad.sig[0] ^= 1;
        assert!(!bad.verify() && !bad.verify_with(&key(&a)));
        let by_b = GroupMsg {
            author: b.id(),
            ..m.clone()
        };
        assert!(!by_b.verify_with(&key(&b)) && !by_b.verify_with(&key(&a)));
    }

    fn key_sig(i: &Identity, domain: &[u8], body: &[u8]) -> [u8; 64] {
        i.signing_key()
            .sign(&signing_input(domain, body))
            .to_bytes()
    }

    #[test]
    fn roster_shape_rules_are_enforced_while_parsing() {
        let (a, b) = (ids(1), ids(2));
        let good = roster(&a, &[&a, &b]);
        let enc = |r: &SignedRoster| {
            let mut out = Vec::new();
            r.encode(&mut out);
            out
        };
        let mut unsorted = good.clone();
        unsorted.roster.members.reverse();
        let mut no_owner = good.clone();
        no_owner.roster.members.retain(|m| *m != a.id());
        let mut v0 = good.clone();
        v0.roster.version = 0;
        let mut long_name = good.clone();
        long_name.roster.name = "n".repeat(65);
        for evil in [unsorted, no_owner, v0, long_name] {
            assert!(SignedRoster::parse(&enc(&evil)).is_err());
        }
        // A count byte claiming 200 members is refused before reading them.
        let mut raw = enc(&good);
        raw[ROSTER_HEAD + 4] = 200;
        assert!(SignedRoster::parse(&raw).is_err());
        // Truncations never panic.
        let full = enc(&good);
        for n in 0..full.len() {
            assert!(SignedRoster::parse(&full[..n]).is_err());
        }
    }

    #[test]
    fn message_round_trips_and_limits_hold() {
        let a = ids(1);
        let m = msg(&a, "hello\0there");
        let mut out = Vec::new();
        m.encode(&mut out);
        assert_eq!(GroupMsg::parse(&out).expect("parses"), m);
        for n in 0..out.len() {
            assert!(GroupMsg::parse(&out[..n]).is_err());
        }
        let big = msg(&a, &"x".repeat(MAX_GROUP_TEXT + 1));
        let mut out = Vec::new();
        big.encode(&mut out);
        assert!(GroupMsg::parse(&out).is_err());
        let zero = GroupMsg { seq: 0, ..m };
        assert!(zero.validate().is_err());
    }

    #[test]
    fn a_leave_verifies_only_for_its_member_and_round_trips_as_json() {
        let (a, b) = (ids(1), ids(2));
        let leave = Leave::sign(GroupId([7; 16]), a.id(), 3, a.signing_key());
        assert!(leave.verify());
        let mut out = Vec::new();
        json::write(&mut out, &leave);
        let back: Leave = serde_json::from_slice(&out).expect("parses");
        assert_eq!(back, leave);
        // b cannot leave for a, nor move a's leave to another version.
        assert!(!Leave::sign(GroupId([7; 16]), a.id(), 3, b.signing_key()).verify());
        assert!(!Leave { from: 4, ..leave }.verify());
    }

    #[test]
    fn a_message_signed_by_someone_else_does_not_verify() {
        let (a, b) = (ids(1), ids(2));
        let m = GroupMsg {
            author: a.id(),
            ..msg(&b, "i am a")
        };
        assert!(!m.verify());
    }
}
