import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ServerEvent } from '../src/api';
import { type ConnInfo, PurrClient } from '../src/ws';
import { FakeSocket, factory } from './fakeSocket';
import { ME } from './fixtures';

function client(): PurrClient {
  return new PurrClient({ url: 'ws://127.0.0.1:1/ws', factory });
}

describe('PurrClient', () => {
  beforeEach(() => {
    FakeSocket.reset();
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('connects to the given url and sends hello on open', () => {
    const c = client();
    c.start();
    expect(FakeSocket.all).toHaveLength(1);
    expect(FakeSocket.last().url).toBe('ws://127.0.0.1:1/ws');
    expect(c.conn.phase).toBe('connecting');
    FakeSocket.last().open();
    expect(FakeSocket.last().cmds()).toEqual([{ cmd: 'hello' }]);
    expect(c.conn.phase).toBe('open');
    expect(c.isOpen).toBe(true);
  });

  it('start is idempotent', () => {
    const c = client();
    c.start();
    c.start();
    expect(FakeSocket.all).toHaveLength(1);
  });

  it('reconnects with a doubling backoff from 0.5 s capped at 10 s', () => {
    const c = client();
    c.start();
    const waits = [500, 1000, 2000, 4000, 8000, 10000, 10000];
    for (const [i, wait] of waits.entries()) {
      FakeSocket.last().fail();
      expect(c.conn.phase).toBe('reconnecting');
      expect(c.conn.failedOpens).toBe(i + 1);
      vi.advanceTimersByTime(wait - 1);
      expect(FakeSocket.all).toHaveLength(i + 1);
      vi.advanceTimersByTime(1);
      expect(FakeSocket.all).toHaveLength(i + 2);
    }
  });

  it('resets the backoff after a successful open and says hello on every open', () => {
    const c = client();
    c.start();
    FakeSocket.last().fail(); // wait 500
    vi.advanceTimersByTime(500);
    FakeSocket.last().fail(); // wait 1000
    vi.advanceTimersByTime(1000);
    FakeSocket.last().open();
    expect(c.conn.failedOpens).toBe(0);
    FakeSocket.last().fail(); // dropped after opening: back to 500
    expect(c.conn.failedOpens).toBe(0);
    vi.advanceTimersByTime(499);
    expect(FakeSocket.all).toHaveLength(3);
    vi.advanceTimersByTime(1);
    expect(FakeSocket.all).toHaveLength(4);
    FakeSocket.last().open();
    for (const s of FakeSocket.all.filter((s) => s.sent.length > 0)) {
      expect(s.cmds()[0]).toEqual({ cmd: 'hello' });
    }
    expect(FakeSocket.all.filter((s) => s.sent.length > 0)).toHaveLength(2);
  });

  it('reports connection phases to listeners, open after hello went out', () => {
    const c = client();
    const phases: ConnInfo['phase'][] = [];
    c.onConn((i) => {
      phases.push(i.phase);
      if (i.phase === 'open') expect(FakeSocket.last().cmds()).toEqual([{ cmd: 'hello' }]);
    });
    c.start();
    FakeSocket.last().fail();
    vi.advanceTimersByTime(500);
    FakeSocket.last().open();
    expect(phases).toEqual(['connecting', 'reconnecting', 'reconnecting', 'open']);
  });

  it('dispatches parsed events to every listener and drops bad frames', () => {
    const c = client();
    const a: ServerEvent[] = [];
    const b: ServerEvent[] = [];
    c.onEvent((e) => a.push(e));
    const off = c.onEvent((e) => b.push(e));
    c.start();
    const s = FakeSocket.last();
    s.open();
    s.receive({ cmd: 'me', ...ME });
    s.receive('not json');
    s.receive({ cmd: 'nope' });
    s.receive({ cmd: 'peers', peers: 'x' });
    off();
    s.receive({ cmd: 'error', error: 'boom', request: 'connect' });
    expect(a).toEqual([
      { cmd: 'me', ...ME },
      { cmd: 'error', error: 'boom', request: 'connect' },
    ]);
    expect(b).toEqual([{ cmd: 'me', ...ME }]);
  });

  it('rejects sends while disconnected and never sends them later', () => {
    const c = client();
    expect(c.send({ cmd: 'peers' })).toBe(false);
    c.start();
    expect(c.send({ cmd: 'rename', name: 'x' })).toBe(false);
    FakeSocket.last().open();
    expect(c.send({ cmd: 'peers' })).toBe(true);
    FakeSocket.last().fail();
    expect(c.send({ cmd: 'send', to: 'b', text: 'hi' })).toBe(false);
    vi.advanceTimersByTime(500);
    FakeSocket.last().open();
    expect(FakeSocket.all[0]?.cmds()).toEqual([{ cmd: 'hello' }, { cmd: 'peers' }]);
    expect(FakeSocket.last().cmds()).toEqual([{ cmd: 'hello' }]);
  });

  it('ignores events from a replaced socket', () => {
    const c = client();
    const got: ServerEvent[] = [];
    c.onEvent((e) => got.push(e));
    c.start();
    const old = FakeSocket.last();
    old.open();
    const onmessage = old.onmessage;
    old.fail();
    vi.advanceTimersByTime(500);
    onmessage?.(new MessageEvent('message', { data: JSON.stringify({ cmd: 'peers', peers: [] }) }));
    expect(got).toEqual([]);
  });

  it('stop closes the socket and cancels the reconnect', () => {
    const c = client();
    c.start();
    FakeSocket.last().fail();
    c.stop();
    vi.advanceTimersByTime(60_000);
    expect(FakeSocket.all).toHaveLength(1);
    expect(c.conn.phase).toBe('stopped');
    c.start();
    FakeSocket.last().open();
    c.stop();
    expect(FakeSocket.last().closed).toBe(true);
  });

  it('retryNow skips the backoff wait', () => {
    const c = client();
    c.start();
    for (let i = 0; i < 5; i++) {
      FakeSocket.last().fail();
      vi.runOnlyPendingTimers();
    }
    FakeSocket.last().fail();
    expect(FakeSocket.all).toHaveLength(6);
    c.retryNow();
    expect(FakeSocket.all).toHaveLength(7);
    vi.advanceTimersByTime(60_000);
    expect(FakeSocket.all).toHaveLength(7);
  });

  it('keeps reconnecting when the constructor itself throws', () => {
    let n = 0;
    const c = new PurrClient({
      url: 'ws://x/ws',
      factory: (url) => {
        n++;
        if (n === 1) throw new Error('SecurityError');
        return factory(url);
      },
    });
    c.start();
    expect(c.conn.phase).toBe('reconnecting');
    vi.advanceTimersByTime(500);
    expect(FakeSocket.all).toHaveLength(1);
  });
});
