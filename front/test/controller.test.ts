import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Message } from '../src/api';
import { Controller } from '../src/controller';
import { createStore } from '../src/store';
import { PurrClient } from '../src/ws';
import { FakeSocket, factory } from './fakeSocket';
import { BOB, CAROL, ME, msg, peer } from './fixtures';

function setup(visible = true) {
  const store = createStore();
  const client = new PurrClient({ url: 'ws://x/ws', factory });
  const env = { visible: vi.fn(() => visible), notify: vi.fn<(m: Message, name: string) => void>() };
  const ctl = new Controller(client, store, env);
  client.start();
  const sock = FakeSocket.last();
  sock.open();
  sock.receive({ cmd: 'me', ...ME });
  return { store, client, env, ctl, sock };
}

/** What was sent besides the greeting every socket starts with (`hello`, `files`, `groups`). */
const cmds = (s: FakeSocket) => s.cmds().filter((c) => c.cmd !== 'hello' && c.cmd !== 'files' && c.cmd !== 'groups');

describe('Controller', () => {
  beforeEach(() => {
    FakeSocket.reset();
    vi.useFakeTimers();
  });
  afterEach(() => vi.useRealTimers());

  it('fetches a one-message preview per peer after peers', () => {
    const { sock } = setup();
    sock.receive({ cmd: 'peers', peers: [peer(BOB), peer(CAROL)] });
    expect(cmds(sock)).toEqual([
      { cmd: 'history', peer: BOB, limit: 1 },
      { cmd: 'history', peer: CAROL, limit: 1 },
    ]);
    // A failed preview is silent.
    sock.receive({ cmd: 'error', error: 'not yet', request: 'history' });
    sock.receive({ cmd: 'error', error: 'not yet', request: 'history' });
  });

  it('opening a conversation loads the newest page and marks it read when visible', () => {
    const { sock, ctl, store } = setup(true);
    sock.receive({ cmd: 'peers', peers: [peer(BOB, { unread: 2 })] });
    sock.sent = [];
    ctl.open(BOB);
    expect(cmds(sock)).toEqual([
      { cmd: 'history', peer: BOB, limit: 50 },
      { cmd: 'read', peer: BOB },
    ]);
    expect(store.getState().peers[BOB]?.unread).toBe(0);
    expect(store.getState().open).toBe(BOB);
  });

  it('opening a nearby peer opens its session; an offline or online one does not ask', () => {
    const { sock, ctl } = setup(true);
    sock.receive({
      cmd: 'peers',
      peers: [peer(BOB, { online: false, presence: 'nearby', stranger: true, name: '' }), peer(CAROL)],
    });
    sock.sent = [];
    ctl.open(BOB);
    expect(cmds(sock)).toContainEqual({ cmd: 'open', peer: BOB });
    sock.sent = [];
    ctl.open(CAROL);
    expect(cmds(sock).some((c) => c.cmd === 'open')).toBe(false);
  });

  it('does not send read while the tab is hidden, and notifies instead', () => {
    const { sock, ctl, env } = setup(false);
    sock.receive({ cmd: 'peers', peers: [peer(BOB, { unread: 1 })] });
    ctl.open(BOB);
    sock.receive({ cmd: 'message', message: msg(BOB, 7, { id: 'n1', text: 'psst' }) });
    expect(cmds(sock).some((c) => c.cmd === 'read')).toBe(false);
    expect(env.notify).toHaveBeenCalledTimes(1);
    expect(env.notify.mock.calls[0]?.[1]).toBe('bob');
    // The same message again (committed) does not notify twice.
    sock.receive({ cmd: 'message', message: msg(BOB, 7, { id: 'n1', text: 'psst' }) });
    expect(env.notify).toHaveBeenCalledTimes(1);
  });

  it('sends read again when a message arrives in the open, visible conversation', () => {
    const { sock, ctl } = setup(true);
    sock.receive({ cmd: 'peers', peers: [peer(BOB)] });
    ctl.open(BOB);
    sock.sent = [];
    sock.receive({ cmd: 'message', message: msg(BOB, 8, { id: 'n2' }) });
    expect(cmds(sock)).toEqual([{ cmd: 'read', peer: BOB }]);
    // Own messages do not trigger read.
    sock.sent = [];
    sock.receive({ cmd: 'message', message: msg(BOB, 9, { id: 'n3', own: true }) });
    expect(cmds(sock)).toEqual([]);
  });

  it('pages backwards with before = the oldest loaded seq, one request at a time', () => {
    const { sock, ctl, store } = setup();
    sock.receive({ cmd: 'peers', peers: [peer(BOB)] });
    ctl.open(BOB);
    const page = Array.from({ length: 50 }, (_, i) => msg(BOB, 151 + i));
    sock.receive({ cmd: 'history', peer: BOB, messages: page });
    sock.sent = [];
    ctl.loadOlder(BOB);
    ctl.loadOlder(BOB);
    expect(cmds(sock).filter((c) => c.cmd === 'history')).toEqual([{ cmd: 'history', peer: BOB, before: 151, limit: 50 }]);
    sock.receive({ cmd: 'history', peer: BOB, messages: [msg(BOB, 150)] });
    expect(store.getState().convs[BOB]?.complete).toBe(true);
    ctl.loadOlder(BOB);
    expect(cmds(sock).filter((c) => c.cmd === 'history')).toHaveLength(1);
  });

  it('routes a history error to the conversation that asked', () => {
    const { sock, ctl, store } = setup();
    ctl.open(BOB);
    sock.receive({ cmd: 'error', error: 'not available', request: 'history' });
    expect(store.getState().convs[BOB]?.error).toBe('not available');
    expect(store.getState().convs[BOB]?.loading).toBe(false);
  });

  it('on reconnect says hello, then reloads the open conversation', () => {
    const { sock, ctl } = setup();
    ctl.open(BOB);
    sock.fail();
    vi.advanceTimersByTime(500);
    const next = FakeSocket.last();
    expect(next).not.toBe(sock);
    next.open();
    expect(next.cmds()).toEqual([{ cmd: 'hello' }, { cmd: 'files' }, { cmd: 'groups' }, { cmd: 'history', peer: BOB, limit: 50 }]);
  });

  it('a refused send gives its text back to the conversation', () => {
    const { sock, ctl, store } = setup();
    expect(ctl.send(BOB, 'one')).toBe(true);
    expect(ctl.send(CAROL, 'two')).toBe(true);
    sock.receive({ cmd: 'message', message: msg(BOB, 0, { own: true, text: 'one' }) });
    sock.receive({ cmd: 'error', error: 'unknown peer', request: 'send' });
    expect(store.getState().convs[CAROL]?.failed).toMatchObject({ text: 'two', error: 'unknown peer' });
    expect(store.getState().convs[BOB]?.failed ?? null).toBeNull();
  });

  it('rejects user actions while disconnected', () => {
    const { sock, ctl, store } = setup();
    sock.fail();
    expect(ctl.send(BOB, 'x')).toBe(false);
    expect(ctl.rename('y')).toBe(false);
    expect(ctl.connect('h:1')).toBe(false);
    expect(ctl.verify(BOB, true)).toBe(false);
    expect(store.getState().rename.pending).toBe(false);
  });

  it('connect and rename errors land in their forms', () => {
    const { sock, ctl, store } = setup();
    ctl.connect('127.0.0.1:9');
    sock.receive({ cmd: 'error', error: '`connect` is not available', request: 'connect' });
    expect(store.getState().connect.error).toBe('`connect` is not available');
    ctl.rename('');
    sock.receive({ cmd: 'error', error: 'empty name', request: 'rename' });
    expect(store.getState().rename.error).toBe('empty name');
  });
});
