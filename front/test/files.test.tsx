import { act, cleanup, fireEvent, screen } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type ServerEvent, type Transfer, parseEvent } from '../src/api';
import { Composer } from '../src/components/Composer';
import { FileBubble, fileStatus } from '../src/components/FileBubble';
import { rows } from '../src/components/MessageList';
import { Controller } from '../src/controller';
import type { Uploader } from '../src/files';
import { peerFiles, peerUploads } from '../src/selectors';
import { type Action, type AppState, type FileItem, initialState, reducer, secondsLeft } from '../src/state';
import { createStore } from '../src/store';
import { PurrClient } from '../src/ws';
import { FakeSocket, factory } from './fakeSocket';
import { BOB, CAROL, msg, peer } from './fixtures';
import { renderWithApp } from './render';

const T0 = 1_700_000_000_000;

function transfer(over: Partial<Transfer> = {}): Transfer {
  return {
    id: 'f'.repeat(32),
    peer: BOB,
    direction: 'out',
    name: 'cat.png',
    size: 10_000_000,
    mime: 'image/png',
    thumb: false,
    created: T0,
    state: 'sending',
    bytes: 0,
    content: false,
    pausedByUser: false,
    ...over,
  };
}

const ev = (event: ServerEvent): Action => ({ type: 'event', event });
const item = (t: Transfer, rate: number | null = null): FileItem => ({ t, rate, at: T0 });

afterEach(() => vi.useRealTimers());

describe('file events', () => {
  it('parses file and files, dropping bad transfers and clamping bytes', () => {
    const good = { ...transfer(), bytes: 1e12 };
    expect(parseEvent(JSON.stringify({ cmd: 'file', file: good }))).toMatchObject({
      cmd: 'file',
      file: { id: good.id, bytes: good.size },
    });
    expect(parseEvent(JSON.stringify({ cmd: 'file', file: { ...good, state: 'exploded' } }))).toBeNull();
    expect(parseEvent(JSON.stringify({ cmd: 'file', file: { ...good, direction: 'up' } }))).toBeNull();
    const files = parseEvent(JSON.stringify({ cmd: 'files', files: [good, { id: 1 }] }));
    expect(files).toMatchObject({ cmd: 'files', files: [{ id: good.id }] });
  });

  it('upserts transfers and measures their speed and time left', () => {
    vi.useFakeTimers();
    vi.setSystemTime(T0);
    let s = reducer(initialState, ev({ cmd: 'file', file: transfer() }));
    expect(s.files[transfer().id]?.rate).toBeNull();
    vi.setSystemTime(T0 + 1000);
    s = reducer(s, ev({ cmd: 'file', file: transfer({ bytes: 2_000_000 }) }));
    const f = s.files[transfer().id] as FileItem;
    expect(f.rate).toBe(2_000_000);
    expect(secondsLeft(f)).toBe(4);
    // No new bytes: the speed stays, the next sample spans the whole pause.
    vi.setSystemTime(T0 + 1500);
    s = reducer(s, ev({ cmd: 'file', file: transfer({ bytes: 2_000_000 }) }));
    vi.setSystemTime(T0 + 2000);
    s = reducer(s, ev({ cmd: 'file', file: transfer({ bytes: 4_000_000 }) }));
    expect(s.files[transfer().id]?.rate).toBe(2_000_000);
    // Done: no speed, no time left.
    s = reducer(s, ev({ cmd: 'file', file: transfer({ state: 'done', bytes: 10_000_000 }) }));
    expect(s.files[transfer().id]?.rate).toBeNull();
    expect(secondsLeft(s.files[transfer().id] as FileItem)).toBeNull();
    // `files` merges into the set; peerFiles sorts a peer's by time.
    const other = transfer({ id: 'e'.repeat(32), created: T0 - 5, peer: BOB });
    const carol = transfer({ id: 'd'.repeat(32), peer: CAROL });
    s = reducer(s, ev({ cmd: 'files', files: [transfer(), other, carol] }));
    expect(peerFiles(s, BOB).map((x) => x.t.id)).toEqual([other.id, transfer().id]);
  });

  it('tracks uploads from start to failure or hand-over', () => {
    let s: AppState = reducer(initialState, { type: 'uploadStarted', key: 'u1', peer: BOB, name: 'a.bin', size: 100 });
    s = reducer(s, { type: 'uploadProgress', key: 'u1', loaded: 40 });
    s = reducer(s, { type: 'uploadProgress', key: 'u1', loaded: 30 });
    expect(peerUploads(s, BOB)).toEqual([{ key: 'u1', peer: BOB, name: 'a.bin', size: 100, loaded: 40, error: null }]);
    s = reducer(s, { type: 'uploadFailed', key: 'u1', error: 'disk full' });
    expect(s.uploads.u1?.error).toBe('disk full');
    s = reducer(s, { type: 'uploadDone', key: 'u1' });
    expect(peerUploads(s, BOB)).toEqual([]);
  });

  it('places files among messages by time', () => {
    const m1 = msg(BOB, 1, { ts: T0 });
    const m2 = msg(BOB, 2, { ts: T0 + 2000 });
    const f = item(transfer({ created: T0 + 1000 }));
    const late = item(transfer({ id: 'a'.repeat(32), created: T0 + 9000 }));
    const kinds = rows([m1, m2], T0, [f, late])
      .filter((r) => r.kind !== 'day')
      .map((r) => (r.kind === 'msg' ? r.m.seq : r.kind === 'file' ? r.f.t.id.slice(0, 1) : ''));
    expect(kinds).toEqual([1, 'f', 2, 'a']);
  });
});

