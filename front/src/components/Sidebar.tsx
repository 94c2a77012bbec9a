import { type ReactElement, useCallback, useRef, useState } from 'react';
import { useApp } from '../context';
import { contacts, sortedGroups, sortedPeers } from '../selectors';
import type { AppState } from '../state';
import { Avatar } from './Avatar';
import { GroupDialog } from './GroupDialog';
import { GroupList } from './GroupList';
import { PawIcon, PlusIcon, SearchIcon } from './Icons';
import { PeerList } from './PeerList';

interface Props {
  state: AppState;
  onSelect: (peer: string | null) => void;
  /** Off screen (the closed drawer on a phone): out of the tab order too. */
  hidden: boolean;
}

export function Sidebar({ state, onSelect, hidden }: Props): ReactElement {
  const [query, setQuery] = useState('');
  const listRef = useRef<HTMLUListElement>(null);
  const peers = sortedPeers(state, query);
  const total = Object.keys(state.peers).length;
  const me = state.me;
  const { store } = useApp();
  const groups = sortedGroups(state, query);
  const anyGroup = Object.keys(state.groups).length > 0;
  const people = contacts(state);
  const [creating, setCreating] = useState(false);
  const closeDialog = useCallback(() => {
    setCreating(false);
    store.dispatch({ type: 'groupCreateDone' });
  }, [store]);

  return (
    <aside className="sidebar" aria-label="Conversations" inert={hidden}>
      <header className="side-head">
        <div className="brand">
          <PawIcon className="brand-icon" />
          <span className="brand-name">purr</span>
        </div>
        <button
          type="button"
          className={state.open === null ? 'me-btn current' : 'me-btn'}
          onClick={() => onSelect(null)}
          aria-label={me ? `You: ${me.name} — profile and connect` : 'Your profile'}
          aria-current={state.open === null ? 'page' : undefined}
        >
          <span className="me-btn-name">{me?.name ?? '…'}</span>
          {me ? <Avatar id={me.id} name={me.name} size="sm" online={state.conn.phase === 'open'} /> : <span className="avatar avatar-sm skeleton" />}
        </button>
      </header>

      {total > 0 && (
        <div className="search">
          <SearchIcon />
          <input
            type="search"
            placeholder="Search by name or id"
            aria-label="Search peers and groups by name or id"
            aria-controls="peer-list"
            value={query}
            onChange={(e) => setQuery(e.target.value)}
            onKeyDown={(e) => {
              if (e.key === 'ArrowDown') {
                e.preventDefault();
                listRef.current?.focus();
              } else if (e.key === 'Enter' && peers[0]) {
                onSelect(peers[0].id);
              } else if (e.key === 'Escape' && query !== '') {
                e.stopPropagation();
                setQuery('');
              }
            }}
          />
        </div>
      )}

      <div className="side-scroll">
      {(anyGroup || people.length > 0) && (
        <section className="side-section" aria-labelledby="groups-title">
          <div className="side-section-head">
            <h2 id="groups-title" className="side-section-title">
              Groups
            </h2>
            <button
              type="button"
              className="btn btn-small btn-secondary new-group-btn"
              disabled={state.conn.phase !== 'open'}
              onClick={() => setCreating(true)}
            >
              <PlusIcon /> New group
            </button>
          </div>
          {groups.length > 0 ? (
            <GroupList state={state} groups={groups} onSelect={onSelect} />
          ) : (
            <p className="side-section-empty">{query.trim() === '' ? 'No groups yet.' : 'No group matches.'}</p>
          )}
        </section>
      )}
      {(anyGroup || people.length > 0) && total > 0 && <h2 className="side-section-title people-title">People</h2>}
      {!state.peersLoaded && total === 0 ? (
        <div className="list-placeholder" aria-hidden="true">
          <div className="skeleton-row" />
          <div className="skeleton-row" />
          <div className="skeleton-row" />
        </div>
      ) : total === 0 ? (
        <div className="empty">
          <div className="empty-art" aria-hidden="true">
            <PawIcon />
          </div>
          <p className="empty-text">
            {me?.discovery === false
              ? 'No peers yet — discovery is off on this node: connect by address.'
              : 'No peers yet — purr finds peers on your LAN automatically, or connect by address.'}
          </p>
          <button type="button" className="btn btn-secondary" onClick={() => onSelect(null)}>
            Connect by address
          </button>
        </div>
      ) : peers.length === 0 ? (
        <p className="empty-text empty-search">No peer matches “{query}”.</p>
      ) : (
        <PeerList ref={listRef} state={state} peers={peers} onSelect={onSelect} />
      )}
      </div>
      {creating && (
        <GroupDialog
          mode="create"
          contacts={people}
          connected={state.conn.phase === 'open'}
          pending={state.groupCreate.pending !== null}
          error={state.groupCreate.error}
          onClose={closeDialog}
        />
      )}
    </aside>
  );
}
