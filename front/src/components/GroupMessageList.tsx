import { type ReactElement, useState } from 'react';
import type { Group, Peer } from '../api';
import { type GroupItem, nameOf, receipts, systemText } from '../groups';
import { useLogScroll } from '../lib/logScroll';
import { clock, dayKey, dayLabel, fullDate } from '../lib/time';
import type { GroupConv } from '../state';
import { DownIcon } from './Icons';
import { MessageText } from './MessageBubble';

/** Messages closer than this from the same author form one visual group. */
const GROUP_MS = 5 * 60_000;

type Row =
  | { kind: 'day'; key: string; label: string }
  | { kind: 'system'; item: GroupItem }
  | { kind: 'msg'; item: GroupItem; first: boolean; last: boolean };

/** Day separators, system lines and runs of one author's messages, in the node's order. */
export function groupRows(items: GroupItem[], now: number): Row[] {
  const out: Row[] = [];
  let day = -1;
  const joins = (a: GroupItem | undefined, b: GroupItem | undefined): boolean =>
    !!a &&
    !!b &&
    a.kind === 'text' &&
    b.kind === 'text' &&
    a.author === b.author &&
    !b.late &&
    Math.abs(b.ts - a.ts) < GROUP_MS &&
    dayKey(a.ts) === dayKey(b.ts);
  items.forEach((m, i) => {
    const d = dayKey(m.ts);
    // The order is the node's, not the clock's: a day label only when the day moves on.
    if (d > day) {
      day = d;
      out.push({ kind: 'day', key: `day-${d}`, label: dayLabel(m.ts, now) });
    }
    if (m.kind === 'system') out.push({ kind: 'system', item: m });
    else out.push({ kind: 'msg', item: m, first: !joins(items[i - 1], m), last: !joins(m, items[i + 1]) });
  });
  return out;
}

const LATE_TITLE = 'Arrived after the messages below it were shown: it is placed where it was written';

interface BubbleProps {
  item: GroupItem;
  group: Group;
  me: string | undefined;
  name: (id: string) => string;
  first: boolean;
  last: boolean;
}

/** Our message's receipts: the counts, and who on hover (title) or tap (expands). */
function Receipts({ r }: { r: { text: string; delivered: string[]; read: string[] } }): ReactElement {
  const [open, setOpen] = useState(false);
  const who = `Delivered to: ${r.delivered.join(', ') || 'nobody yet'}\nRead by: ${r.read.join(', ') || 'nobody yet'}`;
  return (
    <div className="receipts">
      <button type="button" className="receipts-btn" title={who} aria-expanded={open} onClick={() => setOpen((o) => !o)}>
        {r.text}
      </button>
      {open && (
        <p className="receipts-who">
          <span>Delivered: {r.delivered.join(', ') || 'nobody yet'}</span>
          <span>Read: {r.read.join(', ') || 'nobody yet'}</span>
        </p>
      )}
    </div>
  );
}

export function GroupBubble({ item: m, group, me, name, first, last }: BubbleProps): ReactElement {
  const own = m.author === me;
  const r = receipts(m, group, me, name);
  const cls = `msg ${own ? 'own' : 'theirs'}${first ? ' first' : ''}${last ? ' last' : ''}${m.late ? ' late' : ''}`;
  return (
    <div className={cls} data-id={m.id}>
      <div className="bubble">
        {!own && first && <span className="msg-author">{name(m.author)}</span>}
        <span className="text">
          <MessageText text={m.text} />
        </span>
        <span className="meta">
          {m.late && (
            <span className="late-mark" title={LATE_TITLE}>
              arrived later
            </span>
          )}
          <time dateTime={new Date(m.ts).toISOString()} title={fullDate(m.ts)}>
            {clock(m.ts)}
          </time>
        </span>
      </div>
      {r && <Receipts r={r} />}
    </div>
  );
}

interface Props {
  group: Group;
  conv: GroupConv;
  me: string | undefined;
  peers: Record<string, Peer>;
  onLoadOlder: () => void;
}

/** A group's log: the same scrolling as a 1:1 log, author names, system lines. */
export function GroupMessageList({ group, conv, me, peers, onLoadOlder }: Props): ReactElement {
  const { items, complete, loading } = conv;
  const isOwn = (m: GroupItem): boolean => m.author === me && m.kind === 'text';
  const { scroller, onScroll, unseen, toBottom } = useLogScroll({ items, isOwn, complete, loading, onLoadOlder });
  const name = (id: string): string => nameOf(id, group, peers, me);
  const now = Date.now();
  return (
    <div className="messages-wrap">
      <div
        ref={scroller}
        className="messages"
        role="log"
        aria-label={`Messages in ${group.name}`}
        aria-live="polite"
        aria-relevant="additions"
        aria-busy={loading}
        tabIndex={0}
        onScroll={onScroll}
      >
        <div className="messages-inner">
          {complete && items.length > 0 && <p className="log-note">This is the beginning of {group.name}.</p>}
          {conv.error && (
            <p className="log-note log-error" role="alert">
              Couldn’t load messages: {conv.error}
            </p>
          )}
          {items.length === 0 && loading && (
            <div className="log-empty" role="status">
              <span className="spinner spinner-dark" aria-hidden="true" />
              <span className="visually-hidden">Loading messages…</span>
            </div>
          )}
          {items.length === 0 && !loading && !conv.error && (
            <div className="log-empty">
              <p>No messages yet.</p>
              <p className="hint">Messages go to each member directly, end-to-end encrypted; members carry them to those offline.</p>
            </div>
          )}
          {groupRows(items, now).map((r) =>
            r.kind === 'day' ? (
              <div key={r.key} className="day" role="separator" aria-label={r.label}>
                <span>{r.label}</span>
              </div>
            ) : r.kind === 'system' ? (
              <p key={r.item.id} className={`log-note system-line${r.item.late ? ' late' : ''}`} data-id={r.item.id}>
                {systemText(r.item, name)}
                {r.item.late && (
                  <span className="late-mark" title={LATE_TITLE}>
                    {' '}
                    · arrived later
                  </span>
                )}
              </p>
            ) : (
              <GroupBubble key={r.item.id} item={r.item} group={group} me={me} name={name} first={r.first} last={r.last} />
            ),
          )}
        </div>
      </div>
      {loading && items.length > 0 && (
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