describe('files in history (after a restart or a reload)', () => {
  const page = (files: unknown[]): string =>
    JSON.stringify({ cmd: 'history', peer: BOB, messages: [msg(BOB, 1, { ts: T0 })], files });

  it('parses the files of a history page, dropping bad ones', () => {
    const done = transfer({ state: 'done', caption: 'look', content: true });
    const e = parseEvent(page([done, { id: 3 }]));
    expect(e).toMatchObject({ cmd: 'history', files: [{ id: done.id, caption: 'look', content: true }] });
    // An older node sends none: the page is still a page.
    expect(parseEvent(page([]))).not.toHaveProperty('files');
  });

  it('keeps a finished file from a history page in its place, even after a `files` list without it', () => {
    const before = transfer({ id: 'b'.repeat(32), state: 'ended', reason: 'ended by the peer: declined', created: T0 - 10 });
    const after = transfer({ id: 'a'.repeat(32), state: 'done', direction: 'in', created: T0 + 10, content: true });
    const e = parseEvent(page([before, after])) as ServerEvent;
    let s = reducer(initialState, { type: 'event', event: e, request: { limit: 50 } });
    // A node after a restart lists only this run's transfers: the old ones stay.
    s = reducer(s, ev({ cmd: 'files', files: [] }));
    const files = peerFiles(s, BOB);
    expect(files.map((f) => [f.t.state, f.t.reason ?? null])).toEqual([
      ['ended', 'ended by the peer: declined'],
      ['done', null],
    ]);
    const kinds = rows(s.convs[BOB]?.messages ?? [], T0, files)
      .filter((r) => r.kind !== 'day')
      .map((r) => (r.kind === 'msg' ? r.m.seq : r.kind === 'file' ? r.f.t.state : ''));
    expect(kinds).toEqual(['ended', 1, 'done']);
    const { container } = renderWithApp(<FileBubble file={files[0] as FileItem} />);
    expect(screen.getByRole('alert').textContent).toBe('Failed: ended by the peer: declined');
    expect(container.querySelector('a')).toBeNull();
  });
});

