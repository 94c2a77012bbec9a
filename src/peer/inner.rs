//! Inner messages: what travels inside an authenticated record (SPEC §7 "Inner messages").
//!
//! This module owns the layout `kind: 4 ASCII bytes | body`, the JSON bodies, and every
//! limit on them. [`Inner::parse`] turns the decrypted bytes of a record into a checked
//! [`Inner`] once; code above it never sees raw bytes or unchecked JSON.
//!
//! Rules (also in `docs/PROTOCOL.md`):
//! - an unknown kind parses as [`Inner::Unknown`] and the caller ignores it (forward
//!   compatibility); a known kind with a malformed body is an error and the caller closes;
//! - JSON bodies may carry extra, unknown fields, which are ignored (same reason), but
//!   duplicate fields, missing fields, wrong types and trailing bytes are malformed;
//! - list sizes are bounded *while* parsing ([`MAX_LIST_ENTRIES`], [`MAX_ADDRS`],
//!   [`MAX_IDS`]), so a hostile array never becomes a huge `Vec`; a `LIST` longer than
//!   its limit is cut to its first entries rather than refused (SPEC §7), since an
//!   honest node that met many strangers must not lose its sessions over it.

use std::fmt;
use std::net::SocketAddr;

use serde::de::{DeserializeOwned, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

use super::addrs;
use super::files;
use super::group;
use super::json;
use super::reach;
use crate::hex;

pub use crate::rules::{validate_name, NameError, MAX_NAME_CHARS, MAX_TEXT_LEN};
/// Most entries in one `LIST` (SPEC §7). A sender never sends more (nodes before
/// 2026-12 close the session on more); a receiver given more keeps the first this many
/// and the session.
pub const MAX_LIST_ENTRIES: usize = 1024;
/// Most addresses per `LIST` entry (our choice): enough for every interface of a host.
pub const MAX_ADDRS: usize = 16;
/// Most ids in one `ACKN`, `READ` or `RACK` (our choice): a sender batches larger sets.
pub const MAX_IDS: usize = 4096;
/// Most capabilities in one `CAPS`, and the longest one in bytes (our choice).
pub const MAX_CAPS: usize = 64;
/// The longest capability name, in bytes.
pub const MAX_CAP_LEN: usize = 64;

/// Capabilities a node announces in `CAPS` (docs/PROTOCOL.md §6). A peer that does not
/// know one ignores it; a capability is only used with a peer that announced it.
pub mod caps {
    /// "I confirm your `READ`s with `RACK` once they are stored; re-send them until I do."
    pub const READ_ACK: &str = "read-ack";
    /// "I take files: `FOFR`, `FREQ`, `FACK`, `FCHK`, `FEND`, `FDON`, `FCAN`."
    pub const FILES: &str = "files";
    /// "I take groups: `GROS`, `GMSG`, `GSYN`, `GINV`, `GACC`, `GDEC`, `GRCP`, `GLEV`"
    /// (issue 18).
    pub const GROUPS: &str = "groups";
    /// "I take `ADDR`: tell me every address you can be reached at" (issue 20).
    pub const ADDR: &str = "addr";
    /// "I answer `RBCK` with `RBRS`: ask me to dial you back" (issue 20).
    pub const REACH: &str = "reach";
    /// What this version announces.
    pub const OURS: &[&str] = &[READ_ACK, FILES, GROUPS, ADDR, REACH];
}

/// Kind bytes of the inner messages SPEC §7 defines.
pub mod kind {
    /// First record in each direction: the handshake signature.
    pub const AUTH: [u8; 4] = *b"AUTH";
    /// Peers the sender has authenticated itself.
    pub const LIST: [u8; 4] = *b"LIST";
    /// A chat message.
    pub const MESS: [u8; 4] = *b"MESS";
    /// Messages stored durably by the receiver.
    pub const ACKN: [u8; 4] = *b"ACKN";
    /// Messages the receiving user has seen.
    pub const READ: [u8; 4] = *b"READ";
    /// The sender's new display name.
    pub const NAME: [u8; 4] = *b"NAME";
    /// Keep-alive request.
    pub const PING: [u8; 4] = *b"PING";
    /// Keep-alive answer.
    pub const PONG: [u8; 4] = *b"PONG";
    /// What the sender's version can do (after `LIST`; since 2026-12).
    pub const CAPS: [u8; 4] = *b"CAPS";
    /// `READ`s the receiver has stored (to peers that announced `read-ack`).
    pub const RACK: [u8; 4] = *b"RACK";
    /// A file offer (capability `files`, like every kind below).
    pub const FOFR: [u8; 4] = *b"FOFR";
    /// The receiver's chunks held and credit window.
    pub const FREQ: [u8; 4] = *b"FREQ";
    /// More credit.
    pub const FACK: [u8; 4] = *b"FACK";
    /// One chunk (binary body).
    pub const FCHK: [u8; 4] = *b"FCHK";
    /// The root hash, after the last chunk.
    pub const FEND: [u8; 4] = *b"FEND";
    /// The receiver verified and stored the file.
    pub const FDON: [u8; 4] = *b"FDON";
    /// Either side ends a transfer.
    pub const FCAN: [u8; 4] = *b"FCAN";
    /// A signed group roster (capability `groups`, like every kind below).
    pub const GROS: [u8; 4] = *b"GROS";
    /// A signed group message.
    pub const GMSG: [u8; 4] = *b"GMSG";
    /// What the sender holds of a group.
    pub const GSYN: [u8; 4] = *b"GSYN";
    /// An invitation to a group.
    pub const GINV: [u8; 4] = *b"GINV";
    /// The invitee accepts.
    pub const GACC: [u8; 4] = *b"GACC";
    /// The invitee declines, or a member leaves.
    pub const GDEC: [u8; 4] = *b"GDEC";
    /// A member's delivery and read marks for the receiver's messages in a group.
    pub const GRCP: [u8; 4] = *b"GRCP";
    /// A member's signed statement that it leaves a group.
    pub const GLEV: [u8; 4] = *b"GLEV";
    /// Every address the sender can be reached at (capability `addr`).
    pub const ADDR: [u8; 4] = *b"ADDR";
    /// "Dial me back at these addresses" (capability `reach`, issue 20).
    pub const RBCK: [u8; 4] = *b"RBCK";
    /// What the dial-backs found.
    pub const RBRS: [u8; 4] = *b"RBRS";
}

/// A message id: 16 random bytes, 32 lowercase hex characters on the wire (SPEC §5).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MsgId(pub [u8; 16]);

impl fmt::Display for MsgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(&self.0))
    }
}

