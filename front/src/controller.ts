// Glue between the WebSocket client and the store: turns user intents into commands and
// node events into actions, and owns the bookkeeping the reducer should not know about:
// which `history` and `send` requests are in flight (the node answers one socket's
// commands in order, so a FIFO tells which request an answer or `error` belongs to),
// when to send `read`, and when to notify.

import { HISTORY_PAGE, type ServerEvent, isOwn } from './api';
import { type Uploader, makeThumb, xhrUpload } from './files';
import { nameOf, newestItem } from './groups';
import { type HistoryRequest, oldestSeq } from './state';
import type { Store } from './store';
import type { PurrClient } from './ws';

/** How many peers get a one-message `history` for their list preview after `peers`. */
const PREVIEW_PEERS = 100;

export interface Env {
  /** The tab is shown (Page Visibility API). */
  visible(): boolean;
  /** A new incoming message arrived while the tab was hidden: `peer` is the conversation
   * to open on a click (a peer's or a group's id), `title` its name. */
  notify(message: { text: string; peer: string }, title: string): void;
}

interface PendingHistory extends HistoryRequest {
  peer: string;
}

interface PendingGroupHistory {
  group: string;
  before?: string;
  limit: number;
}

/** Phases in which a group has history to show. */
const WITH_HISTORY: readonly string[] = ['member', 'left', 'removed'];

export class Controller {
  private history: PendingHistory[] = [];
  private sends: { to: string; text: string }[] = [];
  /** Conversations whose latest page was fetched on this socket. */
  private fresh = new Set<string>();
  private previewed = new Set<string>();
  // The same for groups (their commands are answered in order too).
  private groupHistory: PendingGroupHistory[] = [];
  private groupSends: { group: string; text: string }[] = [];
  private freshGroups = new Set<string>();
  private previewedGroups = new Set<string>();
  /** The `upto` of the last `group_read` per group, so it is sent once per new message. */
  private readUpto = new Map<string, string>();

  private uploadSeq = 0;

  constructor(
    private readonly client: PurrClient,
    private readonly store: Store,
    private readonly env: Env,
    private readonly uploader: Uploader = xhrUpload,
  ) {
    client.onConn((info) => {
      if (info.phase === 'open') this.onOpen();
      else this.onClosed();
      store.dispatch({ type: 'conn', info });
    });
    client.onEvent((ev) => this.onEvent(ev));
  }

  get connected(): boolean {
    return this.client.isOpen;
  }

  // ---- Intents ----------------------------------------------------------------------

  /** Opens a conversation, a peer's or a group's (null: the "me" screen). */
  open(peer: string | null): void {
    this.store.dispatch({ type: 'open', peer });
    if (peer === null) return;
    if (this.store.getState().groups[peer]) {
      this.openGroup(peer);
      return;
    }
    if (!this.fresh.has(peer)) this.requestHistory(peer, undefined);
    this.markRead(peer);
    // A nearby peer has no session until its conversation is opened (docs/UI.md).
    const p = this.store.getState().peers[peer];
    if (p && !p.online && p.presence === 'nearby') this.client.send({ cmd: 'open', peer });
  }

  // ---- Groups ---------------------------------------------------------------------

  private openGroup(group: string): void {
    const g = this.store.getState().groups[group];
    if (g && WITH_HISTORY.includes(g.phase) && !this.freshGroups.has(group)) this.requestGroupHistory(group, undefined);
    this.markGroupRead(group);
  }

  /** The page before the oldest loaded item of a group, unless one is on its way. */
  loadOlderGroup(group: string): void {
    const c = this.store.getState().gconvs[group];
    const before = c?.items[0]?.id;
    if (!c || c.loading || c.complete || before === undefined) return;
    this.requestGroupHistory(group, before);
  }

  private requestGroupHistory(group: string, before: string | undefined): void {
    const limit = HISTORY_PAGE;
    if (!this.client.send({ cmd: 'group_history', group, limit, ...(before === undefined ? {} : { before }) })) return;
    this.groupHistory.push({ group, before, limit });
    if (before === undefined) this.freshGroups.add(group);
    this.store.dispatch({ type: 'groupHistoryRequested', group });
  }

  /** Creates a group and invites these contacts; the dialog waits for the `group` event. */
  createGroup(name: string, members: string[]): boolean {
    if (!this.client.send({ cmd: 'group_create', name, members })) return false;
    this.store.dispatch({ type: 'groupCreateRequested', name });
    return true;
  }