describe('file bubble', () => {
  it('offers Accept and Decline on an incoming offer, and sends them', () => {
    const t = transfer({ direction: 'in', state: 'offered' });
    const { sock } = renderWithApp(<FileBubble file={item(t)} />);
    expect(screen.getByText('Offered to you')).toBeTruthy();
    expect(screen.queryByText('Cancel')).toBeNull();
    fireEvent.click(screen.getByText('Accept'));
    fireEvent.click(screen.getByText('Decline'));
    expect(sock.cmds().slice(-2)).toEqual([
      { cmd: 'accept_file', id: t.id },
      { cmd: 'decline_file', id: t.id },
    ]);
  });

  it('pauses a file coming to us and resumes it; a pause for an absent sender has no Resume', () => {
    const t = transfer({ direction: 'in', state: 'receiving', bytes: 1_000_000 });
    const { sock } = renderWithApp(<FileBubble file={item(t)} />);
    fireEvent.click(screen.getByText('Pause'));
    expect(sock.cmds().at(-1)).toEqual({ cmd: 'pause_file', id: t.id });
    cleanup();
    const paused = transfer({ direction: 'in', state: 'paused', pausedByUser: true });
    const r = renderWithApp(<FileBubble file={item(paused)} />);
    expect(screen.getByText(/^Paused/).textContent).toBe('Paused');
    fireEvent.click(screen.getByText('Resume'));
    expect(r.sock.cmds().at(-1)).toEqual({ cmd: 'resume_file', id: paused.id });
    cleanup();
    renderWithApp(<FileBubble file={item(transfer({ direction: 'in', state: 'paused' }))} />);
    expect(screen.queryByText('Resume')).toBeNull();
    expect(screen.getByText(/the sender is offline/)).toBeTruthy();
    // The sender's side has neither.
    cleanup();
    renderWithApp(<FileBubble file={item(transfer({ state: 'sending' }))} />);
    expect(screen.queryByText('Pause')).toBeNull();
  });

  it('shows progress, speed and time left while sending, and cancels', () => {
    const t = transfer({ bytes: 5_000_000 });
    const { sock, container } = renderWithApp(<FileBubble file={item(t, 1_000_000)} />);
    expect(container.querySelector('progress')?.getAttribute('value')).toBe('50');
    expect(screen.getByText(/Sending · 1\.0 MB\/s · 5 s left · 50%/)).toBeTruthy();
    expect(screen.getByText('10.0 MB')).toBeTruthy();
    fireEvent.click(screen.getByText('Cancel'));
    expect(sock.cmds().at(-1)).toEqual({ cmd: 'cancel_file', id: t.id });
  });

  it('says what each state waits for', () => {
    const says = (over: Partial<Transfer>) => fileStatus(item(transfer(over)));
    expect(says({ state: 'offered' })).toBe('Waiting for them to accept');
    expect(says({ state: 'paused', direction: 'in' })).toBe('Paused — the sender is offline');
    expect(says({ state: 'done', direction: 'in' })).toBe('Received');
    expect(says({ state: 'ended', reason: 'declined' })).toBe('Failed: declined');
  });

  it('shows a received image as its thumbnail, opening the full image from /content', () => {
    const t = transfer({ direction: 'in', state: 'done', thumb: true, bytes: 10_000_000, content: true });
    const { container } = renderWithApp(<FileBubble file={item(t)} />);
    const img = container.querySelector('img');
    expect(img?.getAttribute('src')).toBe(`/api/v1/files/${t.id}/thumb`);
    const link = img?.closest('a');
    expect(link?.getAttribute('href')).toBe(`/api/v1/files/${t.id}/content`);
    expect(link?.getAttribute('target')).toBe('_blank');
    expect(link?.getAttribute('rel')).toBe('noopener noreferrer');
    expect(container.querySelector('progress')).toBeNull();
    expect(screen.queryByRole('button')).toBeNull();
  });

  it('shows the caption as text under the file', () => {
    const t = transfer({ direction: 'in', state: 'offered', caption: 'for <b>you</b>\nsecond line' });
    const { container } = renderWithApp(<FileBubble file={item(t)} />);
    expect(container.querySelector('.file-caption')?.textContent).toBe('for <b>you</b>\nsecond line');
    expect(container.querySelector('b')).toBeNull();
  });

  it('links our own sent file only while the node still has it', () => {
    const sent = transfer({ state: 'done', thumb: true, bytes: 10_000_000, content: false });
    const { container } = renderWithApp(<FileBubble file={item(sent)} />);
    expect(container.querySelector('img')?.getAttribute('src')).toBe(`/api/v1/files/${sent.id}/thumb`);
    expect(container.querySelector('a')).toBeNull();
  });

  it('does not link a file still coming in, and says why one failed', () => {
    const t = transfer({ direction: 'in', state: 'ended', reason: 'the peer cancelled', name: '<b>x</b>.html' });
    const { container } = renderWithApp(<FileBubble file={item(t)} />);
    expect(container.querySelector('a')).toBeNull();
    expect(container.querySelector('b')).toBeNull();
    expect(screen.getByRole('alert').textContent).toBe('Failed: the peer cancelled');
    expect(screen.getByText('<b>x</b>.html')).toBeTruthy();
  });
});

