//! The JSON shapes of the UI WebSocket API and the local JSON API (SPEC §5, §6).
//!
//! Client commands are parsed in two steps so the UI gets a precise error: first any JSON
//! object with a string `cmd`, then the fields of that command. An unknown `cmd` and a
//! known `cmd` with bad fields are different mistakes and say so.

use serde::{Deserialize, Serialize};

/// A command from a UI (SPEC §5, client → node).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "cmd", rename_all = "lowercase")]
pub enum ClientCmd {
    /// Start of a session: answered by `me`, then `peers`.
    Hello,
    /// The peer list.
    Peers,
    /// A page of history with one peer.
    History {
        peer: String,
        #[serde(default)]
        before: Option<i64>,
        #[serde(default)]
        limit: Option<u32>,
    },
    /// Send a message.
    Send { to: String, text: String },
    /// The user has seen the conversation with `peer`.
    Read { peer: String },
    /// Dial an address.
    Connect { addr: String },
    /// The user opened the conversation with `peer`: a session is opened if it has
    /// none (a `nearby` peer, issue 21), or counts as used if it has one.
    Open { peer: String },
    /// Change the display name.
    Rename { name: String },
    /// The user compared fingerprints (or takes that back).
    Verify { peer: String, verified: bool },
    /// Every transfer: answered by a `files` event. (Offering a file from a browser is
    /// an upload, `POST /api/v1/files`: docs/HTTP.md.)
    Files,
    /// Accept a file offered to us.
    #[serde(rename = "accept_file")]
    AcceptFile { id: String },
    /// Decline a file offered to us.
    #[serde(rename = "decline_file")]
    DeclineFile { id: String },
    /// Stop a transfer either way.
    #[serde(rename = "cancel_file")]
    CancelFile { id: String },
    /// Pause a file coming to us (its sender stops once its credit is used).
    #[serde(rename = "pause_file")]
    PauseFile { id: String },
    /// Resume a file we paused.
    #[serde(rename = "resume_file")]
    ResumeFile { id: String },
    /// Every group we know: answered by a `groups` event.
    Groups,
    /// Create a group and invite these contacts (full ids).
    #[serde(rename = "group_create")]
    GroupCreate {
        name: String,
        #[serde(default)]
        members: Vec<String>,
    },
    /// Invite a contact (owner only).
    #[serde(rename = "group_invite")]
    GroupInvite { group: String, member: String },
    /// Remove a member (owner only).
    #[serde(rename = "group_remove")]
    GroupRemove { group: String, member: String },
    /// Accept an invitation.
    #[serde(rename = "group_accept")]
    GroupAccept { group: String },
    /// Decline an invitation.
    #[serde(rename = "group_decline")]
    GroupDecline { group: String },
    /// Leave a group.
    #[serde(rename = "group_leave")]
    GroupLeave { group: String },
    /// Rename a group (owner only).
    #[serde(rename = "group_rename")]
    GroupRename { group: String, name: String },
    /// Write to a group.
    #[serde(rename = "group_send")]
    GroupSend { group: String, text: String },
    /// Everything in the group up to the message `upto` (a message or system line id)
    /// in display order is read by our user.
    #[serde(rename = "group_read")]
    GroupRead { group: String, upto: String },
    /// A page of a group's history: answered by a `group_history` event.
    #[serde(rename = "group_history")]
    GroupHistory {
        group: String,
        #[serde(default)]
        before: Option<String>,
        #[serde(default)]
        limit: Option<u32>,
    },
}

/// Why a UI frame could not be turned into a [`ClientCmd`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CmdError {
    /// Not JSON, or not an object.
    BadJson(String),
    /// No string `cmd` field.
    MissingCmd,
    /// A `cmd` this node does not know.
    UnknownCmd(String),
    /// A known `cmd` with missing or ill-typed fields.
    BadFields { cmd: String, why: String },
}

