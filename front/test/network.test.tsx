// The Network page (issue 20): verdicts as words and colours with their next step, the
// facts behind them, refresh by button and every 5 s only while the tab is visible, and
// the path of each online peer in the list and the conversation header.

import { act, fireEvent, screen, within } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { App } from '../src/components/App';
import { ConversationHeader } from '../src/components/ConversationHeader';
import { FailingTargets, TARGETS_REFRESH_MS } from '../src/components/ConnectForm';
import { CheckLine, DiagView } from '../src/components/DiagView';
import { NetworkPage, REFRESH_MS } from '../src/components/NetworkPage';
import type { Check, DiagReport } from '../src/lib/diag';
import { initialState } from '../src/state';
import { BOB, CAROL, ME, peer } from './fixtures';
import { renderWithApp } from './render';

function report(over: Partial<DiagReport> = {}): DiagReport {
  return {
    node: { running: true, id: ME.id, name: 'alice', listen: '[::]:35035', port: 35035, discovery: true, beacon_interval_s: 5, uptime_s: 120 },
    interfaces: [
      { name: 'eth0', kind: 'ethernet', up: true, multicast: true, addrs: ['192.168.1.20'], used: true, beacons_sent: 48, send_errors: 2, last_error: 'Network is unreachable', last_error_s_ago: 30 },
      { name: 'tailscale0', kind: 'vpn', up: true, multicast: false, addrs: ['100.101.1.2'], used: false, beacons_sent: 0, send_errors: 0, last_error: null, last_error_s_ago: null },
    ],
    beacons: { sending_for_s: 120, sent: 48, heard: [{ id: BOB, iface: 'eth0', addr: '192.168.1.31:35035', count: 24, first_s_ago: 118, last_s_ago: 3 }] },
    targets: [],
    contacts: [
      {
        id: BOB,
        name: 'bob',
        online: true,
        path: '192.168.1.31:35035',
        route: 'LAN 192.168.1.31',
        addrs: [{ addr: '192.168.1.31:35035', source: 'beacon', s_ago: 3 }],
        backoff_s: null,
        attempts: [],
        outbox: 0,
      },
      {
        id: CAROL,
        name: 'carol',
        online: false,
        path: null,
        addrs: [{ addr: '10.0.0.7:35035', source: 'manual', s_ago: 600 }],
        backoff_s: 40,
        attempts: [{ target: '10.0.0.7:35035', s_ago: 20, outcome: 'refused', reason: 'connection refused' }],
        outbox: 2,
      },
    ],
    host: { data_dir: '/home/alice/.local/share/purr', exists: true, writable: true, free_bytes: 44_236_247_040, db_bytes: 1_258_291, wal_bytes: 98_304, outbox: 2 },
    checks: [
      { verdict: 'OK', area: 'node', subject: '', says: 'running as "alice", listening on [::]:35035', next: null },
      { verdict: 'WARN', area: 'interface', subject: 'tailscale0', says: 'VPN without multicast', next: 'connect by address: purr --connect HOST:PORT' },
      { verdict: 'FAIL', area: 'contact', subject: 'carol (cccccccc)', says: 'offline: connection refused', next: 'check that carol runs purr' },
    ],
    ...over,
  };
}

const answer = (body: unknown, status = 200): Response => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