describe('offering files', () => {
  it('uploads through the node and shows the transfer, or the reason it failed', async () => {
    FakeSocket.reset();
    const store = createStore();
    const client = new PurrClient({ url: 'ws://x/ws', factory });
    let calls = 0;
    const uploader: Uploader = async ({ to, file, onProgress }) => {
      calls++;
      onProgress(file.size);
      if (file.name === 'bad.bin') throw new Error('not enough free space');
      return transfer({ peer: to, name: file.name, state: 'offered', size: file.size });
    };
    const ctl = new Controller(client, store, { visible: () => true, notify: vi.fn() }, uploader);
    client.start();
    FakeSocket.last().open();
    ctl.sendFiles(BOB, [new File(['hello'], 'a.txt'), new File(['x'], 'bad.bin')]);
    expect(peerUploads(store.getState(), BOB).map((u) => u.name)).toEqual(['a.txt', 'bad.bin']);
    await vi.waitFor(() => expect(calls).toBe(2));
    await vi.waitFor(() => expect(peerUploads(store.getState(), BOB)).toHaveLength(1));
    expect(peerFiles(store.getState(), BOB).map((f) => f.t.name)).toEqual(['a.txt']);
    expect(peerUploads(store.getState(), BOB)[0]?.error).toBe('not enough free space');
  });

  it('the composer takes files from its button, a drop and a paste', () => {
    const { controller } = renderWithApp(<Composer peer={peer(BOB)} connected failed={null} />);
    const spy = vi.spyOn(controller, 'sendFiles').mockImplementation(() => {});
    const file = new File(['x'], 'x.png', { type: 'image/png' });
    fireEvent.change(screen.getByTestId('file-picker'), { target: { files: [file] } });
    const form = screen.getByLabelText('Attach files').closest('form') as HTMLFormElement;
    fireEvent.drop(form, { dataTransfer: { files: [file], types: ['Files'] } });
    fireEvent.paste(screen.getByRole('textbox'), { clipboardData: { files: [file], getData: () => '' } });
    expect(spy).toHaveBeenCalledTimes(3);
    for (const call of spy.mock.calls) expect(call).toEqual([BOB, [file]]);
    act(() => undefined);
  });

  it('the composer text goes with an attached file as its caption', () => {
    const { controller } = renderWithApp(<Composer peer={peer(BOB)} connected failed={null} />);
    const spy = vi.spyOn(controller, 'sendFiles').mockImplementation(() => {});
    const box = screen.getByRole('textbox') as HTMLTextAreaElement;
    fireEvent.change(box, { target: { value: 'our cat\n' } });
    const file = new File(['x'], 'x.png', { type: 'image/png' });
    fireEvent.change(screen.getByTestId('file-picker'), { target: { files: [file] } });
    expect(spy).toHaveBeenLastCalledWith(BOB, [file], 'our cat');
    expect(box.value).toBe('');
    // Too long for a caption: the text stays a draft, the file goes without one.
    fireEvent.change(box, { target: { value: 'x'.repeat(1025) } });
    fireEvent.change(screen.getByTestId('file-picker'), { target: { files: [file] } });
    expect(spy).toHaveBeenLastCalledWith(BOB, [file]);
    expect(box.value).toHaveLength(1025);
  });

  it('the caption goes to the node with the first file only, and shows while it uploads', async () => {
    FakeSocket.reset();
    const store = createStore();
    const client = new PurrClient({ url: 'ws://x/ws', factory });
    const seen: (string | undefined)[] = [];
    let release = (): void => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const uploader: Uploader = async ({ to, file, caption }) => {
      seen.push(caption);
      await gate;
      const id = (file.name === 'a.png' ? 'a' : 'b').repeat(32);
      return transfer({ id, peer: to, name: file.name, state: 'offered', ...(caption ? { caption } : {}) });
    };
    const ctl = new Controller(client, store, { visible: () => true, notify: vi.fn() }, uploader);
    client.start();
    FakeSocket.last().open();
    ctl.sendFiles(BOB, [new File(['a'], 'a.png'), new File(['b'], 'b.png')], 'two cats');
    expect(peerUploads(store.getState(), BOB).map((u) => u.caption ?? null)).toEqual(['two cats', null]);
    await vi.waitFor(() => expect(seen).toEqual(['two cats', undefined]));
    release();
    await vi.waitFor(() => expect(peerFiles(store.getState(), BOB)).toHaveLength(2));
  });
});
