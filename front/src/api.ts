// The JSON shapes of the UI WebSocket API (SPEC §5), mirrored from src/api.rs.
// Ids are 64 lowercase hex chars, message ids 32; timestamps are Unix milliseconds.

/** Largest message text, in UTF-8 bytes (SPEC §5 `send`, §9). */
export const MAX_TEXT_BYTES = 65536;
/** Longest display name, in characters (SPEC §5 `rename`). */
export const MAX_NAME_CHARS = 64;
/** Default and largest `history` page. */
export const HISTORY_PAGE = 50;

export interface Me {
  id: string;
  name: string;
  fingerprint: string;
  port: number;
  /** The node finds peers by LAN beacons (false: --no-discovery, or loopback only). */
  discovery?: boolean;
}

export interface Peer {
  id: string;
  name: string;
  fingerprint: string;
  online: boolean;
  /** The address it was last connected on; null when never connected. */
  addr: string | null;
  unread: number;
  /** Unix ms of the last traffic; null when never seen. */
  last_seen: number | null;
  verified: boolean;
  /** Another known contact uses the same name: the UI warns. */
  name_conflict: boolean;
  /** Only authenticated, never messaged or verified (docs/SECURITY.md §2.6): listed after
   * the contacts, and only the most recent few are sent. */
  stranger: boolean;
  /** How the live connection reaches it (`LAN 192.168.1.20`, `VPN tailscale0 100.101.1.2`);
   * null when offline, absent from older nodes. */
  path?: string | null;
  /** online (a session), nearby (heard by LAN beacon, no session: an unverified presence,
   * the session opens when the conversation is opened), offline. Absent from older
   * nodes: `online` then says it all. */
  presence?: Presence;
}

export type Presence = 'online' | 'nearby' | 'offline';
const PRESENCES: readonly string[] = ['online', 'nearby', 'offline'];

/** Outgoing: pending → delivered → read. Incoming: received → read. */
export type Status = 'pending' | 'delivered' | 'read' | 'received';

export interface Message {
  /** 32 hex chars, random; the dedupe key. */
  id: string;
  /** The node's storage order; 0 when the node has not committed it yet. */
  seq: number;
  /** The other party of the conversation (for both directions). */
  peer: string;
  from: string;
  to: string;
  text: string;
  ts: number;
  status: Status;
}

/** Where a file transfer stands (docs/HTTP.md, "Files"). */
export type TransferState =
  | 'offered'
  | 'preparing'
  | 'receiving'
  | 'paused'
  | 'sending'
  | 'verifying'
  | 'done'
  | 'ended';

/** A file transfer either way (the `file` event, `/api/v1/files`). */
export interface Transfer {
  /** 32 hex chars. */
  id: string;
  /** The other side. */
  peer: string;
  direction: 'in' | 'out';
  /** Theirs: already cleaned up by the node (never a path). */
  name: string;
  size: number;
  /** A hint from the sender; what is shown inline is decided by the node from the bytes. */
  mime: string;
  /** The offer has a preview: `/api/v1/files/<id>/thumb`. */
  thumb: boolean;
  /** Unix ms of the offer. */
  created: number;
  state: TransferState;
  /** Bytes the receiver holds, as far as this side knows. */
  bytes: number;
  /** Why it ended. */
  reason?: string;
  /** Words the sender put under the file. */
  caption?: string;
  /** `/api/v1/files/<id>/content` has the bytes (theirs once received; ours until it is
   * over, and after unless it was an upload copy, which the node deletes then). */
  content: boolean;
  /** Paused by our user (`pause_file`); a `paused` file without it waits for the other
   * side to be back. */
  pausedByUser: boolean;
}

// ---- Groups (issue 18; docs/HTTP.md "Groups") ----------------------------------------

/** Largest group, ourselves included. */
export const MAX_GROUP_MEMBERS = 64;

/** Where we stand in a group. */
export type GroupPhase = 'invited' | 'joining' | 'member' | 'declined' | 'left' | 'removed';

export interface GroupMember {
  /** 64 hex. */
  id: string;
  /** The contact's name (ours for us; empty when not a contact). */
  name: string;
  online: boolean;
}

export interface Group {
  /** 32 hex. */
  id: string;
  name: string;
  /** The owner's id (64 hex). */
  owner: string;
  phase: GroupPhase;
  /** The current roster, ourselves included; empty until we are a member. */
  members: GroupMember[];
  version: number;
  /** Unix ms when we created it or were invited. */
  created: number;
  /** Unread messages; absent from nodes that do not count them. */
  unread?: number;
  /** Who removed us (phase `removed`); absent or null when unknown. */
  removed_by?: string | null;
  /** Names of ids no longer in the roster (authors of old messages, removed members). */
  known: { id: string; name: string }[];
  /** Authors with messages not yet received below later ones (a gap that outlasted the
   * node's grace); empty when none or from nodes that do not say. */
  missing: MissingRun[];
}