describe('verdicts', () => {
  it('say OK, WARN and FAIL in words inside a coloured badge, with the next step', () => {
    const checks: Check[] = report().checks;
    for (const c of checks) {
      const { container, unmount } = renderWithApp(
        <ul>
          <CheckLine check={c} />
        </ul>,
      );
      const line = container.querySelector('li.check');
      expect(line?.className).toContain(`check-${c.verdict.toLowerCase()}`);
      // The word is there: the colour never stands alone.
      expect(line?.querySelector('.verdict')?.textContent).toBe(c.verdict);
      expect(line?.textContent).toContain(c.says);
      const next = line?.querySelector('.check-next');
      if (c.next) expect(next?.textContent).toBe(`Next: ${c.next}`);
      else expect(next).toBeNull();
      unmount();
    }
  });

  it('shows the facts: tally, interfaces with beacons and errors, beacons heard, each contact', () => {
    const peers = { [BOB]: peer(BOB) };
    renderWithApp(<DiagView report={report()} peers={peers} />);
    expect(screen.getByText('1 FAIL, 1 WARN, 1 OK')).toBeTruthy();
    const ifaces = screen.getByRole('region', { name: 'Interfaces' });
    expect(ifaces.textContent).toContain('48 sent, 2 send errors (last: Network is unreachable, 30 s ago)');
    expect(ifaces.textContent).toContain('no multicast');
    const heard = screen.getByRole('region', { name: 'Beacons heard' });
    expect(heard.textContent).toContain('bob');
    expect(heard.textContent).toContain('192.168.1.31:35035: 24 heard, about every 5 s, last 3 s ago');
    const contacts = screen.getByRole('region', { name: 'Contacts' });
    expect(contacts.textContent).toContain('Path: LAN 192.168.1.31 (192.168.1.31:35035)');
    const carol = within(contacts).getByRole('list', { name: 'Addresses of carol' });
    expect(carol.textContent).toContain('10.0.0.7:35035 from manual, 10 min ago');
    expect(contacts.textContent).toContain('Next try in 40 s.');
    expect(contacts.textContent).toContain('Last dial: connection refused (20 s ago)');
    expect(contacts.textContent).toContain('2 waiting');
  });

  it('shows what each online contact found dialling us back, and its clock', () => {
    const [first, carol] = report().contacts;
    if (!first || !carol) throw new Error('the fixture has bob and carol');
    const bob = {
      ...first,
      reach: [
        { addr: '192.168.1.20:35035', outcome: 'ok', ms: 2, s_ago: 40 },
        { addr: '[fd00::1]:35035', outcome: 'timed_out', ms: 3001, s_ago: 40 },
      ],
      clock_skew_ms: -303_000,
    };
    renderWithApp(<DiagView report={report({ contacts: [bob, carol] })} peers={{ [BOB]: peer(BOB) }} />);
    const back = screen.getByRole('list', { name: 'bob dialling you back' });
    const lines = within(back).getAllByRole('listitem').map((l) => l.textContent);
    expect(lines[0]).toBe('Dialling you back on 192.168.1.20:35035, bob reached you in 2 ms (40 s ago)');
    expect(lines[1]).toBe('Dialling you back on [fd00::1]:35035, bob timed out (40 s ago)');
    const contacts = screen.getByRole('region', { name: 'Contacts' });
    expect(contacts.textContent).toContain('Clock: 5 min behind ours');
    // An older node sends neither: nothing is shown.
    expect(screen.queryByRole('list', { name: 'carol dialling you back' })).toBeNull();
  });
});

describe('the Network page', () => {
  it('fetches /api/v1/diag with the cookie, refreshes by its button and every 5 s while visible', async () => {
    vi.useFakeTimers();
    const fetcher = vi.fn(async () => answer(report()));
    renderWithApp(<NetworkPage state={initialState} onMenu={() => {}} onClose={() => {}} fetcher={fetcher as unknown as typeof fetch} />);
    await act(async () => {
      await vi.advanceTimersByTimeAsync(0);
    });
    expect(fetcher).toHaveBeenCalledTimes(1);
    expect(fetcher).toHaveBeenCalledWith('/api/v1/diag', { credentials: 'same-origin', cache: 'no-store' });
    expect(screen.getByText(/running as "alice"/)).toBeTruthy();

    fireEvent.click(screen.getByRole('button', { name: 'Refresh' }));
    await act(async () => {
      await vi.advanceTimersByTimeAsync(0);
    });
    expect(fetcher).toHaveBeenCalledTimes(2);

    await act(async () => {
      await vi.advanceTimersByTimeAsync(REFRESH_MS);
    });
    expect(fetcher).toHaveBeenCalledTimes(3);

    // A hidden tab is not polled.
    const hidden = vi.spyOn(document, 'visibilityState', 'get').mockReturnValue('hidden');
    await act(async () => {
      await vi.advanceTimersByTimeAsync(3 * REFRESH_MS);
    });
    expect(fetcher).toHaveBeenCalledTimes(3);
    hidden.mockRestore();
    await act(async () => {
      await vi.advanceTimersByTimeAsync(REFRESH_MS);
    });
    expect(fetcher).toHaveBeenCalledTimes(4);
  });

  it('keeps the last report when a refresh fails, and says why', async () => {
    const fetcher = vi.fn(async () => answer(report()));
    renderWithApp(<NetworkPage state={initialState} onMenu={() => {}} onClose={() => {}} fetcher={fetcher as unknown as typeof fetch} />);
    expect(await screen.findByText(/running as "alice"/)).toBeTruthy();
    fetcher.mockImplementation(async () => answer({ error: 'no' }, 401));
    fireEvent.click(screen.getByRole('button', { name: 'Refresh' }));
    expect((await screen.findByRole('alert')).textContent).toMatch(/no longer signed in/);
    expect(screen.getByText(/running as "alice"/)).toBeTruthy();
  });

  it('opens from the "me" screen and closes when a conversation is picked', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => answer(report())));
    const { sock } = renderWithApp(<App />);
    act(() => {
      sock.receive({ cmd: 'me', ...ME });
      sock.receive({ cmd: 'peers', peers: [peer(BOB)] });
    });
    fireEvent.click(screen.getByRole('button', { name: 'Network' }));
    expect(screen.getByRole('heading', { name: 'Network' })).toBeTruthy();
    expect(await screen.findByText(/running as "alice"/)).toBeTruthy();
    fireEvent.click(screen.getByRole('option', { name: /^bob,/ }));
    expect(screen.queryByRole('heading', { name: 'Network' })).toBeNull();
  });
});