  sendToGroup(group: string, text: string): boolean {
    if (!this.client.send({ cmd: 'group_send', group, text })) return false;
    this.groupSends.push({ group, text });
    return true;
  }

  /** Invites contacts, one command each (a refusal is a toast naming the command). */
  inviteToGroup(group: string, members: string[]): boolean {
    return members.every((member) => this.client.send({ cmd: 'group_invite', group, member }));
  }

  removeFromGroup(group: string, member: string): boolean {
    return this.client.send({ cmd: 'group_remove', group, member });
  }

  renameGroup(group: string, name: string): boolean {
    if (!this.client.send({ cmd: 'group_rename', group, name })) return false;
    this.store.dispatch({ type: 'groupRenameRequested', name });
    return true;
  }

  acceptGroup(group: string): boolean {
    return this.client.send({ cmd: 'group_accept', group });
  }

  declineGroup(group: string): boolean {
    return this.client.send({ cmd: 'group_decline', group });
  }

  leaveGroup(group: string): boolean {
    return this.client.send({ cmd: 'group_leave', group });
  }

  /** Sends `group_read` up to the newest item of an open, visible group, once per
   * newest item. Nodes without it answer an error, which is not shown. */
  markGroupRead(group: string, again = false): void {
    const s = this.store.getState();
    if (s.open !== group || !this.env.visible() || !this.client.isOpen) return;
    const upto = newestItem(s.gconvs[group]?.items ?? [])?.id;
    // `again`: the node still counts unread after our last `group_read` (it may have
    // counted before that arrived): say it once more.
    if (upto === undefined || (this.readUpto.get(group) === upto && !again)) return;
    if (this.client.send({ cmd: 'group_read', group, upto })) {
      this.readUpto.set(group, upto);
      this.store.dispatch({ type: 'groupReadSent', group });
    }
  }

  /** One item per group with history, for the list's preview and order. */
  private fetchGroupPreviews(): void {
    const s = this.store.getState();
    let n = 0;
    for (const g of Object.values(s.groups)) {
      if (n >= PREVIEW_PEERS) break;
      if (!WITH_HISTORY.includes(g.phase) || this.previewedGroups.has(g.id) || this.freshGroups.has(g.id)) continue;
      this.previewedGroups.add(g.id);
      if (this.client.send({ cmd: 'group_history', group: g.id, limit: 1 })) {
        this.groupHistory.push({ group: g.id, limit: 1 });
        n++;
      }
    }
  }

  /** Fetches the page before the oldest loaded message, unless one is on its way. */
  loadOlder(peer: string): void {
    const c = this.store.getState().convs[peer];
    if (!c || c.loading || c.complete) return;
    const before = oldestSeq(c);
    if (before === undefined) return;
    this.requestHistory(peer, before);
  }

  /** Sends a message; false when disconnected (the composer keeps the draft). */
  send(to: string, text: string): boolean {
    if (!this.client.send({ cmd: 'send', to, text })) return false;
    this.sends.push({ to, text });
    this.store.dispatch({ type: 'clearFailed', peer: to });
    return true;
  }

  rename(name: string): boolean {
    if (!this.client.send({ cmd: 'rename', name })) return false;
    this.store.dispatch({ type: 'renameRequested' });
    return true;
  }

  connect(addr: string): boolean {
    if (!this.client.send({ cmd: 'connect', addr })) return false;
    this.store.dispatch({ type: 'connectRequested', addr });
    return true;
  }

  verify(peer: string, verified: boolean): boolean {
    return this.client.send({ cmd: 'verify', peer, verified });
  }

  /** Offers files to `peer`: each is uploaded to our node (with a preview if it is an
   * image), which then offers it. Progress and failures show in the conversation. */
  sendFiles(peer: string, files: Iterable<File>, caption?: string): void {
    // The caption goes with the first file only.
    let words = caption;
    for (const file of files) {
      void this.sendFile(peer, file, words);
      words = undefined;
    }
  }

  private async sendFile(peer: string, file: File, caption?: string): Promise<void> {
    const { dispatch } = this.store;
    const key = `u${++this.uploadSeq}`;
    dispatch({ type: 'uploadStarted', key, peer, name: file.name, size: file.size, ...(caption ? { caption } : {}) });
    try {
      const thumb = await makeThumb(file);
      let last = 0;
      const t = await this.uploader({
        to: peer,
        file,
        thumb,
        ...(caption ? { caption } : {}),
        onProgress: (loaded) => {
          // A few updates a second are enough for a progress bar.
          const now = Date.now();
          if (now - last < 200 && loaded < file.size) return;
          last = now;
          dispatch({ type: 'uploadProgress', key, loaded });
        },
      });
      dispatch({ type: 'event', event: { cmd: 'file', file: t } });
      dispatch({ type: 'uploadDone', key });
    } catch (e) {
      dispatch({ type: 'uploadFailed', key, error: e instanceof Error ? e.message : String(e) });
    }
  }