impl fmt::Debug for MsgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MsgId({self})")
    }
}

impl std::str::FromStr for MsgId {
    type Err = hex::HexError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        hex::decode_array(s).map(MsgId)
    }
}

impl Serialize for MsgId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for MsgId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        json::hex_array::<16, D>(d).map(MsgId)
    }
}

/// One peer in a `LIST`: `{"id":hex,"addrs":["ip:port",...],"name":str[,"kinds":[...]]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListEntry {
    /// The peer's Ed25519 public key.
    #[serde(serialize_with = "json::ser_hex", deserialize_with = "json::hex_array")]
    pub id: [u8; 32],
    /// Where the sender reached (or was reached by) that peer; port never 0.
    #[serde(deserialize_with = "de_addrs")]
    pub addrs: Vec<SocketAddr>,
    /// The peer's display name as the sender knows it.
    pub name: String,
    /// What carries each address, in the order of `addrs` (since 2026-12; absent from
    /// older senders, and ignored unless it has one kind per address).
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de_kinds"
    )]
    pub kinds: Vec<addrs::AddrKind>,
}

/// A chat message: `{"id":hex32,"ts":ms,"text":str}`, fields serialized in that order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mess {
    /// Random id chosen by the sender; receivers deduplicate on it.
    pub id: MsgId,
    /// Sender's clock, Unix milliseconds.
    pub ts: u64,
    /// 1..=[`MAX_TEXT_LEN`] bytes of UTF-8, kept exactly (NUL and controls included).
    pub text: String,
}

