import { type ReactElement, useLayoutEffect } from 'react';
import { type Message, type Peer, isOwn } from '../api';
import { useLogScroll } from '../lib/logScroll';
import { dayKey, dayLabel } from '../lib/time';
import type { Conversation, FileItem, Upload } from '../state';
import { FileBubble, UploadBubble } from './FileBubble';
import { DownIcon } from './Icons';
import { MessageBubble } from './MessageBubble';

/** Messages closer than this from the same side form one visual group. */
const GROUP_MS = 5 * 60_000;

interface Props {
  peer: Peer;
  conv: Conversation;
  /** Transfers with this peer, oldest first, shown among the messages by time. */
  files?: FileItem[];
  /** Files this browser is still uploading to its node, shown last. */
  uploads?: Upload[];
  onLoadOlder: () => void;
}

type Row =
  | { kind: 'day'; key: string; label: string }
  | { kind: 'msg'; m: Message; first: boolean; last: boolean }
  | { kind: 'file'; f: FileItem };

export function rows(messages: Message[], now: number, files: FileItem[] = []): Row[] {
  const out: Row[] = [];
  let day = -1;
  let j = 0;
  const dayOf = (ts: number): void => {
    const d = dayKey(ts);
    if (d !== day) {
      day = d;
      out.push({ kind: 'day', key: `day-${d}`, label: dayLabel(ts, now) });
    }
  };
  const filesUntil = (ts: number): void => {
    for (let f = files[j]; f && f.t.created <= ts; f = files[++j]) {
      dayOf(f.t.created);
      out.push({ kind: 'file', f });
    }
  };
  messages.forEach((m, i) => {
    filesUntil(m.ts);
    dayOf(m.ts);
    const prev = messages[i - 1];
    const next = messages[i + 1];
    const joins = (a: Message | undefined, b: Message | undefined): boolean =>
      !!a && !!b && isOwn(a) === isOwn(b) && Math.abs(b.ts - a.ts) < GROUP_MS && dayKey(a.ts) === dayKey(b.ts);
    out.push({ kind: 'msg', m, first: !joins(prev, m), last: !joins(m, next) });
  });
  filesUntil(Infinity);
  return out;
}

/**
 * The conversation log. Keeps the view pinned to the bottom while the user is there,
 * keeps the visible messages in place when an older page is prepended, and asks for the
 * older page when the user scrolls near the top (or the loaded page does not fill it).
 */
export function MessageList({ peer, conv, files = [], uploads = [], onLoadOlder }: Props): ReactElement {
  const { messages, complete, loading } = conv;
  const { scroller, atBottom, onScroll, unseen, toBottom } = useLogScroll({ items: messages, isOwn, complete, loading, onLoadOlder });

  // A new file or upload at the end: follow it down if the user is at the bottom.
  const fileCount = files.length + uploads.length;
  useLayoutEffect(() => {
    const el = scroller.current;
    if (el && atBottom.current && fileCount > 0) el.scrollTop = el.scrollHeight;
  }, [fileCount, scroller, atBottom]);

  const now = Date.now();
  return (
    <div className="messages-wrap">
      <div
        ref={scroller}
        className="messages"
        role="log"
        aria-label={`Messages with ${peer.name}`}
        aria-live="polite"
        aria-relevant="additions"
        aria-busy={loading}
        tabIndex={0}
        onScroll={onScroll}
      >
        <div className="messages-inner">
          {complete && messages.length > 0 && (
            <p className="log-note">This is the beginning of your conversation with {peer.name}.</p>
          )}
          {conv.error && (
            <p className="log-note log-error" role="alert">
              Couldn’t load messages: {conv.error}
            </p>
          )}
          {messages.length === 0 && loading && (
            <div className="log-empty" role="status">
              <span className="spinner spinner-dark" aria-hidden="true" />
              <span className="visually-hidden">Loading messages…</span>
            </div>
          )}
          {messages.length === 0 && fileCount === 0 && !loading && !conv.error && (
            <div className="log-empty">
              <p>No messages yet.</p>
              <p className="hint">Say hi to {peer.name} — messages are end-to-end encrypted and never leave your network.</p>
            </div>
          )}
          {rows(messages, now, files).map((r) =>
            r.kind === 'day' ? (
              <div key={r.key} className="day" role="separator" aria-label={r.label}>
                <span>{r.label}</span>
              </div>
            ) : r.kind === 'file' ? (
              <FileBubble key={`f-${r.f.t.id}`} file={r.f} />
            ) : (
              <MessageBubble key={r.m.id} message={r.m} first={r.first} last={r.last} />
            ),
          )}
          {uploads.map((u) => (
            <UploadBubble key={u.key} upload={u} />
          ))}
        </div>
      </div>
      {loading && messages.length > 0 && (
        <p className="loading-pill" role="status">
          <span className="spinner spinner-dark" aria-hidden="true" /> Loading older messages…
        </p>
      )}
      {unseen > 0 && (
        <button type="button" className="jump" onClick={toBottom} aria-label={`${unseen} new — scroll to the newest message`}>
          <DownIcon />
          <span className="badge">{unseen}</span>
        </button>
      )}
    </div>
  );
}