impl CmdError {
    /// The `request` field of the `error` event: the cmd that failed, when known.
    pub fn request(&self) -> Option<String> {
        match self {
            CmdError::UnknownCmd(c) | CmdError::BadFields { cmd: c, .. } => Some(c.clone()),
            CmdError::BadJson(_) | CmdError::MissingCmd => None,
        }
    }
}

impl std::fmt::Display for CmdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CmdError::BadJson(why) => write!(f, "bad JSON: {why}"),
            CmdError::MissingCmd => write!(f, "missing string field `cmd`"),
            CmdError::UnknownCmd(c) => write!(f, "unknown cmd `{}`", truncate(c, 32)),
            CmdError::BadFields { cmd, why } => write!(f, "bad `{cmd}` command: {why}"),
        }
    }
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// Deepest nesting of arrays and objects accepted in JSON from a UI or a script (a
/// WebSocket command, an API body); ours nest 1 deep. serde_json stops at 128 levels by
/// itself, which is not enough here: every level costs stack, connection threads have
/// 256 KiB (`listener::THREAD_STACK`), and in a debug build parsing a 127-deep object
/// command needed more than 224 KiB of it (measured: it overflowed a 224 KiB thread, and
/// a stack overflow aborts the whole node, not one thread). 33 levels fit in 96 KiB.
pub const MAX_JSON_DEPTH: usize = 32;

/// Refuses JSON nested deeper than [`MAX_JSON_DEPTH`] before serde sees it: counts
/// brackets outside strings in one pass, without recursion or allocation. Anything else
/// wrong with the text is left to the parser.
pub fn check_depth(json: &[u8]) -> Result<(), String> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in json {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_JSON_DEPTH {
                    return Err(format!("JSON nested deeper than {MAX_JSON_DEPTH} levels"));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// The names [`ClientCmd::parse`] accepts, so that an unknown name is told apart from a
/// known one with bad fields; every variant of [`ClientCmd`] must be here (the test
/// `every_command_the_ui_sends_parses` checks a sample of each).
const KNOWN_CMDS: &[&str] = &[
    "hello",
    "peers",
    "history",
    "send",
    "read",
    "connect",
    "open",
    "rename",
    "verify",
    "files",
    "accept_file",
    "decline_file",
    "cancel_file",
    "pause_file",
    "resume_file",
    "groups",
    "group_create",
    "group_invite",
    "group_remove",
    "group_accept",
    "group_decline",
    "group_leave",
    "group_rename",
    "group_send",
    "group_history",
    "group_read",
];

impl ClientCmd {
    /// Parses one text frame; nesting is bounded by [`check_depth`] first.
    pub fn parse(text: &str) -> Result<ClientCmd, CmdError> {
        check_depth(text.as_bytes()).map_err(CmdError::BadJson)?;
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| CmdError::BadJson(e.to_string()))?;
        let cmd = match value.get("cmd") {
            Some(serde_json::Value::String(c)) => c.clone(),
            _ if !value.is_object() => {
                return Err(CmdError::BadJson("expected a JSON object".into()))
            }
            _ => return Err(CmdError::MissingCmd),
        };
        if !KNOWN_CMDS.contains(&cmd.as_str()) {
            return Err(CmdError::UnknownCmd(cmd));
        }
        serde_json::from_value(value).map_err(|e| CmdError::BadFields {
            cmd,
            why: e.to_string(),
        })
    }

    /// The command's name, for `error.request`.
    pub fn name(&self) -> &'static str {
        match self {
            ClientCmd::Hello => "hello",
            ClientCmd::Peers => "peers",
            ClientCmd::History { .. } => "history",
            ClientCmd::Send { .. } => "send",
            ClientCmd::Read { .. } => "read",
            ClientCmd::Connect { .. } => "connect",
            ClientCmd::Open { .. } => "open",
            ClientCmd::Rename { .. } => "rename",
            ClientCmd::Verify { .. } => "verify",
            ClientCmd::Files => "files",
            ClientCmd::AcceptFile { .. } => "accept_file",
            ClientCmd::DeclineFile { .. } => "decline_file",
            ClientCmd::CancelFile { .. } => "cancel_file",
            ClientCmd::PauseFile { .. } => "pause_file",
            ClientCmd::ResumeFile { .. } => "resume_file",
            ClientCmd::Groups => "groups",
            ClientCmd::GroupCreate { .. } => "group_create",
            ClientCmd::GroupInvite { .. } => "group_invite",
            ClientCmd::GroupRemove { .. } => "group_remove",
            ClientCmd::GroupAccept { .. } => "group_accept",
            ClientCmd::GroupDecline { .. } => "group_decline",
            ClientCmd::GroupLeave { .. } => "group_leave",
            ClientCmd::GroupRename { .. } => "group_rename",
            ClientCmd::GroupSend { .. } => "group_send",
            ClientCmd::GroupHistory { .. } => "group_history",
            ClientCmd::GroupRead { .. } => "group_read",
        }
    }
}