/// One decoded inner message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inner {
    /// Raw 64-byte Ed25519 signature (only valid as the first record).
    Auth([u8; 64]),
    /// Peers the sender has authenticated.
    List(Vec<ListEntry>),
    /// A chat message.
    Mess(Mess),
    /// These messages are stored durably by the sender of the `ACKN`.
    Ackn(Vec<MsgId>),
    /// The user has seen these messages.
    Read(Vec<MsgId>),
    /// The sender's new display name.
    Name(String),
    /// Keep-alive request (empty body).
    Ping,
    /// Keep-alive answer (empty body).
    Pong,
    /// The sender's capabilities ([`caps`]); unknown ones are kept and ignored.
    Caps(Vec<String>),
    /// The `READ`s for these messages are stored by the sender of the `RACK`.
    Rack(Vec<MsgId>),
    /// A file offer.
    FileOffer(files::Offer),
    /// Chunks held by the receiver, and its credit window.
    FileRequest(files::Request),
    /// More credit for a transfer.
    FileCredit(files::Credit),
    /// One chunk of a file.
    FileChunk(files::Chunk),
    /// The root hash of a file.
    FileEnd(files::End),
    /// The file is stored and verified.
    FileDone(files::Done),
    /// The transfer ends.
    FileCancel(files::Cancel),
    /// A signed roster.
    GroupRoster(Box<group::SignedRoster>),
    /// A signed group message.
    GroupMsg(Box<group::GroupMsg>),
    /// What the sender holds of a group.
    GroupSync(group::Summary),
    /// An invitation.
    GroupInvite(group::Invite),
    /// The invitee accepts.
    GroupAccept(group::GroupRef),
    /// Declined, or left.
    GroupDecline(group::GroupRef),
    /// A member's delivery and read marks for our messages in a group.
    GroupReceipt(group::Receipt),
    /// A member's signed leave.
    GroupLeave(Box<group::Leave>),
    /// Every address the sender can be reached at.
    Addr(addrs::Addrs),
    /// Dial me back at these addresses.
    ReachAsk(reach::Ask),
    /// What the dial-backs found.
    ReachAnswer(reach::Answer),
    /// A kind this version does not know; the body is dropped and the caller ignores it.
    Unknown([u8; 4]),
}

/// Why the bytes of a record are not a valid inner message. The caller closes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InnerError {
    /// Fewer than the 4 kind bytes.
    Short {
        /// Length of the record.
        len: usize,
    },
    /// An `AUTH` body that is not exactly 64 bytes.
    AuthLength {
        /// Length of the body.
        len: usize,
    },
    /// A `PING`/`PONG` with a body.
    NotEmpty {
        /// The kind.
        kind: [u8; 4],
        /// Length of the body.
        len: usize,
    },
    /// The JSON body is not what the kind requires (syntax, types, fields, hex, addresses,
    /// or a list longer than its limit, which is detected while parsing).
    Json {
        /// The kind.
        kind: [u8; 4],
        /// serde_json's description (contains no key material).
        reason: String,
    },
    /// A `MESS` with empty text.
    EmptyText,
    /// A `MESS` text over [`MAX_TEXT_LEN`] bytes.
    TextTooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// A name in `NAME` or a `LIST` entry is not acceptable.
    BadName(NameError),
    /// A list is over its limit (found by [`Inner::validate`] before sending).
    TooMany {
        /// Which list.
        what: &'static str,
        /// Its length.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A `LIST` address with port 0, which cannot be dialled.
    ZeroPort(SocketAddr),
    /// A `CAPS` entry that is empty or longer than [`MAX_CAP_LEN`] bytes.
    BadCap {
        /// Its length in bytes.
        len: usize,
    },
}

