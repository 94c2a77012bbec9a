// Derived views of the state: what the peer list and the title show.

import type { Group, Message, Peer } from './api';
import type { GroupItem } from './groups';
import type { AppState, FileItem, Upload } from './state';

export function lastMessage(state: AppState, peer: string): Message | undefined {
  const ms = state.convs[peer]?.messages;
  return ms && ms.length > 0 ? ms[ms.length - 1] : undefined;
}

/** When there was last something to see: the last message, else the last traffic. */
export function lastActivity(state: AppState, peer: Peer): number {
  return lastMessage(state, peer.id)?.ts ?? peer.last_seen ?? 0;
}

/** Peers, contacts before strangers, then most recent activity first, then by name;
 * filtered by name, id or fingerprint. */
export function sortedPeers(state: AppState, query = ''): Peer[] {
  const q = query.trim().toLowerCase();
  const qCompact = q.replace(/[\s-]/g, '');
  const list = Object.values(state.peers).filter(
    (p) =>
      q === '' ||
      p.name.toLowerCase().includes(q) ||
      (qCompact !== '' && p.id.includes(qCompact)) ||
      (qCompact !== '' && p.fingerprint.replace(/-/g, '').toLowerCase().includes(qCompact)),
  );
  const activity = new Map(list.map((p) => [p.id, lastActivity(state, p)]));
  return list.sort(
    (a, b) =>
      Number(a.stranger) - Number(b.stranger) ||
      (activity.get(b.id) ?? 0) - (activity.get(a.id) ?? 0) ||
      a.name.localeCompare(b.name) ||
      a.id.localeCompare(b.id),
  );
}

export function totalUnread(state: AppState): number {
  let n = 0;
  for (const p of Object.values(state.peers)) n += p.unread;
  for (const g of Object.values(state.groups)) n += g.unread ?? 0;
  return n;
}

/** The transfers with `peer`, oldest first. */
export function peerFiles(state: AppState, peer: string): FileItem[] {
  return Object.values(state.files)
    .filter((f) => f.t.peer === peer)
    .sort((a, b) => a.t.created - b.t.created || (a.t.id < b.t.id ? -1 : 1));
}

/** This browser's uploads to `peer` still waiting for the node. */
export function peerUploads(state: AppState, peer: string): Upload[] {
  return Object.values(state.uploads).filter((u) => u.peer === peer);
}

export function lastGroupItem(state: AppState, group: string): GroupItem | undefined {
  const items = state.gconvs[group]?.items;
  return items && items.length > 0 ? items[items.length - 1] : undefined;
}

/** Where a phase goes in the list: invitations first, then groups we are in, then the
 * ones we left, were removed from or declined. */
const PHASE_RANK: Record<Group['phase'], number> = { invited: 0, joining: 1, member: 1, removed: 2, left: 2, declined: 3 };

/** Groups in list order: by phase, then latest activity first, then name; filtered by
 * name or id. */
export function sortedGroups(state: AppState, query = ''): Group[] {
  const q = query.trim().toLowerCase();
  const activity = (g: Group): number => lastGroupItem(state, g.id)?.ts ?? g.created;
  const list = Object.values(state.groups).filter((g) => q === '' || g.name.toLowerCase().includes(q) || g.id.startsWith(q));
  return list.sort(
    (a, b) =>
      PHASE_RANK[a.phase] - PHASE_RANK[b.phase] ||
      activity(b) - activity(a) ||
      a.name.localeCompare(b.name) ||
      a.id.localeCompare(b.id),
  );
}

/** Contacts that can be invited: known peers that are not strangers, by name. */
export function contacts(state: AppState): Peer[] {
  return Object.values(state.peers)
    .filter((p) => !p.stranger)
    .sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id));
}
