// The UI's state and its pure reducer. Everything the screens show is derived from here;
// the node's events are the source of truth, the few local changes (a conversation opened,
// a `read` sent) are optimistic and get confirmed by the node's next `peer` event.

import { type Group, type Me, type Message, type Peer, type ServerEvent, type Status, type Transfer, isOwn } from './api';
import { type GroupItem, groupPageLeavesGap, mergeGroupItems, withReceipt } from './groups';
import type { ConnInfo } from './ws';

export interface Conversation {
  /** Ordered by `seq` (uncommitted ones, seq 0, last by time); unique by id. */
  messages: Message[];
  /** The oldest message is loaded: a page came back shorter than asked, not `truncated`. */
  complete: boolean;
  /** A `history` request is on its way. */
  loading: boolean;
  /** The last `history` failed with this. */
  error: string | null;
  /** The last `send` failed: its text (for the composer) and why. */
  failed: { text: string; error: string; at: number } | null;
}

/** A group's conversation: like [`Conversation`], in the node's display order. */
export interface GroupConv {
  /** Ordered by (lamport, author); unique by id. */
  items: GroupItem[];
  complete: boolean;
  loading: boolean;
  error: string | null;
  failed: { text: string; error: string; at: number } | null;
}

/** A form of the group screens waiting for the node (create, rename). */
export interface GroupForm {
  /** What was asked (the new name), while it waits. */
  pending: string | null;
  error: string | null;
}

/** A transfer as the UI shows it: the node's view plus a measured speed. */
export interface FileItem {
  t: Transfer;
  /** Bytes a second, smoothed; null until two progress events measured it. */
  rate: number | null;
  /** When `t.bytes` last changed (ms), the start of the next speed sample. */
  at: number;
}

/** A file this browser is uploading to its own node (before the node offers it). */
export interface Upload {
  key: string;
  peer: string;
  name: string;
  size: number;
  loaded: number;
  error: string | null;
}

export interface AppState {
  conn: ConnInfo;
  me: Me | null;
  peers: Record<string, Peer>;
  /** The first `peers` answer arrived (until then the list shows a placeholder). */
  peersLoaded: boolean;
  convs: Record<string, Conversation>;
  /** Groups by id (every phase). */
  groups: Record<string, Group>;
  groupsLoaded: boolean;
  gconvs: Record<string, GroupConv>;
  groupCreate: GroupForm;
  groupRename: GroupForm;
  /** The open conversation (a peer's or a group's id), or null for the "me" screen. */
  open: string | null;
  rename: { pending: boolean; error: string | null };
  connect: { pending: string | null; error: string | null; ok: string | null };
  /** A transient notice for errors that belong to no form. */
  toast: { id: number; text: string } | null;
  /** Transfers by id. */
  files: Record<string, FileItem>;
  /** Uploads to our node by local key, until the node answers with the transfer. */
  uploads: Record<string, Upload>;
}

/** What a `history` answer was the answer to (null when this UI did not ask). */
export interface HistoryRequest {
  before?: number | string;
  limit: number;
}

export type Action =
  | { type: 'conn'; info: ConnInfo }
  | { type: 'event'; event: ServerEvent; request?: HistoryRequest | null }
  | { type: 'open'; peer: string | null }
  | { type: 'historyRequested'; peer: string }
  | { type: 'groupHistoryRequested'; group: string }
  | { type: 'groupHistoryFailed'; group: string; error: string }
  | { type: 'groupReadSent'; group: string }
  | { type: 'groupSendFailed'; group: string; text: string; error: string }
  | { type: 'groupCreateRequested'; name: string }
  | { type: 'groupCreateFailed'; error: string }
  | { type: 'groupCreateDone' }
  | { type: 'groupRenameRequested'; name: string }
  | { type: 'groupRenameFailed'; error: string }
  | { type: 'historyFailed'; peer: string; error: string }
  | { type: 'readSent'; peer: string }
  | { type: 'renameRequested' }
  | { type: 'renameFailed'; error: string }
  | { type: 'connectRequested'; addr: string }
  | { type: 'connectFailed'; error: string }
  | { type: 'sendFailed'; peer: string; text: string; error: string }
  | { type: 'clearFailed'; peer: string }
  | { type: 'toast'; text: string }
  | { type: 'dismissToast' }
  | { type: 'dismissConnect' }
  | { type: 'uploadStarted'; key: string; peer: string; name: string; size: number }
  | { type: 'uploadProgress'; key: string; loaded: number }
  | { type: 'uploadDone'; key: string }
  | { type: 'uploadFailed'; key: string; error: string };