impl fmt::Display for InnerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use super::frame::CmdDisplay;
        match self {
            InnerError::Short { len } => write!(f, "inner message of {len} bytes has no kind"),
            InnerError::AuthLength { len } => write!(f, "AUTH body of {len} bytes, expected 64"),
            InnerError::NotEmpty { kind, len } => {
                write!(
                    f,
                    "{} with a {len}-byte body, expected none",
                    CmdDisplay(kind)
                )
            }
            InnerError::Json { kind, reason } => {
                write!(f, "malformed {} body: {reason}", CmdDisplay(kind))
            }
            InnerError::EmptyText => write!(f, "MESS with empty text"),
            InnerError::TextTooLong { len } => {
                write!(f, "MESS text of {len} bytes (max {MAX_TEXT_LEN})")
            }
            InnerError::BadName(e) => write!(f, "bad name: {e}"),
            InnerError::TooMany { what, count, max } => {
                write!(f, "{count} {what} (max {max})")
            }
            InnerError::ZeroPort(addr) => write!(f, "LIST address {addr} has port 0"),
            InnerError::BadCap { len } => {
                write!(f, "CAPS entry of {len} bytes (1..={MAX_CAP_LEN})")
            }
        }
    }
}

impl std::error::Error for InnerError {}

impl Inner {
    /// Parses and checks the plaintext of one record.
    pub fn parse(bytes: &[u8]) -> Result<Inner, InnerError> {
        let (kind, body) = bytes
            .split_first_chunk::<4>()
            .ok_or(InnerError::Short { len: bytes.len() })?;
        let inner = match kind {
            b"AUTH" => Inner::Auth(
                body.try_into()
                    .map_err(|_| InnerError::AuthLength { len: body.len() })?,
            ),
            b"LIST" => Inner::List(list_without_bad_names(parse_json::<ListIn>(kind, body)?.0)),
            b"MESS" => Inner::Mess(parse_json(kind, body)?),
            b"ACKN" => Inner::Ackn(parse_json::<IdsIn>(kind, body)?.ids),
            b"READ" => Inner::Read(parse_json::<IdsIn>(kind, body)?.ids),
            b"NAME" => Inner::Name(parse_json::<NameIn>(kind, body)?.name),
            b"PING" => empty(kind, body, Inner::Ping)?,
            b"PONG" => empty(kind, body, Inner::Pong)?,
            b"CAPS" => Inner::Caps(parse_json::<CapsIn>(kind, body)?.caps),
            b"RACK" => Inner::Rack(parse_json::<IdsIn>(kind, body)?.ids),
            b"FOFR" => Inner::FileOffer(parse_json(kind, body)?),
            b"FREQ" => Inner::FileRequest(parse_json(kind, body)?),
            b"FACK" => Inner::FileCredit(parse_json(kind, body)?),
            b"FCHK" => Inner::FileChunk(files::Chunk::parse(body)?),
            b"FEND" => Inner::FileEnd(parse_json(kind, body)?),
            b"FDON" => Inner::FileDone(parse_json(kind, body)?),
            b"FCAN" => Inner::FileCancel(parse_json(kind, body)?),
            b"GROS" => Inner::GroupRoster(Box::new(group::SignedRoster::parse(body)?)),
            b"GMSG" => Inner::GroupMsg(Box::new(group::GroupMsg::parse(body)?)),
            b"GSYN" => Inner::GroupSync(parse_json(kind, body)?),
            b"GINV" => Inner::GroupInvite(parse_json(kind, body)?),
            b"GACC" => Inner::GroupAccept(parse_json(kind, body)?),
            b"GDEC" => Inner::GroupDecline(parse_json(kind, body)?),
            b"GRCP" => Inner::GroupReceipt(parse_json(kind, body)?),
            b"GLEV" => Inner::GroupLeave(Box::new(parse_json(kind, body)?)),
            b"ADDR" => Inner::Addr(parse_json(kind, body)?),
            b"RBCK" => Inner::ReachAsk(parse_json(kind, body)?),
            b"RBRS" => Inner::ReachAnswer(parse_json(kind, body)?),
            _ => Inner::Unknown(*kind),
        };
        inner.validate()?;
        Ok(inner)
    }

