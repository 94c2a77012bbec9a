import { describe, expect, it } from 'vitest';
import type { Message, ServerEvent } from '../src/api';
import {
  type Action,
  type AppState,
  type HistoryRequest,
  compareMessages,
  initialState,
  mergeMessages,
  oldestSeq,
  reducer,
} from '../src/state';
import { sortedPeers, totalUnread } from '../src/selectors';
import { BOB, CAROL, ME, msg, peer } from './fixtures';

const ev = (event: ServerEvent, request?: HistoryRequest | null): Action => ({ type: 'event', event, request });
const run = (...actions: Action[]): AppState => actions.reduce(reducer, initialState);
const texts = (s: AppState, p = BOB): string[] => (s.convs[p]?.messages ?? []).map((m) => m.text);
const seqs = (s: AppState, p = BOB): number[] => (s.convs[p]?.messages ?? []).map((m) => m.seq);

describe('peers', () => {
  it('replaces the list on peers and upserts on peer', () => {
    let s = run(ev({ cmd: 'peers', peers: [peer(BOB), peer(CAROL)] }));
    expect(s.peersLoaded).toBe(true);
    expect(Object.keys(s.peers).sort()).toEqual([BOB, CAROL]);
    s = reducer(s, ev({ cmd: 'peer', peer: peer(BOB, { name: 'bobby', online: false }) }));
    expect(s.peers[BOB]?.name).toBe('bobby');
    expect(s.peers[BOB]?.online).toBe(false);
    const dave = 'd'.repeat(64);
    s = reducer(s, ev({ cmd: 'peer', peer: peer(dave) }));
    expect(Object.keys(s.peers)).toHaveLength(3);
    s = reducer(s, ev({ cmd: 'peers', peers: [peer(CAROL)] }));
    expect(Object.keys(s.peers)).toEqual([CAROL]);
  });

  it('sorts by last activity (last message, else last seen), then name', () => {
    const s = run(
      ev({
        cmd: 'peers',
        peers: [
          peer(BOB, { last_seen: 1000 }),
          peer(CAROL, { last_seen: 5000 }),
          peer('d'.repeat(64), { name: 'dave', last_seen: null }),
          peer('e'.repeat(64), { name: 'eve', last_seen: null }),
        ],
      }),
    );
    expect(sortedPeers(s).map((p) => p.name)).toEqual(['carol', 'bob', 'dave', 'eve']);
    const s2 = reducer(s, ev({ cmd: 'message', message: msg(BOB, 1, { ts: 9000 }) }));
    expect(sortedPeers(s2).map((p) => p.name)).toEqual(['bob', 'carol', 'dave', 'eve']);
  });

  it('filters by name, id prefix and fingerprint', () => {
    const s = run(ev({ cmd: 'peers', peers: [peer(BOB), peer(CAROL, { fingerprint: 'ZZZZ1111-A-B-C' })] }));
    expect(sortedPeers(s, 'BO').map((p) => p.name)).toEqual(['bob']);
    expect(sortedPeers(s, 'ccc').map((p) => p.name)).toEqual(['carol']);
    expect(sortedPeers(s, 'zzzz-1111').map((p) => p.name)).toEqual(['carol']);
    expect(sortedPeers(s, '  ')).toHaveLength(2);
    expect(sortedPeers(s, 'xyz')).toHaveLength(0);
  });

  it('counts unread from the node and clears it when read is sent', () => {
    let s = run(ev({ cmd: 'peers', peers: [peer(BOB, { unread: 2 }), peer(CAROL, { unread: 1 })] }));
    expect(totalUnread(s)).toBe(3);
    s = reducer(s, ev({ cmd: 'peer', peer: peer(BOB, { unread: 5 }) }));
    expect(totalUnread(s)).toBe(6);
    s = reducer(s, { type: 'readSent', peer: BOB });
    expect(s.peers[BOB]?.unread).toBe(0);
    expect(totalUnread(s)).toBe(1);
    expect(reducer(s, { type: 'readSent', peer: 'f'.repeat(64) })).toBe(s);
  });
});