/** `count` messages of `author` not yet received, since `since` (Unix ms). */
export interface MissingRun {
  author: string;
  count: number;
  since: number;
}

/** What a system line says happened to the roster. */
export type RosterChange = 'created' | 'added' | 'removed' | 'left' | 'renamed' | 'owner';

/** A message or a system line of a group, in the node's display order (lamport, author). */
export interface GroupMessage {
  /** 32 hex. */
  id: string;
  group: string;
  kind: 'text' | 'system';
  /** The writer; for a system line, who made the change (`by`). */
  author: string;
  /** The author's per-group number (0 for system lines). */
  seq: number;
  lamport: number;
  ts: number;
  /** Empty for system lines. */
  text: string;
  /** Ours only, on newer nodes: members who hold it / have read it (ids). */
  delivered?: string[];
  read?: string[];
  /** System lines. */
  change?: RosterChange;
  member?: string;
  name?: string;
  version?: number;
}

/** Client → node. */
export type ClientCmd =
  | { cmd: 'hello' }
  | { cmd: 'peers' }
  | { cmd: 'history'; peer: string; before?: number; limit?: number }
  | { cmd: 'send'; to: string; text: string }
  | { cmd: 'read'; peer: string }
  | { cmd: 'connect'; addr: string }
  /** The user opened this peer's conversation: a nearby peer gets a session. */
  | { cmd: 'open'; peer: string }
  | { cmd: 'rename'; name: string }
  | { cmd: 'verify'; peer: string; verified: boolean }
  | { cmd: 'files' }
  | { cmd: 'accept_file'; id: string }
  | { cmd: 'decline_file'; id: string }
  | { cmd: 'cancel_file'; id: string }
  | { cmd: 'pause_file'; id: string }
  | { cmd: 'resume_file'; id: string }
  | { cmd: 'groups' }
  | { cmd: 'group_create'; name: string; members: string[] }
  | { cmd: 'group_invite'; group: string; member: string }
  | { cmd: 'group_remove'; group: string; member: string }
  | { cmd: 'group_accept'; group: string }
  | { cmd: 'group_decline'; group: string }
  | { cmd: 'group_leave'; group: string }
  | { cmd: 'group_rename'; group: string; name: string }
  | { cmd: 'group_send'; group: string; text: string }
  | { cmd: 'group_history'; group: string; before?: string; limit?: number }
  /** Everything up to this message id is read (newer nodes; older ones answer an error). */
  | { cmd: 'group_read'; group: string; upto: string };

export type CmdName = ClientCmd['cmd'];

/** Node → client: answers and pushed events. */
export type ServerEvent =
  | ({ cmd: 'me' } & Me)
  | { cmd: 'peers'; peers: Peer[] }
  | { cmd: 'peer'; peer: Peer }
  /** `truncated`: the node's byte bound (about 1 MiB) cut the page short of `limit`;
   * older messages follow (page on with `before`). Absent from older nodes. */
  | { cmd: 'history'; peer: string; messages: Message[]; truncated?: boolean; files?: Transfer[] }
  | { cmd: 'message'; message: Message }
  | { cmd: 'status'; id: string; status: Status }
  | { cmd: 'error'; error: string; request?: string }
  | { cmd: 'file'; file: Transfer }
  | { cmd: 'files'; files: Transfer[] }
  | { cmd: 'groups'; groups: Group[] }
  | { cmd: 'group'; group: Group }
  | { cmd: 'group_message'; message: GroupMessage }
  | { cmd: 'group_history'; group: string; messages: GroupMessage[]; truncated?: boolean }
  | { cmd: 'group_receipt'; group: string; message: string; member: string; kind: 'delivered' | 'read' }
  | { cmd: 'group_message_removed'; group: string; ids: string[] };

// ---- Validation -------------------------------------------------------------------
// The node is trusted, but a UI that renders a half-shaped object crashes: every frame
// is checked before it reaches the state. A bad frame is dropped (and logged).

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStr = (v: unknown): v is string => typeof v === 'string';
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const STATUSES: readonly string[] = ['pending', 'delivered', 'read', 'received'];
const isStatus = (v: unknown): v is Status => isStr(v) && STATUSES.includes(v);