/// This node, as the UI shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Me {
    pub id: String,
    pub name: String,
    pub fingerprint: String,
    pub port: u16,
    /// Whether this node finds peers by LAN beacons (off with `--no-discovery` or when
    /// it listens on loopback only), so the UI does not promise what it will not do.
    /// An addition to SPEC §5's `me`; older UIs ignore it.
    #[serde(default)]
    pub discovery: bool,
}

/// A contact (SPEC §5 Peer).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Peer {
    pub id: String,
    pub name: String,
    pub fingerprint: String,
    pub online: bool,
    /// The address it was last connected on, `null` when never connected.
    pub addr: Option<String>,
    pub unread: u64,
    /// Unix ms of the last traffic, `null` when never seen.
    pub last_seen: Option<i64>,
    pub verified: bool,
    pub name_conflict: bool,
    /// Only authenticated: never messaged, verified or chosen by the user (kept in
    /// memory only, bounded; docs/SECURITY.md §2.6). Not in SPEC §5: an extra field.
    #[serde(default)]
    pub stranger: bool,
    /// How the live connection reaches it, in words (`LAN 192.168.1.20`, `loopback
    /// 127.0.0.1`, `VPN tailscale0 100.101.1.2`); `null` when offline. Not in SPEC §5.
    #[serde(default)]
    pub path: Option<String>,
    /// `online` (a session), `nearby` (heard by LAN beacon lately, no session: an
    /// unverified presence, since a beacon's id is a claim), or `offline` (issue 21).
    /// Not in SPEC §5: an extra field; `online` still says whether a session is up.
    #[serde(default)]
    pub presence: PeerPresence,
}

/// Where a peer stands for the UI (docs/UI.md: online / nearby / offline).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PeerPresence {
    /// An authenticated session is up.
    Online,
    /// Heard by beacon lately, no session (opened on demand).
    Nearby,
    /// Neither.
    #[default]
    Offline,
}

/// Delivery state of a message (SPEC §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pending,
    Delivered,
    Read,
    Received,
}

/// A message (SPEC §5 Message).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub id: String,
    pub seq: i64,
    pub peer: String,
    pub from: String,
    pub to: String,
    pub text: String,
    pub ts: i64,
    pub status: Status,
}

/// About how much JSON one history page may take (a `history` event, a `GET
/// /api/v1/messages` body). 500 texts of 64 KiB of control characters (6 bytes of JSON
/// each) would be ~190 MB; a page stops once the next message would pass this, but
/// always holds at least one (at most ~384 KiB of JSON).
pub const PAGE_BYTES: usize = 1 << 20;

/// A history page, oldest first, and whether [`PAGE_BYTES`] cut it short.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryPage {
    pub messages: Vec<Message>,
    pub truncated: bool,
    /// The files of the page's time span (issue 17), oldest first: from its oldest
    /// message (from the start when the page reaches it) to the next newer message.
    pub files: Vec<Transfer>,
}

impl HistoryPage {
    /// Keeps the newest of `messages` (oldest first) whose JSON fits in `budget` bytes,
    /// at least one; `cut` says that older ones were already left out before.
    pub fn fit(mut messages: Vec<Message>, budget: usize, cut: bool) -> HistoryPage {
        let dropped = keep_newest(&mut messages, budget);
        HistoryPage {
            messages,
            truncated: cut || dropped > 0,
            files: Vec::new(),
        }
    }
}