    /// Checks the limits that JSON parsing alone does not: text and name lengths, list
    /// sizes, ports. [`Inner::parse`] calls it; senders may call it before
    /// [`Inner::encode`] to avoid sending what the peer would close on.
    pub fn validate(&self) -> Result<(), InnerError> {
        match self {
            Inner::List(entries) => {
                check_count("LIST entries", entries.len(), MAX_LIST_ENTRIES)?;
                entries.iter().try_for_each(validate_entry)
            }
            Inner::Mess(mess) => match mess.text.len() {
                0 => Err(InnerError::EmptyText),
                len if len > MAX_TEXT_LEN => Err(InnerError::TextTooLong { len }),
                _ => Ok(()),
            },
            Inner::Ackn(ids) | Inner::Read(ids) | Inner::Rack(ids) => {
                check_count("ids", ids.len(), MAX_IDS)
            }
            Inner::Caps(caps) => {
                check_count("capabilities", caps.len(), MAX_CAPS)?;
                match caps.iter().find(|c| c.is_empty() || c.len() > MAX_CAP_LEN) {
                    Some(c) => Err(InnerError::BadCap { len: c.len() }),
                    None => Ok(()),
                }
            }
            Inner::Name(name) => validate_name(name).map_err(InnerError::BadName),
            Inner::FileOffer(o) => files::validate_offer(o),
            Inner::FileRequest(r) => files::validate_request(r),
            Inner::FileCancel(c) => files::validate_cancel(c),
            Inner::FileChunk(c) => match c.data.len() > files::MAX_CHUNK {
                true => Err(InnerError::TooMany {
                    what: "bytes of chunk data",
                    count: c.data.len(),
                    max: files::MAX_CHUNK,
                }),
                false => Ok(()),
            },
            Inner::FileCredit(_) | Inner::FileEnd(_) | Inner::FileDone(_) => Ok(()),
            Inner::GroupRoster(r) => r.validate(),
            Inner::GroupMsg(m) => m.validate(),
            Inner::GroupSync(s) => group::validate_sync(s),
            Inner::GroupInvite(i) => group::validate_invite(i),
            Inner::GroupAccept(_) | Inner::GroupDecline(_) => Ok(()),
            Inner::GroupReceipt(r) => group::validate_receipt(r),
            Inner::GroupLeave(_) => Ok(()),
            Inner::Addr(a) => {
                check_count("announced addresses", a.addrs.len(), addrs::MAX_ANNOUNCED)
            }
            Inner::ReachAsk(a) => reach::validate_ask(a),
            Inner::ReachAnswer(a) => reach::validate_answer(a),
            Inner::Auth(_) | Inner::Ping | Inner::Pong | Inner::Unknown(_) => Ok(()),
        }
    }

    /// The four kind bytes.
    pub fn kind(&self) -> [u8; 4] {
        match self {
            Inner::Auth(_) => kind::AUTH,
            Inner::List(_) => kind::LIST,
            Inner::Mess(_) => kind::MESS,
            Inner::Ackn(_) => kind::ACKN,
            Inner::Read(_) => kind::READ,
            Inner::Name(_) => kind::NAME,
            Inner::Ping => kind::PING,
            Inner::Pong => kind::PONG,
            Inner::Caps(_) => kind::CAPS,
            Inner::Rack(_) => kind::RACK,
            Inner::FileOffer(_) => kind::FOFR,
            Inner::FileRequest(_) => kind::FREQ,
            Inner::FileCredit(_) => kind::FACK,
            Inner::FileChunk(_) => kind::FCHK,
            Inner::FileEnd(_) => kind::FEND,
            Inner::FileDone(_) => kind::FDON,
            Inner::FileCancel(_) => kind::FCAN,
            Inner::GroupRoster(_) => kind::GROS,
            Inner::GroupMsg(_) => kind::GMSG,
            Inner::GroupSync(_) => kind::GSYN,
            Inner::GroupInvite(_) => kind::GINV,
            Inner::GroupAccept(_) => kind::GACC,
            Inner::GroupDecline(_) => kind::GDEC,
            Inner::GroupReceipt(_) => kind::GRCP,
            Inner::GroupLeave(_) => kind::GLEV,
            Inner::Addr(_) => kind::ADDR,
            Inner::ReachAsk(_) => kind::RBCK,
            Inner::ReachAnswer(_) => kind::RBRS,
            Inner::Unknown(kind) => *kind,
        }
    }

