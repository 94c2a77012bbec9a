import type { ReactElement } from 'react';
import type { Group } from '../api';
import { useApp } from '../context';
import { nameOf, onlineCount, systemText } from '../groups';
import { preview } from '../lib/text';
import { lastGroupItem } from '../selectors';
import type { AppState } from '../state';
import { Avatar } from './Avatar';

interface Props {
  state: AppState;
  groups: Group[];
  onSelect: (id: string) => void;
}

/** What the second line of a group's row says. */
function subline(state: AppState, g: Group): string {
  const me = state.me?.id;
  const name = (id: string): string => nameOf(id, g, state.peers, me);
  switch (g.phase) {
    case 'invited':
      return `Invitation from ${name(g.owner)}`;
    case 'joining':
      return 'Joining…';
    case 'declined':
      return 'Invitation declined';
    case 'left':
      return 'You left';
    case 'removed':
      return g.removed_by ? `Removed by ${name(g.removed_by)}` : 'You were removed';
    case 'member': {
      const last = lastGroupItem(state, g.id);
      if (!last) return '';
      return last.kind === 'system' ? systemText(last, name) : `${name(last.author)}: ${preview(last.text)}`;
    }
  }
}

/** The groups of the sidebar: invitations (with Accept / Decline) first, then the others
 * by activity; each with "3/7 online" and its unread count when the node sends one. */
export function GroupList({ state, groups, onSelect }: Props): ReactElement {
  const { controller } = useApp();
  const me = state.me?.id;
  const connected = state.conn.phase === 'open';
  return (
    <ul className="group-list" aria-label="Groups">
      {groups.map((g) => {
        const selected = g.id === state.open;
        const { online, total } = onlineCount(g, state.peers, me);
        const count = g.phase === 'member' && total > 0 ? `${online}/${total} online` : '';
        const sub = subline(state, g);
        const unread = g.unread ?? 0;
        const label = [g.name, count, sub, unread > 0 ? `${unread} unread` : ''].filter(Boolean).join(', ');
        const inactive = g.phase === 'left' || g.phase === 'removed' || g.phase === 'declined';
        return (
          <li key={g.id} className={`group-item${inactive ? ' inactive' : ''}`} data-group={g.id}>
            <button
              type="button"
              className={`peer group-row${selected ? ' selected' : ''}`}
              aria-current={selected ? 'page' : undefined}
              aria-label={label}
              onClick={() => onSelect(g.id)}
            >
              <Avatar id={g.id} name={g.name} group />
              <span className="peer-body">
                <span className="peer-row">
                  <span className="peer-name">{g.name}</span>
                  {count && <span className="group-online">{count}</span>}
                </span>
                <span className="peer-row">
                  <span className="peer-preview">{sub}</span>
                  {unread > 0 && <span className="badge">{unread > 999 ? '999+' : unread}</span>}
                </span>
              </span>
            </button>
            {g.phase === 'invited' && (
              <span className="invite-actions">
                <button type="button" className="btn btn-small btn-primary" disabled={!connected} onClick={() => controller.acceptGroup(g.id)}>
                  Accept
                </button>
                <button type="button" className="btn btn-small btn-secondary" disabled={!connected} onClick={() => controller.declineGroup(g.id)}>
                  Decline
                </button>
              </span>
            )}
          </li>
        );
      })}
    </ul>
  );
}