describe('messages', () => {
  it('a message pushed twice (sent, then committed with a seq) replaces, not duplicates', () => {
    const first = msg(BOB, 0, { id: 'm1', own: true, text: 'hi' });
    let s = run(ev({ cmd: 'message', message: first }));
    expect(texts(s)).toEqual(['hi']);
    s = reducer(s, ev({ cmd: 'message', message: { ...first, seq: 42 } }));
    expect(texts(s)).toEqual(['hi']);
    expect(seqs(s)).toEqual([42]);
    // The same event again changes nothing at all.
    expect(reducer(s, ev({ cmd: 'message', message: { ...first, seq: 42 } }))).toBe(s);
  });

  it('a message received again keeps its place (its first seq) and its status', () => {
    const m = msg(BOB, 7, { id: 'm7', text: 'seven' });
    const later = msg(BOB, 8, { id: 'm8', text: 'eight' });
    let s = run(ev({ cmd: 'message', message: m }), ev({ cmd: 'message', message: later }));
    s = reducer(s, ev({ cmd: 'status', id: m.id, status: 'read' }));
    // The sender missed our ACKN and sent it again: the node shows it before its insert
    // finds it stored, with a seq that is never kept.
    s = reducer(s, ev({ cmd: 'message', message: { ...m, seq: 9 } }));
    expect(texts(s)).toEqual(['seven', 'eight']);
    expect(seqs(s)).toEqual([7, 8]);
    expect(s.convs[BOB]?.messages[0]?.status).toBe('read');
  });

  it('statuses only move forward: pending → delivered → read', () => {
    const m = msg(BOB, 1, { id: 'm1', own: true });
    let s = run(ev({ cmd: 'message', message: m }));
    const status = (): string | undefined => s.convs[BOB]?.messages[0]?.status;
    s = reducer(s, ev({ cmd: 'status', id: m.id, status: 'delivered' }));
    expect(status()).toBe('delivered');
    s = reducer(s, ev({ cmd: 'status', id: m.id, status: 'pending' }));
    expect(status()).toBe('delivered');
    s = reducer(s, ev({ cmd: 'status', id: m.id, status: 'read' }));
    expect(status()).toBe('read');
    s = reducer(s, ev({ cmd: 'status', id: m.id, status: 'delivered' }));
    expect(status()).toBe('read');
    // A late duplicate message event with an older status does not move it back either.
    s = reducer(s, ev({ cmd: 'message', message: { ...m, status: 'pending' } }));
    expect(status()).toBe('read');
    // Unknown ids are ignored.
    expect(reducer(s, ev({ cmd: 'status', id: 'nope', status: 'read' }))).toBe(s);
  });

  it('a status can skip a step (pending → read)', () => {
    const m = msg(BOB, 1, { id: 'm1', own: true });
    const s = run(ev({ cmd: 'message', message: m }), ev({ cmd: 'status', id: m.id, status: 'read' }));
    expect(s.convs[BOB]?.messages[0]?.status).toBe('read');
  });

  it('history pages merge, dedupe by id and order by seq', () => {
    const page2 = [60, 61, 62].map((n) => msg(BOB, n, { id: `p${n}` }));
    const page1 = [58, 59, 60, 61].map((n) => msg(BOB, n, { id: `p${n}` }));
    let s = run(ev({ cmd: 'history', peer: BOB, messages: page2 }, { limit: 50 }));
    s = reducer(s, ev({ cmd: 'message', message: msg(BOB, 63, { id: 'p63' }) }));
    s = reducer(s, ev({ cmd: 'history', peer: BOB, messages: page1 }, { before: 60, limit: 50 }));
    expect(seqs(s)).toEqual([58, 59, 60, 61, 62, 63]);
    expect(new Set(s.convs[BOB]?.messages.map((m) => m.id)).size).toBe(6);
    expect(oldestSeq(s.convs[BOB])).toBe(58);
  });

  it('marks the conversation complete when a page comes back short, only for its own requests', () => {
    const full = Array.from({ length: 50 }, (_, i) => msg(BOB, 100 + i));
    let s = run({ type: 'historyRequested', peer: BOB });
    expect(s.convs[BOB]?.loading).toBe(true);
    s = reducer(s, ev({ cmd: 'history', peer: BOB, messages: full }, { limit: 50 }));
    expect(s.convs[BOB]?.complete).toBe(false);
    expect(s.convs[BOB]?.loading).toBe(false);
    // Someone else's (or an unrequested) short page says nothing about the start.
    s = reducer(s, ev({ cmd: 'history', peer: BOB, messages: [msg(BOB, 99)] }, null));
    expect(s.convs[BOB]?.complete).toBe(false);
    s = reducer(s, ev({ cmd: 'history', peer: BOB, messages: [msg(BOB, 98)] }, { before: 99, limit: 50 }));
    expect(s.convs[BOB]?.complete).toBe(true);
    expect(s.convs[BOB]?.messages).toHaveLength(52);
    // A later full reload of the newest page does not un-complete it.
    s = reducer(s, ev({ cmd: 'history', peer: BOB, messages: full }, { limit: 50 }));
    expect(s.convs[BOB]?.complete).toBe(true);
  });

  it('a page cut short by the byte bound (truncated) is not the start, and can leave a gap', () => {
    const cut = [msg(BOB, 120), msg(BOB, 121)];
    let s = run(ev({ cmd: 'history', peer: BOB, messages: cut, truncated: true }, { limit: 50 }));
    expect(s.convs[BOB]?.complete).toBe(false);
    expect(oldestSeq(s.convs[BOB])).toBe(120);
    s = reducer(s, ev({ cmd: 'history', peer: BOB, messages: [msg(BOB, 119)] }, { before: 120, limit: 50 }));
    expect(s.convs[BOB]?.complete).toBe(true);
    // A short newest page that is truncated may not reach what we hold: it replaces it.
    const later = [msg(BOB, 200, { id: 'l200' }), msg(BOB, 201, { id: 'l201' })];
    s = reducer(s, ev({ cmd: 'history', peer: BOB, messages: later, truncated: true }, { limit: 50 }));
    expect(seqs(s)).toEqual([200, 201]);
    expect(s.convs[BOB]?.complete).toBe(false);
  });

  it('a newest page that does not reach the loaded messages replaces them (missed while away)', () => {
    const old = Array.from({ length: 10 }, (_, i) => msg(BOB, 1 + i));
    let s = run(ev({ cmd: 'history', peer: BOB, messages: old }, { limit: 50 }));
    expect(s.convs[BOB]?.complete).toBe(true);
    const fresh = Array.from({ length: 50 }, (_, i) => msg(BOB, 100 + i, { id: `s${100 + i}` }));
    s = reducer(s, ev({ cmd: 'history', peer: BOB, messages: fresh }, { limit: 50 }));
    expect(seqs(s)[0]).toBe(100);
    expect(s.convs[BOB]?.messages).toHaveLength(50);
    expect(s.convs[BOB]?.complete).toBe(false);
    // An overlapping page merges.
    const overlap = Array.from({ length: 50 }, (_, i) => msg(BOB, 140 + i, { id: `s${140 + i}` }));
    s = reducer(s, ev({ cmd: 'history', peer: BOB, messages: overlap }, { limit: 50 }));
    expect(seqs(s)[0]).toBe(100);
    expect(s.convs[BOB]?.messages).toHaveLength(90);
  });

  it('keeps uncommitted messages (seq 0) after committed ones, by time', () => {
    const a = msg(BOB, 5, { ts: 10 });
    const b = msg(BOB, 0, { ts: 5 });
    const c = msg(BOB, 0, { ts: 20 });
    const d = msg(BOB, 3, { ts: 30 });
    expect(mergeMessages([], [c, a, b, d]).map((m) => m.seq)).toEqual([3, 5, 0, 0]);
    expect([c, b].sort(compareMessages)).toEqual([b, c]);
    expect(oldestSeq({ messages: [b], complete: false, loading: false, error: null, failed: null })).toBeUndefined();
  });

  it('mergeMessages returns the same array when nothing changed', () => {
    const list: Message[] = [msg(BOB, 1), msg(BOB, 2)];
    expect(mergeMessages(list, [])).toBe(list);
    expect(mergeMessages(list, [{ ...list[0]! }])).toBe(list);
  });

  it('keeps conversations apart', () => {
    const s = run(ev({ cmd: 'message', message: msg(BOB, 1) }), ev({ cmd: 'message', message: msg(CAROL, 2) }));
    expect(seqs(s, BOB)).toEqual([1]);
    expect(seqs(s, CAROL)).toEqual([2]);
  });
});

