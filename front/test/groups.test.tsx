// Groups (issue 18): the pure model (order, arrived-later, receipts, online count, removed
// state), the reducer and controller around it, and the screens that show them.

import { act, fireEvent, screen, within } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type Group, type GroupMessage, parseEvent } from '../src/api';
import { App } from '../src/components/App';
import { Controller } from '../src/controller';
import { compareGroupItems, mergeGroupItems, onlineCount, phaseNotice, receipts, systemText, withReceipt } from '../src/groups';
import { sortedGroups, totalUnread } from '../src/selectors';
import { type AppState, initialState, reducer } from '../src/state';
import { createStore } from '../src/store';
import { PurrClient } from '../src/ws';
import { FakeSocket, factory } from './fakeSocket';
import { BOB, CAROL, ME, peer } from './fixtures';
import { renderWithApp } from './render';

const DAVE = 'd'.repeat(64);
const GID = '1'.repeat(32);

function group(over: Partial<Group> = {}): Group {
  return {
    id: GID,
    name: 'cats',
    owner: ME.id,
    phase: 'member',
    members: [
      { id: ME.id, name: 'alice', online: true },
      { id: BOB, name: 'bob', online: true },
      { id: CAROL, name: 'carol', online: false },
      { id: DAVE, name: 'dave', online: false },
    ],
    version: 1,
    created: 1_700_000_000_000,
    known: [],
    ...over,
  };
}

let n = 0;
function gm(author: string, lamport: number, over: Partial<GroupMessage> = {}): GroupMessage {
  n++;
  return {
    id: `${lamport.toString(16)}${author.slice(0, 1)}${n}`.padStart(32, '0'),
    group: GID,
    kind: 'text',
    author,
    seq: lamport,
    lamport,
    ts: 1_700_000_000_000 + lamport * 1000,
    text: `m${lamport}`,
    ...over,
  };
}

const ev = (state: AppState, event: unknown): AppState => {
  const parsed = parseEvent(JSON.stringify(event));
  if (!parsed) throw new Error(`not an event: ${JSON.stringify(event)}`);
  return reducer(state, { type: 'event', event: parsed });
};

const withMe: AppState = { ...initialState, me: { ...ME } };

describe('group order and the arrived-later mark', () => {
  it('orders by Lamport clock, then author, whatever the arrival order; one copy each', () => {
    const a = gm(CAROL, 5);
    const b = gm(BOB, 5);
    const c = gm(ME.id, 2);
    let s = ev(withMe, { cmd: 'group_message', message: a });
    s = ev(s, { cmd: 'group_message', message: c });
    s = ev(s, { cmd: 'group_message', message: b });
    s = ev(s, { cmd: 'group_message', message: a });
    expect(s.gconvs[GID]?.items.map((m) => m.id)).toEqual([c.id, b.id, a.id]);
    expect([a, b, c].sort(compareGroupItems).map((m) => m.lamport)).toEqual([2, 5, 5]);
  });

  it('puts a system line before a message with the same (lamport, author), and replaces an item seen again', () => {
    const text = gm(BOB, 4);
    const line = gm(BOB, 4, { kind: 'system', text: '', change: 'removed', member: CAROL, id: 'f'.repeat(32) });
    let s = ev(withMe, { cmd: 'group_history', group: GID, messages: [line, text] });
    s = ev(s, { cmd: 'group_message', message: text });
    expect(s.gconvs[GID]?.items.map((m) => m.kind)).toEqual(['system', 'text']);
    // The member's leave arrives later: the same line becomes "left".
    s = ev(s, { cmd: 'group_message', message: { ...line, by: BOB, change: 'left' } });
    expect(s.gconvs[GID]?.items.map((m) => m.change ?? m.kind)).toEqual(['left', 'text']);
  });

  it('marks a live message inserted above one already shown, and only that one', () => {
    let s = ev(withMe, { cmd: 'group_history', group: GID, messages: [gm(BOB, 1), gm(CAROL, 4)] });
    s = ev(s, { cmd: 'group_message', message: gm(DAVE, 2) });
    s = ev(s, { cmd: 'group_message', message: gm(BOB, 6) });
    const items = s.gconvs[GID]?.items ?? [];
    expect(items.map((m) => [m.lamport, m.late === true])).toEqual([
      [1, false],
      [2, true],
      [4, false],
      [6, false],
    ]);
  });

  it('never marks what a page brings (a preview, then the page, or an older page)', () => {
    const last = gm(BOB, 9);
    let s = ev(withMe, { cmd: 'group_history', group: GID, messages: [last] });
    s = ev(s, { cmd: 'group_history', group: GID, messages: [gm(CAROL, 3), gm(DAVE, 7), last] });
    expect(s.gconvs[GID]?.items.some((m) => m.late)).toBe(false);
    expect(mergeGroupItems([], [gm(BOB, 1)], true)[0]?.late).toBeUndefined();
  });
});