describe('the path of a peer', () => {
  it('is shown in the conversation header and the peer list while online', () => {
    const bob = peer(BOB, { path: 'VPN tailscale0 100.101.1.2' });
    renderWithApp(<ConversationHeader peer={bob} onMenu={() => {}} safetyOpen={false} onToggleSafety={() => {}} />);
    expect(screen.getByText(/online/).textContent).toBe('online · VPN tailscale0 100.101.1.2');
  });

  it('is in the list entry of an online peer', () => {
    const { sock } = renderWithApp(<App />);
    act(() => {
      sock.receive({ cmd: 'me', ...ME });
      sock.receive({ cmd: 'peers', peers: [peer(BOB, { path: 'loopback 127.0.0.1' }), peer(CAROL, { online: false, path: null })] });
    });
    const bob = screen.getByRole('option', { name: /^bob,/ });
    expect(bob.getAttribute('aria-label')).toContain('online via loopback 127.0.0.1');
    expect(bob.textContent).toContain('online · loopback 127.0.0.1');
    expect(screen.getByRole('option', { name: /^carol,/ }).getAttribute('aria-label')).not.toContain('via');
  });
});

describe('the connect form', () => {
  const targets: DiagReport['targets'] = [
    { target: '10.0.0.9:35035', owner: BOB, online: true, backoff_s: null, attempts: [] },
    {
      target: '10.0.0.7:35035',
      owner: null,
      online: false,
      backoff_s: 8,
      attempts: [{ target: '10.0.0.7:35035', s_ago: 6, outcome: 'refused', reason: 'connection refused' }],
    },
  ];

  it('lists the configured addresses that are not connected, with the last reason and the next try', async () => {
    vi.useFakeTimers();
    const fetcher = vi.fn(async () => answer(report({ targets })));
    renderWithApp(<FailingTargets fetcher={fetcher as unknown as typeof fetch} />);
    await act(async () => {
      await vi.advanceTimersByTimeAsync(0);
    });
    const list = screen.getByRole('heading', { name: 'Addresses you gave that are not connected' }).parentElement;
    expect(list?.textContent).toContain('10.0.0.7:35035: connection refused (6 s ago); next try in 8 s');
    // The connected one is not listed.
    expect(list?.textContent).not.toContain('10.0.0.9');

    // Asked again later: once it connects, the list goes.
    fetcher.mockImplementation(async () => answer(report({ targets: targets.map((t) => ({ ...t, online: true })) })));
    await act(async () => {
      await vi.advanceTimersByTimeAsync(TARGETS_REFRESH_MS);
    });
    expect(fetcher).toHaveBeenCalledTimes(2);
    expect(screen.queryByRole('heading', { name: 'Addresses you gave that are not connected' })).toBeNull();
  });

  it('shows nothing when every address is connected or the report cannot be had', async () => {
    const ok = vi.fn(async () => answer(report({ targets: targets.slice(0, 1) })));
    const { container, unmount } = renderWithApp(<FailingTargets fetcher={ok as unknown as typeof fetch} />);
    await act(async () => {});
    expect(ok).toHaveBeenCalledTimes(1);
    expect(container.textContent).toBe('');
    unmount();
    const down = vi.fn(async () => answer({}, 503));
    const again = renderWithApp(<FailingTargets fetcher={down as unknown as typeof fetch} />);
    await act(async () => {});
    expect(down).toHaveBeenCalledTimes(1);
    expect(again.container.textContent).toBe('');
  });
});

describe('a nearby peer (issue 21)', () => {
  it('is listed as nearby, by the start of its id when no name came, and opening it opens its session', () => {
    const { sock } = renderWithApp(<App />);
    act(() => {
      sock.receive({ cmd: 'me', ...ME });
      sock.receive({
        cmd: 'peers',
        peers: [peer(BOB, { online: false, presence: 'nearby', stranger: true, name: '' }), peer(CAROL, { online: false })],
      });
    });
    const near = screen.getByRole('option', { name: new RegExp(`^${BOB.slice(0, 8)},`) });
    expect(near.getAttribute('aria-label')).toContain('nearby');
    expect(near.textContent).toContain('stranger · nearby');
    expect(near.className).toContain('nearby');
    expect(screen.getByRole('option', { name: /^carol,/ }).getAttribute('aria-label')).toContain('offline');
    sock.sent = [];
    fireEvent.click(near);
    expect(sock.cmds()).toContainEqual({ cmd: 'open', peer: BOB });
  });
});
