import { type ReactElement, useCallback, useEffect, useState } from 'react';
import { useApp, useAppState } from '../context';
import { useNarrow } from '../lib/hooks';
import { totalUnread } from '../selectors';
import { ConnBanner } from './ConnBanner';
import { Conversation } from './Conversation';
import { GroupConversation } from './GroupConversation';
import { MePanel } from './MePanel';
import { Sidebar } from './Sidebar';
import { Toast } from './Toast';

export function App(): ReactElement {
  const state = useAppState();
  const { controller } = useApp();
  const narrow = useNarrow();
  // On a phone the peer list is a drawer; it starts open when no conversation is.
  const [drawer, setDrawer] = useState(state.open === null);
  const unread = totalUnread(state);
  const drawerShown = narrow && drawer;

  useEffect(() => {
    document.title = unread > 0 ? `(${unread}) purr` : 'purr';
  }, [unread]);

  useEffect(() => {
    if (!narrow || !drawer) return;
    const onKey = (e: KeyboardEvent): void => {
      if (e.key === 'Escape') setDrawer(false);
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [narrow, drawer]);

  // Focus moves into the drawer when it opens, so keyboard and screen reader users land there.
  useEffect(() => {
    if (!drawerShown) return;
    const target = document.querySelector<HTMLElement>('.sidebar .peer-list, .sidebar .search input, .sidebar .me-btn');
    target?.focus({ preventScroll: true });
  }, [drawerShown]);

  const select = useCallback(
    (peer: string | null) => {
      controller.open(peer);
      setDrawer(false);
    },
    [controller],
  );
  const openDrawer = useCallback(() => setDrawer(true), []);

  const group = state.open ? state.groups[state.open] : undefined;
  const peer = state.open && !group ? state.peers[state.open] : undefined;
  return (
    <div className={`app${drawerShown ? ' drawer-open' : ''}${state.conn.phase === 'open' ? '' : ' disconnected'}`}>
      <ConnBanner conn={state.conn} />
      <div className="layout">
        <Sidebar state={state} onSelect={select} hidden={narrow && !drawer} />
        {drawerShown && <div className="scrim" onClick={() => setDrawer(false)} aria-hidden="true" />}
        <main className="main" inert={drawerShown}>
          {group ? (
            <GroupConversation key={group.id} state={state} group={group} onMenu={openDrawer} />
          ) : peer ? (
            <Conversation key={peer.id} state={state} peer={peer} onMenu={openDrawer} />
          ) : (
            <MePanel state={state} onMenu={openDrawer} />
          )}
        </main>
      </div>
      <Toast toast={state.toast} />
    </div>
  );
}