describe('receipts', () => {
  it('"delivered to 2/3 · read by 1", read counting as delivered, names for the tooltip', () => {
    const g = group();
    let m = gm(ME.id, 3, { delivered: [], read: [] });
    m = withReceipt(m, BOB, 'delivered');
    m = withReceipt(m, CAROL, 'read');
    m = withReceipt(m, BOB, 'delivered');
    const name = (id: string) => ({ [BOB]: 'bob', [CAROL]: 'carol' })[id] ?? id;
    expect(receipts(m, g, ME.id, name)).toEqual({ text: 'delivered to 2/3 · read by 1', delivered: ['bob', 'carol'], read: ['carol'] });
  });

  it('says nothing when the node sends no receipts, or for others’ messages', () => {
    expect(receipts(gm(ME.id, 3), group(), ME.id, String)).toBeNull();
    expect(receipts(gm(BOB, 3, { delivered: [] }), group(), ME.id, String)).toBeNull();
  });

  it('a group_receipt event updates the held message', () => {
    const m = gm(ME.id, 3, { delivered: [], read: [] });
    let s = ev(withMe, { cmd: 'group_message', message: m });
    s = ev(s, { cmd: 'group_receipt', group: GID, message: m.id, member: DAVE, kind: 'read' });
    expect(s.gconvs[GID]?.items[0]).toMatchObject({ delivered: [DAVE], read: [DAVE] });
  });
});

describe('group list and phases', () => {
  it('counts members online from the live peer list, us included', () => {
    const peers = { [BOB]: peer(BOB, { online: false }), [CAROL]: peer(CAROL, { online: true }) };
    // The group's own copy says bob online, carol offline; the peer events are newer.
    expect(onlineCount(group(), peers, ME.id)).toEqual({ online: 2, total: 4 });
  });

  it('unread counts when present, invitations first', () => {
    let s = ev(withMe, {
      cmd: 'groups',
      groups: [group({ unread: 2 }), group({ id: '2'.repeat(32), name: 'dogs', phase: 'invited', members: [] })],
    });
    expect(totalUnread(s)).toBe(2);
    expect(sortedGroups(s).map((g) => g.name)).toEqual(['dogs', 'cats']);
    // Older nodes send no `unread`, `removed_by` or `known`: still a group.
    s = ev(s, { cmd: 'group', group: { id: GID, name: 'cats', owner: ME.id, phase: 'member', members: [], version: 2, created: 1 } });
    expect(s.groups[GID]).toMatchObject({ name: 'cats', known: [] });
    expect(s.groups[GID]?.unread).toBeUndefined();
  });

  it('says who removed us, and less when the node does not say', () => {
    const name = (id: string) => (id === BOB ? 'bob' : id);
    expect(phaseNotice(group({ phase: 'removed', removed_by: BOB }), name)).toBe('You were removed by bob');
    expect(phaseNotice(group({ phase: 'removed' }), name)).toBe('You were removed from this group');
    expect(phaseNotice(group({ phase: 'left' }), name)).toBe('You left this group');
    expect(phaseNotice(group(), name)).toBeNull();
  });

  it('system lines name who did what', () => {
    const name = (id: string) => (id === ME.id ? 'You' : id === BOB ? 'bob' : id === CAROL ? 'carol' : id);
    const sys = (change: GroupMessage['change'], over: Partial<GroupMessage> = {}) =>
      gm(BOB, 1, { kind: 'system', text: '', change, ...over });
    expect(systemText(sys('removed', { member: ME.id }), name)).toBe('bob removed you');
    expect(systemText(sys('added', { member: CAROL }), name)).toBe('bob added carol');
    expect(systemText(sys('renamed', { name: 'dogs' }), name)).toBe('bob renamed the group to “dogs”');
    const parsed = parseEvent(
      JSON.stringify({ cmd: 'group_message', message: { id: 'x', group: GID, kind: 'system', change: 'left', by: CAROL, version: 3, lamport: 4, ts: 5 } }),
    );
    expect(parsed?.cmd === 'group_message' && systemText(parsed.message, name)).toBe('carol left');
  });
});