describe('forms and connection', () => {
  it('rename: pending until me, error inline', () => {
    let s = run({ type: 'renameRequested' });
    expect(s.rename.pending).toBe(true);
    s = reducer(s, { type: 'renameFailed', error: 'name too long' });
    expect(s.rename).toEqual({ pending: false, error: 'name too long' });
    s = reducer(s, { type: 'renameRequested' });
    s = reducer(s, ev({ cmd: 'me', ...ME, name: 'al' }));
    expect(s.rename).toEqual({ pending: false, error: null });
    expect(s.me?.name).toBe('al');
  });

  it('connect: error inline, success on the next peer event', () => {
    let s = run({ type: 'connectRequested', addr: '10.0.0.1:1' });
    expect(s.connect.pending).toBe('10.0.0.1:1');
    s = reducer(s, { type: 'connectFailed', error: 'refused' });
    expect(s.connect).toEqual({ pending: null, error: 'refused', ok: null });
    s = reducer(s, { type: 'connectRequested', addr: '10.0.0.1:2' });
    s = reducer(s, ev({ cmd: 'peer', peer: peer(BOB) }));
    expect(s.connect).toEqual({ pending: null, error: null, ok: 'Connected to bob' });
  });

  it('a lost connection ends every request in flight', () => {
    let s = run({ type: 'historyRequested', peer: BOB }, { type: 'renameRequested' }, { type: 'connectRequested', addr: 'x:1' });
    s = reducer(s, { type: 'conn', info: { phase: 'reconnecting', failedOpens: 1, retryAt: 1 } });
    expect(s.convs[BOB]?.loading).toBe(false);
    expect(s.rename.pending).toBe(false);
    expect(s.connect.pending).toBeNull();
  });

  it('a send error is kept with its text until the next send of it', () => {
    let s = run({ type: 'sendFailed', peer: BOB, text: 'hello', error: 'too long' });
    expect(s.convs[BOB]?.failed?.text).toBe('hello');
    s = reducer(s, ev({ cmd: 'message', message: msg(BOB, 1, { own: true, text: 'hello' }) }));
    expect(s.convs[BOB]?.failed).toBeNull();
  });

  it('errors without a form become a toast', () => {
    const s = run(ev({ cmd: 'error', error: 'no such peer', request: 'verify' }));
    expect(s.toast?.text).toBe('no such peer');
    expect(reducer(s, { type: 'dismissToast' }).toast).toBeNull();
  });
});