  /** Drops a failed upload from the conversation. */
  dismissUpload(key: string): void {
    this.store.dispatch({ type: 'uploadDone', key });
  }

  acceptFile(id: string): boolean {
    return this.client.send({ cmd: 'accept_file', id });
  }

  declineFile(id: string): boolean {
    return this.client.send({ cmd: 'decline_file', id });
  }

  cancelFile(id: string): boolean {
    return this.client.send({ cmd: 'cancel_file', id });
  }

  pauseFile(id: string): boolean {
    return this.client.send({ cmd: 'pause_file', id });
  }

  resumeFile(id: string): boolean {
    return this.client.send({ cmd: 'resume_file', id });
  }

  /** Reconnects now instead of waiting out the backoff. */
  retry(): void {
    this.client.retryNow();
  }

  /** The tab became visible: catch up on reading, and do not wait out a backoff. */
  onVisible(): void {
    const open = this.store.getState().open;
    if (open) {
      this.markRead(open);
      this.markGroupRead(open);
    }
    this.client.retryNow();
  }

  /** Sends `read` for an open, visible conversation with something unread. */
  markRead(peer: string): void {
    const s = this.store.getState();
    if (s.open !== peer || !this.env.visible() || !this.client.isOpen) return;
    const p = s.peers[peer];
    const msgs = s.convs[peer]?.messages ?? [];
    const unseen = msgs.some((m) => !isOwn(m) && m.status === 'received');
    if ((p && p.unread > 0) || unseen) {
      if (this.client.send({ cmd: 'read', peer })) this.store.dispatch({ type: 'readSent', peer });
    }
  }

  // ---- Socket -----------------------------------------------------------------------

  private onOpen(): void {
    this.history = [];
    this.sends = [];
    this.fresh.clear();
    this.previewed.clear();
    this.groupHistory = [];
    this.groupSends = [];
    this.freshGroups.clear();
    this.previewedGroups.clear();
    this.readUpto.clear();
    // `hello` is already sent by the client; reload the open conversation after it.
    this.client.send({ cmd: 'files' });
    this.client.send({ cmd: 'groups' });
    const open = this.store.getState().open;
    if (open && this.store.getState().groups[open]) {
      this.openGroup(open);
    } else if (open) {
      this.requestHistory(open, undefined);
      this.markRead(open);
    }
  }

  private onClosed(): void {
    this.history = [];
    this.sends = [];
    this.groupHistory = [];
    this.groupSends = [];
  }

  private requestHistory(peer: string, before: number | undefined): void {
    const limit = HISTORY_PAGE;
    const cmd = before === undefined ? { cmd: 'history' as const, peer, limit } : { cmd: 'history' as const, peer, before, limit };
    if (!this.client.send(cmd)) return;
    this.history.push({ peer, before, limit });
    if (before === undefined) this.fresh.add(peer);
    this.store.dispatch({ type: 'historyRequested', peer });
  }