    /// Appends `kind | body` to `out` (no validation: see [`Inner::validate`]).
    /// `Unknown` encodes as its kind with an empty body.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.kind());
        match self {
            Inner::Auth(sig) => out.extend_from_slice(sig),
            Inner::List(entries) => json::write(out, entries),
            Inner::Mess(mess) => json::write(out, mess),
            Inner::Ackn(ids) | Inner::Read(ids) | Inner::Rack(ids) => {
                json::write(out, &IdsOut { ids })
            }
            Inner::Caps(caps) => json::write(out, &CapsOut { caps }),
            Inner::Name(name) => json::write(out, &NameOut { name }),
            Inner::FileOffer(o) => json::write(out, o),
            Inner::FileRequest(r) => json::write(out, r),
            Inner::FileCredit(c) => json::write(out, c),
            Inner::FileChunk(c) => c.encode(out),
            Inner::FileEnd(e) => json::write(out, e),
            Inner::FileDone(d) => json::write(out, d),
            Inner::FileCancel(c) => json::write(out, c),
            Inner::GroupRoster(r) => r.encode(out),
            Inner::GroupMsg(m) => m.encode(out),
            Inner::GroupSync(s) => json::write(out, s),
            Inner::GroupInvite(i) => json::write(out, i),
            Inner::GroupAccept(g) | Inner::GroupDecline(g) => json::write(out, g),
            Inner::GroupReceipt(r) => json::write(out, r),
            Inner::GroupLeave(l) => json::write(out, l),
            Inner::Addr(a) => json::write(out, a),
            Inner::ReachAsk(a) => json::write(out, a),
            Inner::ReachAnswer(a) => json::write(out, a),
            Inner::Ping | Inner::Pong | Inner::Unknown(_) => {}
        }
    }
}

/// Whether a `LIST` address may be sent or dialled (SPEC §7: entries are hints): never
/// unspecified, multicast or broadcast, and loopback only between peers that are on
/// loopback themselves (otherwise a peer could make us dial our own machine's services).
/// `peer_on_loopback` says whether the session the list travels on is a loopback one.
pub fn hint_addr_ok(addr: &SocketAddr, peer_on_loopback: bool) -> bool {
    let ip = addr.ip().to_canonical();
    let forbidden = ip.is_unspecified()
        || ip.is_multicast()
        || match ip {
            std::net::IpAddr::V4(v4) => v4.is_broadcast() || v4.octets()[0] == 0,
            std::net::IpAddr::V6(_) => false,
        };
    addr.port() != 0 && !forbidden && (peer_on_loopback || !ip.is_loopback())
}

/// Drops the entries of a received `LIST` whose name [`validate_name`] refuses (a bidi
/// override, say) rather than closing the session: entries are hints about third
/// peers, and an honest older node may relay a name that the rules of 2026-12 refuse.
fn list_without_bad_names(mut entries: Vec<ListEntry>) -> Vec<ListEntry> {
    entries.retain(|e| validate_name(&e.name).is_ok());
    entries
}

fn validate_entry(entry: &ListEntry) -> Result<(), InnerError> {
    validate_name(&entry.name).map_err(InnerError::BadName)?;
    check_count("addresses in a LIST entry", entry.addrs.len(), MAX_ADDRS)?;
    check_count(
        "address kinds in a LIST entry",
        entry.kinds.len(),
        MAX_ADDRS,
    )?;
    match entry.addrs.iter().find(|a| a.port() == 0) {
        Some(addr) => Err(InnerError::ZeroPort(*addr)),
        None => Ok(()),
    }
}

fn check_count(what: &'static str, count: usize, max: usize) -> Result<(), InnerError> {
    if count > max {
        return Err(InnerError::TooMany { what, count, max });
    }
    Ok(())
}

fn empty(kind: &[u8; 4], body: &[u8], inner: Inner) -> Result<Inner, InnerError> {
    if body.is_empty() {
        Ok(inner)
    } else {
        Err(InnerError::NotEmpty {
            kind: *kind,
            len: body.len(),
        })
    }
}