impl GroupPage {
    /// [`HistoryPage::fit`] for a group's messages.
    pub fn fit(mut messages: Vec<GroupMessage>, budget: usize, cut: bool) -> GroupPage {
        let dropped = keep_newest(&mut messages, budget);
        GroupPage {
            messages,
            truncated: cut || dropped > 0,
        }
    }
}

/// Keeps the newest of `items` (oldest first) whose JSON fits in `budget` bytes, at
/// least one; how many were left out.
fn keep_newest<T: Serialize>(items: &mut Vec<T>, budget: usize) -> usize {
    let mut used = 0;
    let mut keep = 0;
    for m in items.iter().rev() {
        // The array's comma or bracket counts too.
        used += json_len(m) + 1;
        if keep > 0 && used > budget {
            break;
        }
        keep += 1;
    }
    let dropped = items.len() - keep;
    items.drain(..dropped);
    dropped
}

/// The length of `value`'s JSON, without building it.
fn json_len(value: &impl Serialize) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing into a counter cannot fail, and these plain structs always serialize.
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

/// A file transfer as the UI and the API see it (`file` event, `/api/v1/files`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    /// 32 hex.
    pub id: String,
    /// The other side's id.
    pub peer: String,
    /// `in` or `out`.
    pub direction: String,
    /// The name (theirs: cleaned up).
    pub name: String,
    pub size: u64,
    pub mime: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
    /// The offer carries a preview image: `GET /api/v1/files/<id>/thumb`.
    #[serde(default)]
    pub thumb: bool,
    /// Unix ms when offered (ours) or when the offer came (theirs).
    #[serde(default)]
    pub created: i64,
    /// `offered`, `preparing`, `receiving`, `sending`, `paused`, `verifying`, `done`,
    /// `ended`.
    pub state: String,
    /// Bytes held by the receiver (as far as this side knows).
    pub bytes: u64,
    /// Ours: chunks read and queued for the peer by this run (re-sent ones included).
    #[serde(default)]
    pub sent_chunks: u64,
    /// `GET /api/v1/files/<id>/content` has the bytes: theirs once received; ours until
    /// it ended, and after delivery unless it was an upload copy (deleted then).
    #[serde(default)]
    pub content: bool,
    /// Paused by our user (`pause_file`): `resume_file` goes on. A `paused` transfer
    /// without it waits for the other side to be back.
    #[serde(default)]
    pub paused_by_user: bool,
    /// Why it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A member of a group as the UI and the API see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupMember {
    /// 64 hex.
    pub id: String,
    /// The contact's name (ours for us; empty when not a contact).
    pub name: String,
    pub online: bool,
}

/// A group (`group` event, `GET /api/v1/groups`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    /// 32 hex.
    pub id: String,
    pub name: String,
    /// The owner's id (64 hex).
    pub owner: String,
    /// Where we stand: `invited`, `joining`, `member`, `declined`, `left`, `removed`.
    pub phase: String,
    /// The current roster (members only; empty until we are one).
    pub members: Vec<GroupMember>,
    /// The roster's version (0 until we are a member).
    pub version: u64,
    /// Unix ms when we created it or were invited.
    pub created: i64,
    /// Messages of others after our read mark.
    #[serde(default)]
    pub unread: u64,
    /// Who removed us (64 hex) when `phase` is `removed`, else `null`.
    #[serde(default)]
    pub removed_by: Option<String>,
    /// Every id that appears in the group as a member, author or system line's `by` /
    /// `member`, with the name we know for it (empty when it is not a contact of ours):
    /// how a UI names someone who is no longer in the roster.
    #[serde(default)]
    pub known: Vec<KnownMember>,
    /// Authors whose run has had a gap for longer than a short grace (10 s): messages
    /// of theirs not yet received, below later ones we hold and show. Empty when none.
    #[serde(default)]
    pub missing: Vec<MissingRun>,
}