  private onEvent(ev: ServerEvent): void {
    const { dispatch, getState } = this.store;
    switch (ev.cmd) {
      case 'history': {
        const i = this.history.findIndex((h) => h.peer === ev.peer);
        const req = i >= 0 ? this.history.splice(i, 1)[0] : undefined;
        dispatch({ type: 'event', event: ev, request: req ? { before: req.before, limit: req.limit } : null });
        if (getState().open === ev.peer) this.markRead(ev.peer);
        return;
      }
      case 'error':
        this.onError(ev.error, ev.request);
        return;
      case 'message': {
        const m = ev.message;
        const before = getState().convs[m.peer];
        const known = before?.messages.some((x) => x.id === m.id) ?? false;
        if (isOwn(m)) {
          const i = this.sends.findIndex((s) => s.to === m.peer && s.text === m.text);
          if (i >= 0) this.sends.splice(i, 1);
        }
        dispatch({ type: 'event', event: ev });
        if (!isOwn(m) && !known) {
          if (getState().open === m.peer) this.markRead(m.peer);
          if (!this.env.visible()) this.env.notify(m, getState().peers[m.peer]?.name ?? 'purr');
        }
        return;
      }
      case 'peers':
        dispatch({ type: 'event', event: ev });
        this.fetchPreviews();
        return;
      case 'peer':
        dispatch({ type: 'event', event: ev });
        if (ev.peer.unread > 0 && getState().open === ev.peer.id) this.markRead(ev.peer.id);
        return;
      case 'groups':
        dispatch({ type: 'event', event: ev });
        this.fetchGroupPreviews();
        return;
      case 'group': {
        const was = getState().groups[ev.group.id]?.phase;
        dispatch({ type: 'event', event: ev });
        // Just joined (or the history became readable): load what is there.
        if (getState().open === ev.group.id && was !== ev.group.phase && WITH_HISTORY.includes(ev.group.phase)) {
          this.freshGroups.delete(ev.group.id);
          this.openGroup(ev.group.id);
        } else if (getState().open === ev.group.id && (ev.group.unread ?? 0) > 0) {
          this.markGroupRead(ev.group.id, true);
        }
        return;
      }
      case 'group_history': {
        const i = this.groupHistory.findIndex((h) => h.group === ev.group);
        const req = i >= 0 ? this.groupHistory.splice(i, 1)[0] : undefined;
        const request = req ? { limit: req.limit, ...(req.before === undefined ? {} : { before: req.before }) } : null;
        dispatch({ type: 'event', event: ev, request });
        if (getState().open === ev.group) this.markGroupRead(ev.group);
        return;
      }
      case 'group_message': {
        const m = ev.message;
        const own = m.author === getState().me?.id;
        if (own && m.kind === 'text') {
          const i = this.groupSends.findIndex((s) => s.group === m.group && s.text === m.text);
          if (i >= 0) this.groupSends.splice(i, 1);
        }
        const known = getState().gconvs[m.group]?.items.some((x) => x.id === m.id) ?? false;
        dispatch({ type: 'event', event: ev });
        if (getState().open === m.group) this.markGroupRead(m.group);
        if (!own && !known && m.kind === 'text' && !this.env.visible()) {
          const s = getState();
          const g = s.groups[m.group];
          this.env.notify({ text: `${nameOf(m.author, g, s.peers, s.me?.id)}: ${m.text}`, peer: m.group }, g?.name ?? 'purr');
        }
        return;
      }
      default:
        dispatch({ type: 'event', event: ev });
    }
  }

  /** One message per peer, so the list can show a preview and sort by activity. */
  private fetchPreviews(): void {
    const s = this.store.getState();
    let n = 0;
    for (const id of Object.keys(s.peers)) {
      if (n >= PREVIEW_PEERS) break;
      // Every peer, also those with loaded messages: some may have come in while this UI
      // was disconnected (the reducer notices a gap and drops the stale part).
      if (this.previewed.has(id) || this.fresh.has(id)) continue;
      this.previewed.add(id);
      if (this.client.send({ cmd: 'history', peer: id, limit: 1 })) {
        this.history.push({ peer: id, limit: 1 });
        n++;
      }
    }
  }

  private onError(error: string, request: string | undefined): void {
    const { dispatch } = this.store;
    switch (request) {
      case 'rename':
        dispatch({ type: 'renameFailed', error });
        return;
      case 'connect':
        dispatch({ type: 'connectFailed', error });
        return;
      case 'history': {
        const req = this.history.shift();
        // A failed preview is not worth a word; a failed page is shown in its conversation.
        if (req && req.limit > 1) dispatch({ type: 'historyFailed', peer: req.peer, error });
        return;
      }
      case 'send': {
        const req = this.sends.shift();
        if (req) dispatch({ type: 'sendFailed', peer: req.to, text: req.text, error });
        else dispatch({ type: 'toast', text: `Message not sent: ${error}` });
        return;
      }
      case 'read':
      case 'group_read':
        return; // The next open or visibility change tries again (older nodes lack it).
      case 'group_history': {
        const req = this.groupHistory.shift();
        if (req && req.limit > 1) dispatch({ type: 'groupHistoryFailed', group: req.group, error });
        return;
      }
      case 'group_send': {
        const req = this.groupSends.shift();
        if (req) dispatch({ type: 'groupSendFailed', group: req.group, text: req.text, error });
        else dispatch({ type: 'toast', text: `Message not sent: ${error}` });
        return;
      }
      case 'group_create':
        dispatch({ type: 'groupCreateFailed', error });
        return;
      case 'group_rename':
        dispatch({ type: 'groupRenameFailed', error });
        return;
      default:
        dispatch({ type: 'toast', text: error });
    }
  }
}