describe('group controller', () => {
  beforeEach(() => FakeSocket.reset());
  afterEach(() => vi.useRealTimers());

  function setup() {
    const store = createStore();
    const client = new PurrClient({ url: 'ws://x/ws', factory });
    const ctl = new Controller(client, store, { visible: () => true, notify: vi.fn() });
    client.start();
    const sock = FakeSocket.last();
    sock.open();
    sock.receive({ cmd: 'me', ...ME });
    return { store, ctl, sock };
  }

  it('asks for groups on open, previews them, loads the opened one and sends group_read once', () => {
    const { store, ctl, sock } = setup();
    expect(sock.cmds()).toContainEqual({ cmd: 'groups' });
    sock.receive({ cmd: 'groups', groups: [group({ unread: 1 })] });
    expect(sock.cmds()).toContainEqual({ cmd: 'group_history', group: GID, limit: 1 });
    sock.sent = [];
    ctl.open(GID);
    expect(sock.cmds()).toEqual([{ cmd: 'group_history', group: GID, limit: 50 }]);
    // The preview's answer, then the page's (the node answers in order).
    const last = gm(BOB, 4);
    sock.receive({ cmd: 'group_history', group: GID, messages: [last] });
    sock.receive({ cmd: 'group_history', group: GID, messages: [gm(CAROL, 2), last] });
    expect(sock.cmds().filter((c) => c.cmd === 'group_read')).toEqual([{ cmd: 'group_read', group: GID, upto: last.id }]);
    expect(store.getState().groups[GID]?.unread).toBe(0);
    expect(store.getState().gconvs[GID]?.complete).toBe(true);
    // A node without group_read answers an error: nothing is shown.
    sock.receive({ cmd: 'error', error: 'unknown cmd `group_read`', request: 'group_read' });
    expect(store.getState().toast).toBeNull();
    // A new message from a member is read at once, since the group is open and shown.
    const next = gm(DAVE, 6);
    sock.receive({ cmd: 'group_message', message: next });
    expect(sock.cmds().filter((c) => c.cmd === 'group_read').at(-1)).toEqual({ cmd: 'group_read', group: GID, upto: next.id });
  });

  it('sends group_read again when the node still counts unread for the open group', () => {
    const { ctl, sock } = setup();
    sock.receive({ cmd: 'groups', groups: [group()] });
    ctl.open(GID);
    sock.receive({ cmd: 'group_history', group: GID, messages: [gm(BOB, 2)] });
    sock.receive({ cmd: 'group', group: group() });
    const reads = () => sock.cmds().filter((c) => c.cmd === 'group_read').length;
    expect(reads()).toBe(1);
    sock.receive({ cmd: 'group', group: group({ unread: 1 }) });
    expect(reads()).toBe(2);
  });

  it('a refused group_send gives the text back to its group', () => {
    const { store, ctl, sock } = setup();
    sock.receive({ cmd: 'groups', groups: [group()] });
    expect(ctl.sendToGroup(GID, 'hello')).toBe(true);
    sock.receive({ cmd: 'error', error: 'not a member', request: 'group_send' });
    expect(store.getState().gconvs[GID]?.failed).toMatchObject({ text: 'hello', error: 'not a member' });
  });
});

