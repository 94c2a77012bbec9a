// Group conversations (issue 18), the pure part: display order, merging pages and
// events, the "arrived later" mark, receipts, and the words the screens show for them.
// The reducer (state.ts) and the components call these; nothing here talks to the node.

import type { Group, GroupMessage, Peer } from './api';

/** A group message or system line as the UI holds it. */
export interface GroupItem extends GroupMessage {
  /**
   * It reached this screen after a message that sorts after it was already shown: it
   * was inserted above what the user had seen (the node's order is by Lamport clock,
   * not by arrival). Only this screen's view: a reload shows the order without marks.
   */
  late?: boolean;
}

/** The node's display order: Lamport clock, then author id (a system line's `by`), a
 * system line before a message with the same pair (then id, for a total order). */
export function compareGroupItems(a: GroupMessage, b: GroupMessage): number {
  if (a.lamport !== b.lamport) return a.lamport - b.lamport;
  if (a.author !== b.author) return a.author < b.author ? -1 : 1;
  if (a.kind !== b.kind) return a.kind === 'system' ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

function union(a: string[] | undefined, b: string[] | undefined): string[] | undefined {
  if (!a) return b;
  if (!b) return a;
  const extra = b.filter((x) => !a.includes(x));
  return extra.length === 0 ? a : [...a, ...extra];
}

/**
 * One item seen twice (an event, then a page): the newer copy replaces the old (the node
 * turns a removal line into `left` when the member's leave arrives later), except that
 * receipts only grow and the "arrived later" mark stays.
 */
function mergeOne(old: GroupItem, m: GroupMessage): GroupItem {
  const delivered = union(old.delivered, m.delivered);
  const read = union(old.read, m.read);
  const same =
    old.kind === m.kind && old.change === m.change && old.member === m.member && old.name === m.name && old.text === m.text;
  if (same && delivered === old.delivered && read === old.read) return old;
  return {
    ...m,
    ...(delivered ? { delivered } : {}),
    ...(read ? { read } : {}),
    ...(old.late ? { late: true } : {}),
  };
}

/**
 * Merges messages into the ordered list, deduplicated by id; the same array if nothing
 * changed. With `markLate` (a live `group_message` event), a new message that sorts
 * before the newest one already held gets the "arrived later" mark: it was inserted
 * above a message the screen already had. History pages pass false.
 */
export function mergeGroupItems(existing: GroupItem[], incoming: GroupMessage[], markLate: boolean): GroupItem[] {
  if (incoming.length === 0) return existing;
  const newest = existing[existing.length - 1];
  const byId = new Map(existing.map((m) => [m.id, m]));
  let changed = false;
  for (const m of incoming) {
    const old = byId.get(m.id);
    if (old) {
      const next = mergeOne(old, m);
      if (next !== old) {
        byId.set(m.id, next);
        changed = true;
      }
      continue;
    }
    const late = markLate && newest !== undefined && compareGroupItems(m, newest) < 0;
    byId.set(m.id, late ? { ...m, late: true } : m);
    changed = true;
  }
  if (!changed) return existing;
  return [...byId.values()].sort(compareGroupItems);
}

/** A receipt from `member` for our message: read implies delivered. */
export function withReceipt(item: GroupItem, member: string, kind: 'delivered' | 'read'): GroupItem {
  const delivered = item.delivered ?? [];
  const read = item.read ?? [];
  const addD = !delivered.includes(member);
  const addR = kind === 'read' && !read.includes(member);
  if (!addD && !addR && item.delivered && item.read) return item;
  return { ...item, delivered: addD ? [...delivered, member] : delivered, read: addR ? [...read, member] : read };
}

/** True when a full newest page starts after the newest item we hold (a hole between). */
export function groupPageLeavesGap(have: GroupItem[], page: GroupMessage[], full: boolean): boolean {
  const newest = have[have.length - 1];
  const oldest = page[0];
  if (!full || !newest || !oldest) return false;
  return !page.some((m) => m.id === newest.id) && compareGroupItems(oldest, newest) > 0;
}

// ---- Members and names ------------------------------------------------------------

/** Is this member online: ourselves always; a contact by its live peer state, which
 * `peer` events keep fresh (the group's copy only changes with `group` events). */
export function memberOnline(id: string, group: Group, peers: Record<string, Peer>, me: string | undefined): boolean {
  if (id === me) return true;
  const p = peers[id];
  if (p) return p.online;
  return group.members.find((m) => m.id === id)?.online ?? false;
}

/** "3/7 online": members online (us included) of the roster. */
export function onlineCount(group: Group, peers: Record<string, Peer>, me: string | undefined): { online: number; total: number } {
  let online = 0;
  for (const m of group.members) if (memberOnline(m.id, group, peers, me)) online++;
  return { online, total: group.members.length };
}

/** A member's name as this screen knows it: "You", the contact's live name (a rename
 * arrives as a `peer` event before the group's copy changes), the roster, former members,
 * else a short id. */
export function nameOf(id: string, group: Group | undefined, peers: Record<string, Peer>, me: string | undefined): string {
  if (id === me) return 'You';
  const peer = peers[id]?.name;
  if (peer) return peer;
  const fromRoster = group?.members.find((m) => m.id === id)?.name;
  if (fromRoster) return fromRoster;
  const known = group?.known.find((k) => k.id === id)?.name;
  if (known) return known;
  return id.slice(0, 8) || 'someone';
}

type NameFn = (id: string) => string;

/** The words of a system line: who changed what. */
export function systemText(item: GroupMessage, name: NameFn): string {
  const by = name(item.author);
  const who = item.member ? name(item.member) : 'someone';
  // "Alice removed you", not "Alice removed You".
  const member = who === 'You' ? 'you' : who;
  switch (item.change) {
    case 'created':
      return `${by} created the group${item.name ? ` “${item.name}”` : ''}`;
    case 'added':
      return `${by} added ${member}`;
    case 'removed':
      return `${by} removed ${member}`;
    case 'left':
      return `${item.member ? who : by} left`;
    case 'renamed':
      return `${by} renamed the group${item.name ? ` to “${item.name}”` : ''}`;
    case 'owner':
      return `${by} made ${member} the owner`;
    default:
      return `${by} changed the group`;
  }
}

/** "delivered to 4/6 · read by 2", and who, for our message; null when the node sends
 * no receipts (older nodes) or for messages that are not ours. */
export function receipts(
  item: GroupMessage,
  group: Group,
  me: string | undefined,
  name: NameFn,
): { text: string; delivered: string[]; read: string[] } | null {
  if (item.kind !== 'text' || item.author !== me || (!item.delivered && !item.read)) return null;
  const read = (item.read ?? []).filter((id) => id !== me);
  const delivered = [...new Set([...(item.delivered ?? []), ...read])].filter((id) => id !== me);
  // Everyone else on the roster now; someone removed since may still have received it.
  const others = Math.max(group.members.filter((m) => m.id !== me).length, delivered.length);
  const text = `delivered to ${delivered.length}/${others}${read.length > 0 ? ` · read by ${read.length}` : ''}`;
  return { text, delivered: delivered.map(name), read: read.map(name) };
}

/** The newest item (message or system line), for `group_read {upto}`. */
export function newestItem(items: GroupItem[]): GroupItem | undefined {
  return items[items.length - 1];
}

/** Why the composer is off, for every phase but `member`. */
export function phaseNotice(group: Group, name: NameFn): string | null {
  switch (group.phase) {
    case 'member':
      return null;
    case 'removed':
      return group.removed_by ? `You were removed by ${name(group.removed_by)}` : 'You were removed from this group';
    case 'left':
      return 'You left this group';
    case 'declined':
      return 'You declined this invitation';
    case 'joining':
      return `Joining — waiting for ${name(group.owner)} to add you to the roster`;
    case 'invited':
      return `${name(group.owner)} invited you to this group`;
  }
}