export function toPeer(v: unknown): Peer | null {
  if (!isObj(v) || !isStr(v.id) || !isStr(v.name)) return null;
  return {
    id: v.id,
    name: v.name,
    fingerprint: isStr(v.fingerprint) ? v.fingerprint : '',
    online: v.online === true,
    addr: isStr(v.addr) ? v.addr : null,
    unread: isNum(v.unread) && v.unread > 0 ? Math.floor(v.unread) : 0,
    last_seen: isNum(v.last_seen) ? v.last_seen : null,
    verified: v.verified === true,
    name_conflict: v.name_conflict === true,
    stranger: v.stranger === true,
    // Bounded: it is shown in one line.
    path: isStr(v.path) ? v.path.slice(0, 120) : null,
    presence:
      v.online === true
        ? 'online'
        : isStr(v.presence) && PRESENCES.includes(v.presence)
          ? (v.presence as Presence)
          : 'offline',
  };
}

/** What the list calls a peer: its name, or (one only heard by beacon, which carries no
 * name) the start of its id. */
export const peerLabel = (p: Peer): string => p.name || p.id.slice(0, 8);

export function toMessage(v: unknown): Message | null {
  if (!isObj(v) || !isStr(v.id) || !isStr(v.peer) || !isStr(v.text) || !isStatus(v.status)) {
    return null;
  }
  return {
    id: v.id,
    seq: isNum(v.seq) ? v.seq : 0,
    peer: v.peer,
    from: isStr(v.from) ? v.from : '',
    to: isStr(v.to) ? v.to : '',
    text: v.text,
    ts: isNum(v.ts) ? v.ts : Date.now(),
    status: v.status,
  };
}

const TRANSFER_STATES: readonly string[] = [
  'offered',
  'preparing',
  'receiving',
  'paused',
  'sending',
  'verifying',
  'done',
  'ended',
];

export function toTransfer(v: unknown): Transfer | null {
  if (!isObj(v) || !isStr(v.id) || !isStr(v.peer) || !isStr(v.name) || !isStr(v.state)) return null;
  if (!TRANSFER_STATES.includes(v.state) || (v.direction !== 'in' && v.direction !== 'out')) return null;
  const size = isNum(v.size) && v.size >= 0 ? v.size : 0;
  return {
    id: v.id,
    peer: v.peer,
    direction: v.direction,
    name: v.name,
    size,
    mime: isStr(v.mime) ? v.mime : 'application/octet-stream',
    thumb: v.thumb === true,
    created: isNum(v.created) && v.created > 0 ? v.created : Date.now(),
    state: v.state as TransferState,
    bytes: isNum(v.bytes) ? Math.min(Math.max(v.bytes, 0), size) : 0,
    ...(isStr(v.reason) ? { reason: v.reason } : {}),
    ...(isStr(v.caption) && v.caption !== '' ? { caption: v.caption } : {}),
    content: v.content === true,
    pausedByUser: v.paused_by_user === true,
  };
}

const PHASES: readonly string[] = ['invited', 'joining', 'member', 'declined', 'left', 'removed'];
const CHANGES: readonly string[] = ['created', 'added', 'removed', 'left', 'renamed', 'owner'];
const ids = (v: unknown): string[] | undefined => (Array.isArray(v) ? v.filter(isStr) : undefined);

export function toGroup(v: unknown): Group | null {
  if (!isObj(v) || !isStr(v.id) || !isStr(v.name) || !isStr(v.phase) || !PHASES.includes(v.phase)) return null;
  const members = (Array.isArray(v.members) ? v.members : [])
    .filter(isObj)
    .filter((m) => isStr(m.id))
    .map((m) => ({ id: m.id as string, name: isStr(m.name) ? m.name : '', online: m.online === true }));
  const known = (Array.isArray(v.known) ? v.known : [])
    .filter(isObj)
    .filter((k) => isStr(k.id) && isStr(k.name))
    .map((k) => ({ id: k.id as string, name: k.name as string }));
  const missing = (Array.isArray(v.missing) ? v.missing : [])
    .filter(isObj)
    .filter((r) => isStr(r.author) && isNum(r.count) && r.count >= 1)
    .map((r) => ({ author: r.author as string, count: Math.floor(r.count as number), since: isNum(r.since) ? r.since : 0 }));
  return {
    id: v.id,
    name: v.name,
    owner: isStr(v.owner) ? v.owner : '',
    phase: v.phase as GroupPhase,
    members,
    version: isNum(v.version) ? v.version : 0,
    created: isNum(v.created) ? v.created : 0,
    // Absent from nodes that do not send them: then the UI says nothing that depends on them.
    ...(isNum(v.unread) ? { unread: Math.max(0, Math.floor(v.unread)) } : {}),
    ...(isStr(v.removed_by) || v.removed_by === null ? { removed_by: v.removed_by } : {}),
    known,
    missing,
  };
}