export const initialState: AppState = {
  conn: { phase: 'connecting', failedOpens: 0, retryAt: null },
  me: null,
  peers: {},
  peersLoaded: false,
  convs: {},
  groups: {},
  groupsLoaded: false,
  gconvs: {},
  groupCreate: { pending: null, error: null },
  groupRename: { pending: null, error: null },
  open: null,
  rename: { pending: false, error: null },
  connect: { pending: null, error: null, ok: null },
  toast: null,
  files: {},
  uploads: {},
};

export const emptyConversation: Conversation = {
  messages: [],
  complete: false,
  loading: false,
  error: null,
  failed: null,
};

export const emptyGroupConv: GroupConv = { items: [], complete: false, loading: false, error: null, failed: null };

// ---- Messages ---------------------------------------------------------------------

const RANK: Record<Status, number> = { pending: 0, received: 0, delivered: 1, read: 2 };

/** The later of two statuses: a status only moves forward (pending → delivered → read). */
export function forwardStatus(old: Status, next: Status): Status {
  return RANK[next] > RANK[old] ? next : old;
}

/** Storage order: committed messages by seq, then uncommitted ones (seq 0) by time. */
export function compareMessages(a: Message, b: Message): number {
  const ac = a.seq > 0;
  const bc = b.seq > 0;
  if (ac && bc && a.seq !== b.seq) return a.seq - b.seq;
  if (ac !== bc) return ac ? -1 : 1;
  if (a.ts !== b.ts) return a.ts - b.ts;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * One message seen twice (sent, then committed with a seq): keep the best of both. The
 * first seq a message got is its place for good: a message the sender re-sent comes
 * again, before the node finds it stored, with a seq it never keeps (SPEC §7).
 */
function mergeOne(old: Message, m: Message): Message {
  const status = forwardStatus(old.status, m.status);
  const seq = old.seq > 0 ? old.seq : m.seq;
  if (status === old.status && seq === old.seq) return old;
  return { ...old, seq, status };
}

/** Merges messages into an ordered list, deduplicated by id; the same array if unchanged. */
export function mergeMessages(existing: Message[], incoming: Message[]): Message[] {
  if (incoming.length === 0) return existing;
  const byId = new Map(existing.map((m) => [m.id, m]));
  let changed = false;
  for (const m of incoming) {
    const old = byId.get(m.id);
    const next = old ? mergeOne(old, m) : m;
    if (next !== old) {
      byId.set(m.id, next);
      changed = true;
    }
  }
  if (!changed) return existing;
  return [...byId.values()].sort(compareMessages);
}

/** A page that may have older messages behind it: as long as asked, or cut short by
 * the node's byte bound (`truncated`). */
export function isFullPage(page: readonly unknown[], limit: number, truncated = false): boolean {
  return truncated || page.length >= limit;
}

/** True when a full newest page starts after the newest committed message we hold. */
export function leavesGap(have: Message[], page: Message[], limit: number, truncated = false): boolean {
  if (!isFullPage(page, limit, truncated)) return false;
  let newest = 0;
  for (const m of have) if (m.seq > newest) newest = m.seq;
  if (newest === 0) return false;
  let oldest = Infinity;
  for (const m of page) if (m.seq > 0 && m.seq < oldest) oldest = m.seq;
  return oldest > newest + 1;
}

/** The `before` for the next older page: the oldest committed seq, or undefined. */
export function oldestSeq(conv: Conversation | undefined): number | undefined {
  const first = conv?.messages.find((m) => m.seq > 0);
  return first?.seq;
}

// ---- Files ------------------------------------------------------------------------

/** States in which bytes move (a speed means something). */
export const MOVING: readonly string[] = ['sending', 'receiving'];

/** The transfer's new view: the speed smoothed over progress events (at most 4 a second). */
export function nextFile(old: FileItem | undefined, t: Transfer, now: number): FileItem {
  if (!old || !MOVING.includes(t.state)) return { t, rate: null, at: now };
  if (t.bytes <= old.t.bytes) return { t, rate: old.rate, at: t.bytes < old.t.bytes ? now : old.at };
  const dt = now - old.at;
  if (dt <= 0) return { t, rate: old.rate, at: old.at };
  const inst = ((t.bytes - old.t.bytes) * 1000) / dt;
  const rate = old.rate === null ? inst : 0.6 * old.rate + 0.4 * inst;
  return { t, rate, at: now };
}

/** Seconds left at the current speed, or null when unknown. */
export function secondsLeft(f: FileItem): number | null {
  if (f.rate === null || f.rate <= 0 || !MOVING.includes(f.t.state)) return null;
  return Math.max(0, (f.t.size - f.t.bytes) / f.rate);
}

function withFile(state: AppState, t: Transfer): AppState {
  const next = nextFile(state.files[t.id], t, Date.now());
  return { ...state, files: { ...state.files, [t.id]: next } };
}

// ---- Reducer ----------------------------------------------------------------------

function conv(state: AppState, peer: string): Conversation {
  return state.convs[peer] ?? emptyConversation;
}

function withConv(state: AppState, peer: string, f: (c: Conversation) => Conversation): AppState {
  const old = conv(state, peer);
  const next = f(old);
  return next === old ? state : { ...state, convs: { ...state.convs, [peer]: next } };
}

function withPeer(state: AppState, id: string, f: (p: Peer) => Peer): AppState {
  const old = state.peers[id];
  if (!old) return state;
  const next = f(old);
  return next === old ? state : { ...state, peers: { ...state.peers, [id]: next } };
}

function withGroupConv(state: AppState, group: string, f: (c: GroupConv) => GroupConv): AppState {
  const old = state.gconvs[group] ?? emptyGroupConv;
  const next = f(old);
  return next === old ? state : { ...state, gconvs: { ...state.gconvs, [group]: next } };
}

/** A group page: merged; a newest page that does not reach what we held replaces it. */
function onGroupPage(c: GroupConv, page: GroupItem[], request: HistoryRequest | null, truncated: boolean): GroupConv {
  const mine = request !== null;
  const full = mine && isFullPage(page, request.limit, truncated);
  const newestPage = mine && request.before === undefined;
  const gap = newestPage && groupPageLeavesGap(c.items, page, full);
  // A page marks nothing "arrived later": what we held may be only the list's preview,
  // so a page cannot tell late from not yet loaded. Only live events can (below).
  const items = mergeGroupItems(gap ? [] : c.items, page, false);
  const complete = (c.complete && !gap) || (mine && !full);
  const loading = mine ? false : c.loading;
  if (items === c.items && complete === c.complete && loading === c.loading && c.error === null) return c;
  return { ...c, items, complete, loading, error: mine ? null : c.error };
}

function onGroupEvent(state: AppState, ev: ServerEvent, request: HistoryRequest | null): AppState | null {
  switch (ev.cmd) {
    case 'groups': {
      const groups: Record<string, Group> = {};
      for (const g of ev.groups) groups[g.id] = g;
      return { ...state, groups, groupsLoaded: true };
    }
    case 'group': {
      const g = ev.group;
      const old = state.groups[g.id];
      const next: AppState = { ...state, groups: { ...state.groups, [g.id]: g } };
      // A rename we asked for is done when the group carries the new name.
      if (state.groupRename.pending !== null && g.name === state.groupRename.pending) {
        next.groupRename = { pending: null, error: null };
      }
      // A group that was not there, owned by us, while a create waits: created (the name
      // is not compared: the node may have normalised it).
      if (state.groupCreate.pending !== null && !old && g.owner === state.me?.id) {
        next.groupCreate = { pending: null, error: null };
        next.open = g.id;
      }
      return next;
    }
    case 'group_history':
      return withGroupConv(state, ev.group, (c) => onGroupPage(c, ev.messages, request, ev.truncated === true));
    case 'group_message':
      return withGroupConv(state, ev.message.group, (c) => {
        const items = mergeGroupItems(c.items, [ev.message], true);
        const own = ev.message.author === state.me?.id;
        const failed = own && c.failed?.text === ev.message.text ? null : c.failed;
        return items === c.items && failed === c.failed ? c : { ...c, items, failed };
      });
    case 'group_receipt':
      return withGroupConv(state, ev.group, (c) => {
        const i = c.items.findIndex((m) => m.id === ev.message);
        const old = c.items[i];
        if (!old) return c;
        const next = withReceipt(old, ev.member, ev.kind);
        if (next === old) return c;
        const items = c.items.slice();
        items[i] = next;
        return { ...c, items };
      });
    default:
      return null;
  }
}

let toastSeq = 0;

function onEvent(state: AppState, ev: ServerEvent, request: HistoryRequest | null): AppState {
  const grouped = onGroupEvent(state, ev, request);
  if (grouped) return grouped;
  switch (ev.cmd) {
    case 'me': {
      const { cmd: _cmd, ...me } = ev;
      return { ...state, me, rename: { pending: false, error: null } };
    }
    case 'peers': {
      const peers: Record<string, Peer> = {};
      for (const p of ev.peers) peers[p.id] = p;
      return { ...state, peers, peersLoaded: true };
    }
    case 'peer': {
      const next = { ...state, peers: { ...state.peers, [ev.peer.id]: ev.peer } };
      // Any peer event while a `connect` waits is taken as its success.
      if (state.connect.pending !== null) {
        next.connect = { pending: null, error: null, ok: `Connected to ${ev.peer.name}` };
      }
      return next;
    }
    case 'history':
      return withConv(state, ev.peer, (c) => {
        const mine = request !== null;
        const truncated = ev.truncated === true;
        const gap =
          mine && request.before === undefined && leavesGap(c.messages, ev.messages, request.limit, truncated);
        // A newest page that does not reach what we had (we missed more than a page while
        // disconnected) replaces it: paging back from its oldest message fills the rest.
        const base = gap ? c.messages.filter((m) => m.seq <= 0) : c.messages;
        const messages = mergeMessages(base, ev.messages);
        const complete = (c.complete && !gap) || (mine && !isFullPage(ev.messages, request.limit, truncated));
        const loading = mine ? false : c.loading;
        if (messages === c.messages && complete === c.complete && loading === c.loading && c.error === null) {
          return c;
        }
        return { ...c, messages, complete, loading, error: mine ? null : c.error };
      });
    case 'message':
      return withConv(state, ev.message.peer, (c) => {
        const messages = mergeMessages(c.messages, [ev.message]);
        const failed = isOwn(ev.message) && c.failed?.text === ev.message.text ? null : c.failed;
        return messages === c.messages && failed === c.failed ? c : { ...c, messages, failed };
      });
    case 'status': {
      for (const [peer, c] of Object.entries(state.convs)) {
        const i = c.messages.findIndex((m) => m.id === ev.id);
        if (i < 0) continue;
        const old = c.messages[i] as Message;
        const status = forwardStatus(old.status, ev.status);
        if (status === old.status) return state;
        const messages = c.messages.slice();
        messages[i] = { ...old, status };
        return { ...state, convs: { ...state.convs, [peer]: { ...c, messages } } };
      }
      return state;
    }
    case 'error':
      return { ...state, toast: { id: ++toastSeq, text: ev.error } };
    case 'file':
      return withFile(state, ev.file);
    case 'files': {
      const now = Date.now();
      const files: Record<string, FileItem> = {};
      for (const t of ev.files) files[t.id] = nextFile(state.files[t.id], t, now);
      return { ...state, files };
    }
    default:
      return state;
  }
}

export function reducer(state: AppState, action: Action): AppState {
  switch (action.type) {
    case 'conn': {
      if (action.info.phase === 'open') return { ...state, conn: action.info };
      // Requests in flight died with the socket: nothing will answer them.
      const convs: Record<string, Conversation> = {};
      for (const [id, c] of Object.entries(state.convs)) convs[id] = c.loading ? { ...c, loading: false } : c;
      const gconvs: Record<string, GroupConv> = {};
      for (const [id, c] of Object.entries(state.gconvs)) gconvs[id] = c.loading ? { ...c, loading: false } : c;
      return {
        ...state,
        conn: action.info,
        convs,
        gconvs,
        groupCreate: { ...state.groupCreate, pending: null },
        groupRename: { ...state.groupRename, pending: null },
        rename: { ...state.rename, pending: false },
        connect: { ...state.connect, pending: null },
      };
    }
    case 'event':
      return onEvent(state, action.event, action.request ?? null);
    case 'open':
      return state.open === action.peer ? state : { ...state, open: action.peer };
    case 'historyRequested':
      return withConv(state, action.peer, (c) => ({ ...c, loading: true, error: null }));
    case 'historyFailed':
      return withConv(state, action.peer, (c) => ({ ...c, loading: false, error: action.error }));
    case 'groupHistoryRequested':
      return withGroupConv(state, action.group, (c) => ({ ...c, loading: true, error: null }));
    case 'groupHistoryFailed':
      return withGroupConv(state, action.group, (c) => ({ ...c, loading: false, error: action.error }));
    case 'groupReadSent': {
      const g = state.groups[action.group];
      if (!g || !g.unread) return state;
      return { ...state, groups: { ...state.groups, [g.id]: { ...g, unread: 0 } } };
    }
    case 'groupSendFailed':
      return withGroupConv(state, action.group, (c) => ({
        ...c,
        failed: { text: action.text, error: action.error, at: Date.now() },
      }));
    case 'groupCreateRequested':
      return { ...state, groupCreate: { pending: action.name, error: null } };
    case 'groupCreateFailed':
      return { ...state, groupCreate: { pending: null, error: action.error } };
    case 'groupCreateDone':
      return { ...state, groupCreate: { pending: null, error: null } };
    case 'groupRenameRequested':
      return { ...state, groupRename: { pending: action.name, error: null } };
    case 'groupRenameFailed':
      return { ...state, groupRename: { pending: null, error: action.error } };
    case 'readSent':
      return withPeer(state, action.peer, (p) => (p.unread === 0 ? p : { ...p, unread: 0 }));
    case 'renameRequested':
      return { ...state, rename: { pending: true, error: null } };
    case 'renameFailed':
      return { ...state, rename: { pending: false, error: action.error } };
    case 'connectRequested':
      return { ...state, connect: { pending: action.addr, error: null, ok: null } };
    case 'connectFailed':
      return { ...state, connect: { pending: null, error: action.error, ok: null } };
    case 'dismissConnect':
      return { ...state, connect: { pending: state.connect.pending, error: null, ok: null } };
    case 'sendFailed':
      return withConv(state, action.peer, (c) => ({
        ...c,
        failed: { text: action.text, error: action.error, at: Date.now() },
      }));
    case 'clearFailed':
      return withConv(state, action.peer, (c) => (c.failed ? { ...c, failed: null } : c));
    case 'toast':
      return { ...state, toast: { id: ++toastSeq, text: action.text } };
    case 'dismissToast':
      return state.toast ? { ...state, toast: null } : state;
    case 'uploadStarted': {
      const { key, peer, name, size } = action;
      return { ...state, uploads: { ...state.uploads, [key]: { key, peer, name, size, loaded: 0, error: null } } };
    }
    case 'uploadProgress': {
      const u = state.uploads[action.key];
      if (!u || action.loaded <= u.loaded) return state;
      return { ...state, uploads: { ...state.uploads, [u.key]: { ...u, loaded: Math.min(action.loaded, u.size) } } };
    }
    case 'uploadFailed': {
      const u = state.uploads[action.key];
      if (!u) return state;
      return { ...state, uploads: { ...state.uploads, [u.key]: { ...u, error: action.error } } };
    }
    case 'uploadDone': {
      if (!state.uploads[action.key]) return state;
      const { [action.key]: _gone, ...uploads } = state.uploads;
      return { ...state, uploads };
    }
  }
}
