import type { ReactElement } from 'react';
import type { Me, Peer } from '../api';
import { useApp } from '../context';
import { Fingerprint } from './Fingerprint';
import { CloseIcon } from './Icons';

interface Props {
  peer: Peer;
  me: Me | null;
  connected: boolean;
  onClose: () => void;
}

/** Both fingerprints, how to compare them, and the "verified" switch (`verify`). */
export function SafetyPanel({ peer, me, connected, onClose }: Props): ReactElement {
  const { controller } = useApp();
  return (
    <div id="safety-panel" className="safety" role="region" aria-label="Verify fingerprints">
      <button type="button" className="icon-btn safety-close" aria-label="Close" onClick={onClose}>
        <CloseIcon />
      </button>
      <div className="safety-fps">
        <div>
          <span className="safety-label">{peer.name}</span>
          <Fingerprint value={peer.fingerprint} label={`Fingerprint of ${peer.name}`} />
        </div>
        <div>
          <span className="safety-label">You</span>
          {me ? <Fingerprint value={me.fingerprint} label="Your fingerprint" /> : '…'}
        </div>
      </div>
      <p className="hint">
        To be sure this is really {peer.name}, compare fingerprints over a channel you trust — in
        person or on a call: each of you reads your own fingerprint aloud while the other checks it
        against this screen. If both match, mark {peer.name} as verified.
      </p>
      <label className="switch">
        <input
          type="checkbox"
          role="switch"
          checked={peer.verified}
          disabled={!connected}
          onChange={(e) => controller.verify(peer.id, e.target.checked)}
        />
        <span className="switch-track" aria-hidden="true" />
        <span>{peer.verified ? 'Verified' : 'Mark as verified'}</span>
      </label>
    </div>
  );
}
