import { act, fireEvent, screen, within } from '@testing-library/react';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { App } from '../src/components/App';
import { Composer } from '../src/components/Composer';
import { MessageBubble } from '../src/components/MessageBubble';
import { useAppState } from '../src/context';
import { BOB, CAROL, ME, msg, peer } from './fixtures';
import { FakeSocket } from './fakeSocket';
import { renderWithApp } from './render';

describe('message text', () => {
  it('renders HTML-looking text as text, never as markup', () => {
    const text = 'look <script>alert(1)</script> and <b>x</b> <img src=x onerror=alert(2)>';
    const { container } = renderWithApp(<MessageBubble message={msg(BOB, 1, { text })} first last />);
    expect(container.querySelector('script')).toBeNull();
    expect(container.querySelector('b')).toBeNull();
    expect(container.querySelector('img')).toBeNull();
    expect(container.querySelector('.text')?.textContent).toBe(text);
    expect(screen.getByText(/<script>alert\(1\)<\/script>/)).toBeTruthy();
  });

  it('makes http(s) links clickable, in a new tab, without opener or referrer', () => {
    const text = 'see https://example.org/a?b=1. or (www.example.com) but not javascript:alert(1)';
    const { container } = renderWithApp(<MessageBubble message={msg(BOB, 1, { text })} first last />);
    const links = [...container.querySelectorAll('a')];
    expect(links.map((a) => a.getAttribute('href'))).toEqual(['https://example.org/a?b=1', 'https://www.example.com']);
    for (const a of links) {
      expect(a.getAttribute('target')).toBe('_blank');
      expect(a.getAttribute('rel')).toBe('noopener noreferrer');
    }
    expect(container.querySelector('.text')?.textContent).toBe(text);
  });

  it('shows ticks for own messages: ✓ pending, ✓✓ delivered, coloured ✓✓ read', () => {
    for (const status of ['pending', 'delivered', 'read'] as const) {
      const { container, unmount } = renderWithApp(
        <MessageBubble message={msg(BOB, 1, { own: true, status })} first last />,
      );
      const ticks = container.querySelector('.ticks');
      expect(ticks?.className).toContain(`ticks-${status}`);
      expect(ticks?.querySelectorAll('path')).toHaveLength(status === 'pending' ? 1 : 2);
      unmount();
    }
    const { container } = renderWithApp(<MessageBubble message={msg(BOB, 1)} first last />);
    expect(container.querySelector('.ticks')).toBeNull();
  });

  it('no source file uses dangerouslySetInnerHTML or innerHTML', () => {
    const walk = (d: string): string[] =>
      readdirSync(d).flatMap((f) => (statSync(join(d, f)).isDirectory() ? walk(join(d, f)) : [join(d, f)]));
    for (const f of walk(join(__dirname, '../src'))) {
      const src = readFileSync(f, 'utf8');
      expect(src, f).not.toMatch(/dangerouslySetInnerHTML|innerHTML/);
    }
  });
});

function ComposerHarness({ connected = true }: { connected?: boolean }) {
  const s = useAppState();
  return <Composer peer={peer(BOB)} connected={connected} failed={s.convs[BOB]?.failed ?? null} />;
}

describe('composer', () => {
  it('Enter sends, Shift+Enter does not', () => {
    const { sock } = renderWithApp(<ComposerHarness />);
    const box = screen.getByRole('textbox', { name: 'Message to bob' }) as HTMLTextAreaElement;
    fireEvent.change(box, { target: { value: 'hello\n' } });
    fireEvent.keyDown(box, { key: 'Enter', shiftKey: true });
    expect(sock.cmds().filter((c) => c.cmd === 'send')).toEqual([]);
    fireEvent.keyDown(box, { key: 'Enter' });
    expect(sock.cmds().filter((c) => c.cmd === 'send')).toEqual([{ cmd: 'send', to: BOB, text: 'hello' }]);
    expect(box.value).toBe('');
  });

  it('does not send blank text', () => {
    const { sock } = renderWithApp(<ComposerHarness />);
    const box = screen.getByRole('textbox');
    fireEvent.change(box, { target: { value: ' \n\n ' } });
    fireEvent.keyDown(box, { key: 'Enter' });
    expect(sock.cmds().filter((c) => c.cmd === 'send')).toEqual([]);
  });

  it('shows the byte counter from 90% and refuses past 65536 bytes', () => {
    const { sock } = renderWithApp(<ComposerHarness />);
    const box = screen.getByRole('textbox');
    const send = screen.getByRole('button', { name: 'Send' }) as HTMLButtonElement;
    fireEvent.change(box, { target: { value: 'x'.repeat(50_000) } });
    expect(screen.queryByText(/bytes/)).toBeNull();
    // 'é' is 2 bytes in UTF-8: 29 500 of them are 59 000 bytes (over 90%).
    fireEvent.change(box, { target: { value: 'é'.repeat(29_500) } });
    expect(screen.getByText(/59,000 \/ 65,536 bytes|59.000 \/ 65.536 bytes|59 000/)).toBeTruthy();
    expect(send.disabled).toBe(false);
    fireEvent.change(box, { target: { value: '😀'.repeat(16_384) } }); // exactly 65536 bytes
    expect(send.disabled).toBe(false);
    fireEvent.change(box, { target: { value: `${'😀'.repeat(16_384)}a` } });
    expect(send.disabled).toBe(true);
    expect(screen.getByText(/too many to send/)).toBeTruthy();
    fireEvent.keyDown(box, { key: 'Enter' });
    expect(sock.cmds().filter((c) => c.cmd === 'send')).toEqual([]);
  });

  it('keeps the draft while disconnected', () => {
    const { sock } = renderWithApp(<ComposerHarness connected={false} />, { open: false });
    const box = screen.getByRole('textbox') as HTMLTextAreaElement;
    fireEvent.change(box, { target: { value: 'later' } });
    fireEvent.keyDown(box, { key: 'Enter' });
    expect(box.value).toBe('later');
    expect(screen.getByText(/kept here/)).toBeTruthy();
    expect(sock.sent).toEqual([]);
  });
});

