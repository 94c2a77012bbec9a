import type { ReactElement } from 'react';
import type { Peer } from '../api';
import { useNow } from '../lib/hooks';
import { lastSeen } from '../lib/time';
import { Avatar } from './Avatar';
import { Fingerprint } from './Fingerprint';
import { ShieldCheckIcon, ShieldIcon } from './Icons';
import { TopBar } from './TopBar';

interface Props {
  peer: Peer;
  onMenu: () => void;
  safetyOpen: boolean;
  onToggleSafety: () => void;
}

export function ConversationHeader({ peer, onMenu, safetyOpen, onToggleSafety }: Props): ReactElement {
  const now = useNow(30_000);
  return (
    <TopBar onMenu={onMenu}>
      <Avatar id={peer.id} name={peer.name} online={peer.online} />
      <div className="conv-title">
        <h1 className="conv-name">
          <span className="conv-name-text">{peer.name}</span>
          {peer.verified && (
            <span className="verified-badge" title="You verified this contact's fingerprint">
              <ShieldCheckIcon />
              <span className="visually-hidden">verified</span>
            </span>
          )}
        </h1>
        <p className={peer.online ? 'presence online' : 'presence'}>
          {peer.online ? 'online' : lastSeen(peer.last_seen, now)}
          {peer.online && peer.path && <span className="presence-path"> · {peer.path}</span>}
        </p>
      </div>
      <button
        type="button"
        className={safetyOpen ? 'fp-btn open' : 'fp-btn'}
        aria-expanded={safetyOpen}
        aria-controls="safety-panel"
        aria-label={`Fingerprint and verification of ${peer.name}`}
        title="Compare fingerprints"
        onClick={onToggleSafety}
      >
        {peer.verified ? <ShieldCheckIcon className="ok" /> : <ShieldIcon />}
        <span className="fp-btn-text">
          <Fingerprint value={peer.fingerprint} />
        </span>
      </button>
    </TopBar>
  );
}