export function toGroupMessage(v: unknown): GroupMessage | null {
  if (!isObj(v) || !isStr(v.id) || !isStr(v.group)) return null;
  const system = v.kind === 'system';
  if (system ? !isStr(v.change) || !CHANGES.includes(v.change) : !isStr(v.text)) return null;
  // A system line names who made the change as `by`; it sorts as if they wrote it.
  const author = isStr(v.author) ? v.author : isStr(v.by) ? v.by : '';
  const delivered = ids(v.delivered);
  const read = ids(v.read);
  return {
    id: v.id,
    group: v.group,
    kind: system ? 'system' : 'text',
    author,
    seq: isNum(v.seq) ? v.seq : 0,
    lamport: isNum(v.lamport) ? v.lamport : 0,
    ts: isNum(v.ts) ? v.ts : Date.now(),
    text: isStr(v.text) ? v.text : '',
    ...(delivered ? { delivered } : {}),
    ...(read ? { read } : {}),
    ...(system ? { change: v.change as RosterChange } : {}),
    ...(system && isStr(v.member) ? { member: v.member } : {}),
    ...(system && isStr(v.name) ? { name: v.name } : {}),
    ...(system && isNum(v.version) ? { version: v.version } : {}),
  };
}

function list<T>(v: unknown, f: (x: unknown) => T | null): T[] | null {
  if (!Array.isArray(v)) return null;
  const out: T[] = [];
  for (const x of v) {
    const t = f(x);
    if (t) out.push(t);
  }
  return out;
}

/** Parses one text frame from the node; null for anything that is not a known event. */
export function parseEvent(text: string): ServerEvent | null {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  if (!isObj(v) || !isStr(v.cmd)) return null;
  switch (v.cmd) {
    case 'me':
      if (!isStr(v.id) || !isStr(v.name)) return null;
      return {
        cmd: 'me',
        id: v.id,
        name: v.name,
        fingerprint: isStr(v.fingerprint) ? v.fingerprint : '',
        port: isNum(v.port) ? v.port : 0,
        // Absent from older nodes: then say nothing that depends on it.
        ...(typeof v.discovery === 'boolean' ? { discovery: v.discovery } : {}),
      };
    case 'peers': {
      const peers = list(v.peers, toPeer);
      return peers && { cmd: 'peers', peers };
    }
    case 'peer': {
      const peer = toPeer(v.peer);
      return peer && { cmd: 'peer', peer };
    }
    case 'history': {
      const messages = list(v.messages, toMessage);
      if (!messages || !isStr(v.peer)) return null;
      // The files of the page's time span (an extra field: absent from older nodes).
      const files = list(v.files, toTransfer);
      return {
        cmd: 'history',
        peer: v.peer,
        messages,
        ...(v.truncated === true ? { truncated: true } : {}),
        ...(files && files.length > 0 ? { files } : {}),
      };
    }
    case 'message': {
      const message = toMessage(v.message);
      return message && { cmd: 'message', message };
    }
    case 'status':
      return isStr(v.id) && isStatus(v.status) ? { cmd: 'status', id: v.id, status: v.status } : null;
    case 'file': {
      const file = toTransfer(v.file);
      return file && { cmd: 'file', file };
    }
    case 'files': {
      const files = list(v.files, toTransfer);
      return files && { cmd: 'files', files };
    }
    case 'groups': {
      const groups = list(v.groups, toGroup);
      return groups && { cmd: 'groups', groups };
    }
    case 'group': {
      const group = toGroup(v.group);
      return group && { cmd: 'group', group };
    }
    case 'group_message': {
      const message = toGroupMessage(v.message);
      return message && { cmd: 'group_message', message };
    }
    case 'group_history': {
      const messages = list(v.messages, toGroupMessage);
      if (!messages || !isStr(v.group)) return null;
      return { cmd: 'group_history', group: v.group, messages, ...(v.truncated === true ? { truncated: true } : {}) };
    }
    case 'group_receipt':
      if (!isStr(v.group) || !isStr(v.message) || !isStr(v.member)) return null;
      if (v.kind !== 'delivered' && v.kind !== 'read') return null;
      return { cmd: 'group_receipt', group: v.group, message: v.message, member: v.member, kind: v.kind };
    case 'group_message_removed': {
      const removed = ids(v.ids);
      if (!isStr(v.group) || !removed) return null;
      return { cmd: 'group_message_removed', group: v.group, ids: removed };
    }
    case 'error':
      return {
        cmd: 'error',
        error: isStr(v.error) ? v.error : 'unknown error',
        ...(isStr(v.request) ? { request: v.request } : {}),
      };
    default:
      return null;
  }
}

/** True for a message this node sent (the conversation's `peer` is the other party). */
export const isOwn = (m: Message): boolean => m.from !== m.peer;