/// Messages of one author not yet received (`Group.missing`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MissingRun {
    /// The author (64 hex).
    pub author: String,
    /// How many of its seqs are missing below the highest one we hold.
    pub count: u64,
    /// Unix ms when this node noticed the gap.
    pub since: i64,
}

/// An id that appears in a group and its name (`Group.known`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnownMember {
    /// 64 hex.
    pub id: String,
    /// Ours for us, the contact's name, or empty.
    pub name: String,
}

fn text_kind() -> String {
    "text".into()
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// An item of a group's history (`group_message` event, `GET
/// /api/v1/groups/<id>/messages`): a message (`kind` `text`) or a system line for a
/// roster change (`kind` `system`). Fields of the other kind are left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupMessage {
    /// 32 hex (a system line's: from its roster's hash and its place in that roster).
    pub id: String,
    /// The group (32 hex).
    pub group: String,
    /// `text` or `system`.
    #[serde(default = "text_kind")]
    pub kind: String,
    /// The author (64 hex); text only.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub author: String,
    /// The author's per-group number; text only.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub seq: u64,
    /// The author's (a system line's: the roster's) Lamport clock: with `author` (`by`),
    /// the display order.
    pub lamport: u64,
    /// The author's wall clock, ms (display only); a system line's: when this node took
    /// the roster.
    pub ts: i64,
    /// Text only.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub text: String,
    /// Our messages only: members (not us) that hold it, sorted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered: Option<Vec<String>>,
    /// Our messages only: members (not us) that have read it (each also in
    /// `delivered`), sorted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read: Option<Vec<String>>,
    /// System only: `created`, `added`, `removed`, `left`, `renamed`, `owner`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<String>,
    /// System only: who made the change (the roster's signer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// System only: who was added, removed, left, or became owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
    /// System only: the new name (`renamed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// System only: the roster version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
}

/// A page of a group's history, in display order, and whether [`PAGE_BYTES`] (or the
/// store's byte bound) cut it short.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupPage {
    pub messages: Vec<GroupMessage>,
    pub truncated: bool,
}

/// Most ids in one `group_message_removed` event (more go in several).
pub const MAX_REMOVED_IDS: usize = 500;

/// An event from the node to UIs (SPEC §5, node → client).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "lowercase")]
pub enum Event {
    Me(Me),
    Peers {
        peers: Vec<Peer>,
        /// Strangers not in `peers` (at most a few are sent; docs/HTTP.md). Not in
        /// SPEC §5: an extra field.
        #[serde(default)]
        strangers_left_out: usize,
    },
    Peer {
        peer: Peer,
    },
    History {
        peer: String,
        messages: Vec<Message>,
        /// The page stopped before `limit` at [`PAGE_BYTES`]: older messages follow,
        /// ask with `before` set to the oldest `seq` here.
        truncated: bool,
        /// The files among these messages ([`HistoryPage::files`]; not in SPEC §5: an
        /// extra field).
        #[serde(default)]
        files: Vec<Transfer>,
    },
    Message {
        message: Message,
    },
    Status {
        id: String,
        status: Status,
    },
    Error {
        error: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        request: Option<String>,
    },
    /// A transfer changed (at most a few progress events a second).
    File {
        file: Transfer,
    },
    /// Every transfer, oldest first (the answer to the `files` command).
    Files {
        files: Vec<Transfer>,
    },
    /// Every group we know (the answer to `groups`).
    Groups {
        groups: Vec<Group>,
    },
    /// A group changed (created, invited, joined, roster, phase).
    Group {
        group: Group,
    },
    /// A group message is stored (ours or a member's).
    #[serde(rename = "group_message")]
    GroupMessage {
        message: GroupMessage,
    },
    /// A member told us it holds (`delivered`) or has read (`read`) one of our messages.
    #[serde(rename = "group_receipt")]
    GroupReceipt {
        group: String,
        message: String,
        member: String,
        kind: String,
    },
    /// Messages the UIs may show that are no longer the group's (written by a member
    /// after the roster removing it, which came later): drop them. At most
    /// [`MAX_REMOVED_IDS`] ids an event.
    #[serde(rename = "group_message_removed")]
    GroupMessageRemoved {
        group: String,
        ids: Vec<String>,
    },
    /// A page of a group's history (the answer to `group_history`).
    #[serde(rename = "group_history")]
    GroupHistory {
        group: String,
        messages: Vec<GroupMessage>,
        truncated: bool,
    },
}