describe('app', () => {
  it('shows the empty state, me panel and title', () => {
    const { sock } = renderWithApp(<App />);
    act(() => {
      sock.receive({ cmd: 'me', ...ME });
      sock.receive({ cmd: 'peers', peers: [] });
    });
    expect(screen.getByText(/No peers yet — purr finds peers on your LAN automatically, or connect by address/)).toBeTruthy();
    expect(screen.getAllByText('alice').length).toBeGreaterThan(0);
    expect(screen.getAllByText('AAAAAAAA').length).toBeGreaterThan(0);
    expect(document.title).toBe('purr');
  });

  it('does not promise discovery when the node has it off', () => {
    const { sock } = renderWithApp(<App />);
    act(() => {
      sock.receive({ cmd: 'me', ...ME, discovery: false });
      sock.receive({ cmd: 'peers', peers: [] });
    });
    expect(screen.getByText(/discovery is off on this node: connect by address/)).toBeTruthy();
    expect(screen.queryByText(/finds peers on your LAN automatically/)).toBeNull();
  });

  it('lists peers in a listbox with unread badges, and the title counts unread', () => {
    const { sock } = renderWithApp(<App />);
    act(() => {
      sock.receive({ cmd: 'me', ...ME });
      sock.receive({
        cmd: 'peers',
        peers: [peer(BOB, { unread: 2, last_seen: 10 }), peer(CAROL, { unread: 1, online: false, last_seen: 20 })],
      });
    });
    const list = screen.getByRole('listbox', { name: 'Peers' });
    const options = within(list).getAllByRole('option');
    expect(options.map((o) => o.getAttribute('aria-label')?.split(',')[0])).toEqual(['carol', 'bob']);
    expect(document.title).toBe('(3) purr');
    fireEvent.change(screen.getByRole('searchbox'), { target: { value: 'bo' } });
    expect(within(list).getAllByRole('option')).toHaveLength(1);
  });

  it('keyboard: arrows move, Enter opens a conversation with a role=log', () => {
    const { sock } = renderWithApp(<App />);
    act(() => {
      sock.receive({ cmd: 'me', ...ME });
      sock.receive({ cmd: 'peers', peers: [peer(BOB, { last_seen: 20 }), peer(CAROL, { last_seen: 10, online: false })] });
    });
    const list = screen.getByRole('listbox');
    list.focus();
    fireEvent.keyDown(list, { key: 'ArrowDown' });
    expect(list.getAttribute('aria-activedescendant')).toBe(`peer-${CAROL}`);
    fireEvent.keyDown(list, { key: 'Enter' });
    expect(screen.getByRole('log', { name: 'Messages with carol' })).toBeTruthy();
    expect(screen.getByText(/carol is offline — messages will be delivered when they’re back/)).toBeTruthy();
    expect(sock.cmds()).toContainEqual({ cmd: 'history', peer: CAROL, limit: 50 });
  });

  it('warns about a name conflict and shows the fingerprint in the header', () => {
    const { sock, controller } = renderWithApp(<App />);
    act(() => {
      sock.receive({ cmd: 'me', ...ME });
      sock.receive({ cmd: 'peers', peers: [peer(BOB, { name_conflict: true })] });
      controller.open(BOB);
    });
    expect(screen.getByText(/Another contact also calls itself “bob” — compare fingerprints/)).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: /Fingerprint and verification of bob/ }));
    const sw = screen.getByRole('switch');
    fireEvent.click(sw);
    expect(sock.cmds()).toContainEqual({ cmd: 'verify', peer: BOB, verified: true });
  });

  it('renders day separators and messages in seq order', () => {
    const { sock, controller } = renderWithApp(<App />);
    const day = 86_400_000;
    act(() => {
      sock.receive({ cmd: 'me', ...ME });
      sock.receive({ cmd: 'peers', peers: [peer(BOB)] });
      controller.open(BOB);
      sock.receive({
        cmd: 'history',
        peer: BOB,
        messages: [msg(BOB, 2, { text: 'second', ts: Date.now() }), msg(BOB, 1, { text: 'first', ts: Date.now() - 3 * day })],
      });
    });
    const log = screen.getByRole('log');
    const text = log.textContent ?? '';
    expect(text.indexOf('first')).toBeLessThan(text.indexOf('second'));
    expect(within(log).getAllByRole('separator').map((s) => s.textContent)).toContain('Today');
  });
});

describe('connection banner', () => {
  it('says reconnecting, and after repeated failures that the browser lacks the token', async () => {
    const fetchMock = vi.fn(async () => new Response('unauthorized', { status: 401 }));
    vi.stubGlobal('fetch', fetchMock);
    try {
      const { client } = renderWithApp(<App />, { open: false });
      for (let i = 0; i < 3; i++) {
        act(() => {
          FakeSocket.last().fail();
          client.retryNow();
        });
      }
      act(() => FakeSocket.last().fail());
      expect(screen.getByText(/Reconnecting…/)).toBeTruthy();
      expect(await screen.findByText(/not signed in to the node/)).toBeTruthy();
      expect(fetchMock).toHaveBeenCalledWith('/api/v1/me', expect.anything());
      act(() => {
        client.retryNow();
        FakeSocket.last().open();
      });
      expect(screen.queryByText(/Reconnecting…/)).toBeNull();
    } finally {
      vi.unstubAllGlobals();
    }
  });
});