describe('group screens', () => {
  function app(groups: Group[]) {
    const r = renderWithApp(<App />);
    act(() => {
      r.sock.receive({ cmd: 'me', ...ME });
      r.sock.receive({ cmd: 'peers', peers: [peer(BOB, { verified: true }), peer(CAROL, { online: false })] });
      r.sock.receive({ cmd: 'groups', groups });
    });
    return r;
  }

  it('lists groups with "online/members", unread, and invitations with Accept and Decline', () => {
    const { sock } = app([
      group({ unread: 3 }),
      group({ id: '2'.repeat(32), name: 'dogs', owner: BOB, phase: 'invited', members: [] }),
    ]);
    const list = screen.getByRole('list', { name: 'Groups' });
    const cats = within(list).getByRole('button', { name: /^cats,/ });
    // alice (us) and bob online; carol offline by her peer state; dave not a peer, offline.
    expect(cats.textContent).toContain('2/4 online');
    expect(cats.querySelector('.badge')?.textContent).toBe('3');
    expect(within(list).getByText('Invitation from bob')).toBeTruthy();
    fireEvent.click(within(list).getByRole('button', { name: 'Accept' }));
    expect(sock.cmds()).toContainEqual({ cmd: 'group_accept', group: '2'.repeat(32) });
  });

  it('the New group dialog lists contacts with fingerprints and flags the unverified', () => {
    const { sock } = app([]);
    fireEvent.click(screen.getByRole('button', { name: /New group/ }));
    const dialog = screen.getByRole('dialog');
    expect(within(dialog).getAllByText('EEEEEEEE').length).toBe(2);
    expect(within(dialog).getByRole('checkbox', { name: 'carol, not verified' })).toBeTruthy();
    expect(within(dialog).getByRole('checkbox', { name: 'bob, verified' })).toBeTruthy();
    const create = within(dialog).getByRole('button', { name: 'Create group' }) as HTMLButtonElement;
    expect(create.disabled).toBe(true);
    fireEvent.change(within(dialog).getByRole('textbox'), { target: { value: 'cats' } });
    fireEvent.click(within(dialog).getByRole('checkbox', { name: 'carol, not verified' }));
    expect(within(dialog).getByText(/not verified: compare fingerprints/)).toBeTruthy();
    fireEvent.click(create);
    expect(sock.cmds()).toContainEqual({ cmd: 'group_create', name: 'cats', members: [CAROL] });
    // The node's `group` event closes the dialog and opens the group.
    act(() => sock.receive({ cmd: 'group', group: group() }));
    expect(screen.queryByRole('dialog')).toBeNull();
    expect(screen.getByRole('log', { name: 'Messages in cats' })).toBeTruthy();
  });

  it('removed: the banner names who, and the composer is off', () => {
    const { controller } = app([group({ phase: 'removed', removed_by: BOB, members: [] })]);
    act(() => controller.open(GID));
    expect(screen.getByText('You were removed by bob', { selector: '.group-notice' })).toBeTruthy();
    const box = screen.getByRole('textbox', { name: 'Message to cats' }) as HTMLTextAreaElement;
    expect(box.disabled).toBe(true);
    expect((screen.getByRole('button', { name: 'Send' }) as HTMLButtonElement).disabled).toBe(true);
  });

  it('a member sees authors, the owner marked in the roster, and receipts that open on tap', () => {
    const { sock, controller } = app([group({ owner: BOB })]);
    act(() => controller.open(GID));
    const mine = gm(ME.id, 3, { text: 'mine', delivered: [BOB], read: [BOB] });
    act(() => sock.receive({ cmd: 'group_history', group: GID, messages: [gm(BOB, 1, { text: 'from bob' }), mine] }));
    expect(screen.getByText('bob', { selector: '.msg-author' })).toBeTruthy();
    const r = screen.getByRole('button', { name: 'delivered to 1/3 · read by 1' });
    expect(r.getAttribute('title')).toContain('Read by: bob');
    fireEvent.click(r);
    expect(screen.getByText('Read: bob')).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'Members of cats' }));
    const panel = screen.getByRole('region', { name: 'Members of cats' });
    expect(within(panel).getByText('owner').closest('.member')?.getAttribute('data-member')).toBe(BOB);
    // Not the owner: no Remove, but Leave.
    expect(within(panel).queryByRole('button', { name: /Remove/ })).toBeNull();
    expect(within(panel).getByRole('button', { name: 'Leave group' })).toBeTruthy();
  });
});

describe('group notifications', () => {
  beforeEach(() => FakeSocket.reset());

  it('a member’s new message while the tab is hidden notifies once, named by author and group', () => {
    const store = createStore();
    const client = new PurrClient({ url: 'ws://x/ws', factory });
    const notify = vi.fn();
    new Controller(client, store, { visible: () => false, notify });
    client.start();
    const sock = FakeSocket.last();
    sock.open();
    sock.receive({ cmd: 'me', ...ME });
    sock.receive({ cmd: 'groups', groups: [group()] });
    const m = gm(BOB, 3, { text: 'psst' });
    sock.receive({ cmd: 'group_message', message: m });
    sock.receive({ cmd: 'group_message', message: m });
    sock.receive({ cmd: 'group_message', message: gm(ME.id, 4, { text: 'mine' }) });
    expect(notify).toHaveBeenCalledTimes(1);
    expect(notify).toHaveBeenCalledWith({ text: 'bob: psst', peer: GID }, 'cats');
  });
});