impl Event {
    /// An `error` event.
    pub fn error(error: impl Into<String>, request: Option<String>) -> Event {
        Event::Error {
            error: error.into(),
            request,
        }
    }

    /// The JSON text of this event, shared by every UI it goes to.
    pub fn to_json(&self) -> std::sync::Arc<str> {
        // Serializing these plain structs cannot fail (no maps with non-string keys).
        serde_json::to_string(self)
            .unwrap_or_else(|_| r#"{"cmd":"error","error":"internal encoding error"}"#.into())
            .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_commands() {
        assert_eq!(ClientCmd::parse(r#"{"cmd":"hello"}"#), Ok(ClientCmd::Hello));
        assert_eq!(
            ClientCmd::parse(r#"{"cmd":"rename","name":"x","extra":1}"#),
            Ok(ClientCmd::Rename { name: "x".into() })
        );
        assert_eq!(
            ClientCmd::parse(r#"{"cmd":"history","peer":"ab","limit":5}"#),
            Ok(ClientCmd::History {
                peer: "ab".into(),
                before: None,
                limit: Some(5)
            })
        );
    }

    /// Every command the UI sends (front/src/api.ts `ClientCmd`) is known and parses to
    /// its own name: a variant missing from [`KNOWN_CMDS`] is refused as unknown.
    #[test]
    fn every_command_the_ui_sends_parses() {
        let samples = [
            r#"{"cmd":"hello"}"#,
            r#"{"cmd":"peers"}"#,
            r#"{"cmd":"history","peer":"ab"}"#,
            r#"{"cmd":"send","to":"ab","text":"hi"}"#,
            r#"{"cmd":"read","peer":"ab"}"#,
            r#"{"cmd":"connect","addr":"10.0.0.1:35035"}"#,
            r#"{"cmd":"open","peer":"ab"}"#,
            r#"{"cmd":"rename","name":"x"}"#,
            r#"{"cmd":"verify","peer":"ab","verified":true}"#,
            r#"{"cmd":"files"}"#,
            r#"{"cmd":"accept_file","id":"f"}"#,
            r#"{"cmd":"decline_file","id":"f"}"#,
            r#"{"cmd":"cancel_file","id":"f"}"#,
            r#"{"cmd":"pause_file","id":"f"}"#,
            r#"{"cmd":"resume_file","id":"f"}"#,
            r#"{"cmd":"groups"}"#,
            r#"{"cmd":"group_create","name":"g","members":[]}"#,
            r#"{"cmd":"group_invite","group":"g","member":"ab"}"#,
            r#"{"cmd":"group_remove","group":"g","member":"ab"}"#,
            r#"{"cmd":"group_accept","group":"g"}"#,
            r#"{"cmd":"group_decline","group":"g"}"#,
            r#"{"cmd":"group_leave","group":"g"}"#,
            r#"{"cmd":"group_rename","group":"g","name":"h"}"#,
            r#"{"cmd":"group_send","group":"g","text":"hi"}"#,
            r#"{"cmd":"group_history","group":"g"}"#,
            r#"{"cmd":"group_read","group":"g","upto":"m"}"#,
        ];
        for text in samples {
            let value: serde_json::Value = serde_json::from_str(text).unwrap();
            let cmd = value["cmd"].as_str().unwrap();
            match ClientCmd::parse(text) {
                Ok(parsed) => assert_eq!(parsed.name(), cmd, "{text}"),
                Err(e) => panic!("{text}: {e}"),
            }
        }
        assert_eq!(
            samples.len(),
            KNOWN_CMDS.len(),
            "a command without a sample here"
        );
    }

    #[test]
    fn command_errors_are_precise() {
        assert!(matches!(ClientCmd::parse("{"), Err(CmdError::BadJson(_))));
        assert!(matches!(ClientCmd::parse("[1]"), Err(CmdError::BadJson(_))));
        assert_eq!(ClientCmd::parse("{}"), Err(CmdError::MissingCmd));
        assert_eq!(
            ClientCmd::parse(r#"{"cmd":"fly"}"#),
            Err(CmdError::UnknownCmd("fly".into()))
        );
        let e = ClientCmd::parse(r#"{"cmd":"rename"}"#).unwrap_err();
        assert_eq!(e.request().as_deref(), Some("rename"));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let e = ClientCmd::parse(&deep).unwrap_err();
        assert_eq!(
            e,
            CmdError::BadJson("JSON nested deeper than 32 levels".into())
        );
    }

    #[test]
    fn depth_counts_brackets_outside_strings_only() {
        let nest = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
        assert!(check_depth(nest(MAX_JSON_DEPTH).as_bytes()).is_ok());
        assert!(check_depth(nest(MAX_JSON_DEPTH + 1).as_bytes()).is_err());
        let objects = format!("{}1{}", r#"{"a":"#.repeat(33), "}".repeat(33));
        assert!(check_depth(objects.as_bytes()).is_err());
        // Brackets in strings, escaped quotes and backslashes do not count.
        let quoted = format!(
            r#"{{"cmd":"send","to":"ab","text":"{}\"[\\","x":[1]}}"#,
            "[{".repeat(100)
        );
        assert!(check_depth(quoted.as_bytes()).is_ok());
        assert!(ClientCmd::parse(&quoted).is_ok_and(|c| c.name() == "send"));
        // Closing more than was opened is the parser's business, not a way to go deeper.
        let sneaky = format!("]]]]{}", nest(MAX_JSON_DEPTH + 1));
        assert!(check_depth(sneaky.as_bytes()).is_err());
    }

    fn message(seq: i64, text: &str) -> Message {
        Message {
            id: "00".repeat(16),
            seq,
            peer: "ab".repeat(32),
            from: "ab".repeat(32),
            to: "cd".repeat(32),
            text: text.into(),
            ts: 1,
            status: Status::Received,
        }
    }

    #[test]
    fn pages_keep_the_newest_messages_that_fit() {
        let page: Vec<Message> = (10..=19)
            .map(|seq| message(seq, &"\u{1}".repeat(100)))
            .collect();
        let one = json_len(&page[0]) + 1;
        assert_eq!(one, serde_json::to_string(&page[0]).unwrap().len() + 1);
        let fit = HistoryPage::fit(page.clone(), 3 * one, false);
        let seqs: Vec<i64> = fit.messages.iter().map(|m| m.seq).collect();
        assert_eq!((seqs, fit.truncated), (vec![17, 18, 19], true));
        // Always at least one, however small the budget.
        let fit = HistoryPage::fit(page.clone(), 1, false);
        assert_eq!((fit.messages.len(), fit.messages[0].seq), (1, 19));
        // All of it fits: not truncated, unless the store already cut it.
        assert!(!HistoryPage::fit(page.clone(), 10 * one, false).truncated);
        assert!(HistoryPage::fit(page, 10 * one, true).truncated);
        assert!(!HistoryPage::fit(Vec::new(), 1, false).truncated);
    }

    #[test]
    fn events_serialize_with_cmd_tag() {
        let e = Event::Me(Me {
            id: "a".into(),
            name: "n".into(),
            fingerprint: "f".into(),
            port: 1,
            discovery: true,
        });
        assert_eq!(
            &*e.to_json(),
            r#"{"cmd":"me","id":"a","name":"n","fingerprint":"f","port":1,"discovery":true}"#
        );
        assert_eq!(
            &*Event::error("x", None).to_json(),
            r#"{"cmd":"error","error":"x"}"#
        );
    }
}