/// Parses the whole body as JSON (`from_slice` refuses anything but whitespace after
/// the value).
fn parse_json<T: DeserializeOwned>(kind: &[u8; 4], body: &[u8]) -> Result<T, InnerError> {
    serde_json::from_slice(body).map_err(|e| InnerError::Json {
        kind: *kind,
        reason: e.to_string(),
    })
}

#[derive(Deserialize)]
#[serde(transparent)]
struct ListIn(#[serde(deserialize_with = "de_list")] Vec<ListEntry>);

#[derive(Deserialize)]
struct IdsIn {
    #[serde(deserialize_with = "de_ids")]
    ids: Vec<MsgId>,
}

#[derive(Serialize)]
struct IdsOut<'a> {
    ids: &'a [MsgId],
}

#[derive(Deserialize)]
struct CapsIn {
    #[serde(deserialize_with = "de_caps")]
    caps: Vec<String>,
}

#[derive(Serialize)]
struct CapsOut<'a> {
    caps: &'a [String],
}

#[derive(Deserialize)]
struct NameIn {
    name: String,
}

#[derive(Serialize)]
struct NameOut<'a> {
    name: &'a str,
}

fn de_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ListEntry>, D::Error> {
    json::prefix(d, MAX_LIST_ENTRIES, "LIST entries")
}

fn de_caps<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    json::bounded(d, MAX_CAPS, "capabilities")
}

fn de_ids<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<MsgId>, D::Error> {
    json::bounded(d, MAX_IDS, "ids")
}

fn de_kinds<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<addrs::AddrKind>, D::Error> {
    json::bounded(d, MAX_ADDRS, "address kinds in a LIST entry")
}

