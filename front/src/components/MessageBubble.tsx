import { type ReactElement, memo } from 'react';
import { type Message, isOwn } from '../api';
import { linkify } from '../lib/text';
import { clock, fullDate } from '../lib/time';
import { Ticks } from './Icons';

/** The text of a message: plain text nodes and http(s) links, never HTML. */
export function MessageText({ text }: { text: string }): ReactElement {
  return (
    <>
      {linkify(text).map((s, i) =>
        s.kind === 'text' ? (
          s.text
        ) : (
          <a key={i} href={s.href} target="_blank" rel="noopener noreferrer">
            {s.text}
          </a>
        ),
      )}
    </>
  );
}

interface Props {
  message: Message;
  /** First / last of a run of messages from the same side close in time. */
  first: boolean;
  last: boolean;
}

export const MessageBubble = memo(function MessageBubble({ message: m, first, last }: Props): ReactElement {
  const own = isOwn(m);
  const cls = `msg ${own ? 'own' : 'theirs'}${first ? ' first' : ''}${last ? ' last' : ''}${m.seq > 0 ? '' : ' uncommitted'}`;
  return (
    <div className={cls} data-id={m.id}>
      <div className="bubble">
        <span className="text">
          <MessageText text={m.text} />
        </span>
        <span className="meta">
          <time dateTime={new Date(m.ts).toISOString()} title={fullDate(m.ts)}>
            {clock(m.ts)}
          </time>
          {own && m.status !== 'received' && <Ticks status={m.status} />}
        </span>
      </div>
    </div>
  );
});
