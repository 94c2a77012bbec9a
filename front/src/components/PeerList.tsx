import { type KeyboardEvent, type ReactElement, type Ref, useEffect, useState } from 'react';
import { type Peer, isOwn, peerLabel } from '../api';
import { useNow } from '../lib/hooks';
import { preview } from '../lib/text';
import { lastSeen, listTime } from '../lib/time';
import { lastMessage } from '../selectors';
import type { AppState } from '../state';
import { Avatar } from './Avatar';
import { ShieldCheckIcon, WarnIcon } from './Icons';

interface Props {
  ref?: Ref<HTMLUListElement>;
  state: AppState;
  peers: Peer[];
  onSelect: (peer: string) => void;
}

const optionId = (id: string): string => `peer-${id}`;

/**
 * The peer list: a single-select listbox. Focus stays on the list; arrows, Home and End
 * move the active option (aria-activedescendant), Enter or Space opens it.
 */
export function PeerList({ ref, state, peers, onSelect }: Props): ReactElement {
  const now = useNow(60_000);
  const [active, setActive] = useState<string | null>(null);
  const activeId = active && peers.some((p) => p.id === active) ? active : (state.open ?? peers[0]?.id ?? null);

  useEffect(() => {
    if (!activeId) return;
    const el = document.getElementById(optionId(activeId));
    if (el && typeof el.scrollIntoView === 'function') el.scrollIntoView({ block: 'nearest' });
  }, [activeId]);

  const onKeyDown = (e: KeyboardEvent<HTMLUListElement>): void => {
    const i = peers.findIndex((p) => p.id === activeId);
    let next: number | null = null;
    if (e.key === 'ArrowDown') next = Math.min(peers.length - 1, i + 1);
    else if (e.key === 'ArrowUp') next = Math.max(0, i - 1);
    else if (e.key === 'Home') next = 0;
    else if (e.key === 'End') next = peers.length - 1;
    else if ((e.key === 'Enter' || e.key === ' ') && activeId) {
      e.preventDefault();
      onSelect(activeId);
      return;
    }
    if (next === null) return;
    e.preventDefault();
    const p = peers[next];
    if (p) setActive(p.id);
  };

  return (
    <ul
      ref={ref}
      id="peer-list"
      className="peer-list"
      role="listbox"
      aria-label="Peers"
      tabIndex={0}
      aria-activedescendant={activeId ? optionId(activeId) : undefined}
      onKeyDown={onKeyDown}
    >
      {peers.map((p) => {
        const last = lastMessage(state, p.id);
        const selected = p.id === state.open;
        const time = last ? listTime(last.ts, now) : '';
        const nearby = !p.online && p.presence === 'nearby';
        const presence = p.online
          ? p.path
            ? `online · ${p.path}`
            : 'online'
          : nearby
            ? 'nearby'
            : lastSeen(p.last_seen, now);
        const sub = last
          ? `${isOwn(last) ? 'You: ' : ''}${preview(last.text)}`
          : p.stranger
            ? `stranger · ${presence}`
            : presence;
        const label = [
          peerLabel(p),
          p.online ? (p.path ? `online via ${p.path}` : 'online') : nearby ? 'nearby (heard on the LAN, unverified)' : 'offline',
          p.verified ? 'verified' : '',
          p.stranger ? 'stranger: never messaged' : '',
          p.name_conflict ? 'name shared with another contact' : '',
          p.unread > 0 ? `${p.unread} unread` : '',
          last ? `${isOwn(last) ? 'you' : p.name}: ${preview(last.text, 60)}, ${time}` : '',
        ]
          .filter(Boolean)
          .join(', ');
        return (
          <li
            key={p.id}
            id={optionId(p.id)}
            role="option"
            aria-selected={selected}
            aria-label={label}
            title={p.online && p.path ? `online via ${p.path}` : undefined}
            className={`peer${selected ? ' selected' : ''}${p.id === activeId ? ' active' : ''}${nearby ? ' nearby' : ''}`}
            onClick={() => {
              setActive(p.id);
              onSelect(p.id);
            }}
          >
            <Avatar id={p.id} name={peerLabel(p)} online={p.online} />
            <div className="peer-body">
              <div className="peer-row">
                <span className="peer-name">{peerLabel(p)}</span>
                {p.verified && <ShieldCheckIcon className="peer-verified" />}
                {p.name_conflict && <WarnIcon className="peer-conflict" />}
                <span className="peer-time">{time}</span>
              </div>
              <div className="peer-row">
                <span className={last ? 'peer-preview' : 'peer-preview peer-presence'}>{sub}</span>
                {p.unread > 0 && <span className="badge">{p.unread > 999 ? '999+' : p.unread}</span>}
              </div>
            </div>
          </li>
        );
      })}
    </ul>
  );
}