fn de_addrs<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<SocketAddr>, D::Error> {
    json::bounded(d, MAX_ADDRS, "addresses in a LIST entry")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json_err(bytes: &[u8]) -> bool {
        matches!(Inner::parse(bytes), Err(InnerError::Json { .. }))
    }

    #[test]
    fn mess_fields_serialize_in_spec_order() {
        let mut out = Vec::new();
        Inner::Mess(Mess {
            id: MsgId([0xab; 16]),
            ts: 7,
            text: "a\0b".into(),
        })
        .encode(&mut out);
        let expected = format!(
            r#"MESS{{"id":"{}","ts":7,"text":"a\u0000b"}}"#,
            "ab".repeat(16)
        );
        assert_eq!(out, expected.as_bytes());
    }

    #[test]
    fn upper_case_and_short_ids_are_malformed() {
        let upper = format!(r#"ACKN{{"ids":["{}"]}}"#, "AB".repeat(16));
        assert!(json_err(upper.as_bytes()));
        assert!(json_err(br#"ACKN{"ids":["abcd"]}"#));
    }

    #[test]
    fn id_list_limit_is_enforced_while_parsing() {
        let id = format!("\"{}\"", "00".repeat(16));
        let at_max = format!("READ{{\"ids\":[{}]}}", vec![id.as_str(); MAX_IDS].join(","));
        assert!(
            matches!(Inner::parse(at_max.as_bytes()), Ok(Inner::Read(v)) if v.len() == MAX_IDS)
        );
        let over = format!(
            "READ{{\"ids\":[{}]}}",
            vec![id.as_str(); MAX_IDS + 1].join(",")
        );
        assert!(json_err(over.as_bytes()));
    }

    #[test]
    fn trailing_bytes_and_duplicate_fields_are_malformed() {
        assert!(json_err(br#"NAME{"name":"a"} x"#));
        assert!(json_err(br#"NAME{"name":"a","name":"b"}"#));
        assert_eq!(
            Inner::parse(b"NAME{\"name\":\"a\"}\n"),
            Ok(Inner::Name("a".into()))
        );
    }

    #[test]
    fn list_hints_never_name_unspecified_multicast_broadcast_or_foreign_loopback() {
        let ok = |a: &str, lo: bool| hint_addr_ok(&a.parse().unwrap(), lo);
        for bad in [
            "0.0.0.0:35035",
            "[::]:35035",
            "224.0.0.1:35035",
            "[ff02::1]:35035",
            "255.255.255.255:35035",
            "0.1.2.3:35035",
            "[::ffff:0.0.0.0]:35035",
            "10.0.0.1:0",
        ] {
            assert!(!ok(bad, true), "{bad}");
        }
        assert!(!ok("127.0.0.1:35035", false));
        assert!(!ok("[::1]:35035", false));
        assert!(!ok("[::ffff:127.0.0.1]:35035", false));
        assert!(ok("127.0.0.1:35035", true));
        assert!(ok("192.168.1.20:35035", false));
        assert!(ok("[fe80::1%2]:35035", false));
    }

    #[test]
    fn file_kinds_round_trip_and_an_offer_keeps_its_field_order() {
        let id = MsgId([0x11; 16]);
        let offer = files::Offer {
            id,
            name: "cat.png".into(),
            size: 5,
            mime: "image/png".into(),
            chunk: 131072,
            thumb: Some(vec![0xab, 0x01]),
            caption: None,
        };
        let mut out = Vec::new();
        Inner::FileOffer(offer.clone()).encode(&mut out);
        let text = String::from_utf8(out.clone()).unwrap();
        assert_eq!(
            text,
            format!(
                r#"FOFR{{"id":"{}","name":"cat.png","size":5,"mime":"image/png","chunk":131072,"thumb":"ab01"}}"#,
                "11".repeat(16)
            )
        );
        assert_eq!(Inner::parse(&out), Ok(Inner::FileOffer(offer)));
        for inner in [
            Inner::FileRequest(files::Request {
                id,
                have: vec![(0, 3), (5, 9)],
                window: 16,
            }),
            Inner::FileCredit(files::Credit { id, n: 4 }),
            Inner::FileChunk(files::Chunk {
                id,
                index: 2,
                hash: [7; 32],
                data: vec![1; 100],
            }),
            Inner::FileEnd(files::End { id, root: [5; 32] }),
            Inner::FileDone(files::Done { id }),
            Inner::FileCancel(files::Cancel {
                id,
                reason: "declined".into(),
            }),
        ] {
            let mut out = Vec::new();
            inner.encode(&mut out);
            assert_eq!(Inner::parse(&out), Ok(inner));
        }
    }

    #[test]
    fn file_bodies_out_of_their_limits_are_malformed() {
        let id = "11".repeat(16);
        let long_name = "a".repeat(files::MAX_WIRE_NAME + 1);
        let bad = [
            format!(r#"FOFR{{"id":"{id}","name":"{long_name}","size":1,"mime":"","chunk":1}}"#),
            format!(r#"FOFR{{"id":"{id}","name":"a","size":1,"mime":"","chunk":0}}"#),
            format!(r#"FOFR{{"id":"{id}","name":"a","size":1,"mime":"","chunk":131073}}"#),
            format!(
                r#"FOFR{{"id":"{id}","name":"a","size":1,"mime":"","chunk":1,"thumb":"ABCD"}}"#
            ),
            format!(r#"FOFR{{"id":"{id}","name":"a","size":-1,"mime":"","chunk":1}}"#),
            format!(r#"FREQ{{"id":"{id}","have":[[3,1]],"window":1}}"#),
            format!(r#"FCAN{{"id":"{id}","reason":"{}"}}"#, "x".repeat(2000)),
            format!(r#"FEND{{"id":"{id}","root":"00"}}"#),
        ];
        for b in bad {
            assert!(
                Inner::parse(b.as_bytes()).is_err(),
                "{}",
                &b[..60.min(b.len())]
            );
        }
        // A 10 KB name is not malformed: the receiver cleans it up and keeps the session.
        let ok = format!(
            r#"FOFR{{"id":"{id}","name":"{}","size":1,"mime":"","chunk":1}}"#,
            "n".repeat(10_000)
        );
        assert!(Inner::parse(ok.as_bytes()).is_ok());
    }

    #[test]
    fn msg_id_displays_as_lowercase_hex() {
        let id = MsgId([0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(id.to_string(), "deadbeef000000000000000000000001");
        assert_eq!("deadbeef000000000000000000000001".parse::<MsgId>(), Ok(id));
    }
}
