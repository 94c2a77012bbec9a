import type { ReactElement } from 'react';
import { fingerprintGroups } from '../lib/text';

/** A fingerprint in its 4 groups of 8, monospace; copied whole with dashes. */
export function Fingerprint({ value, label }: { value: string; label?: string }): ReactElement {
  const groups = fingerprintGroups(value);
  return (
    <span className="fingerprint" aria-label={label ? `${label}: ${groups.join(' ')}` : undefined} title={value}>
      {groups.map((g, i) => (
        <span key={i} className="fp-group">
          {g}
          {i < groups.length - 1 && <span className="fp-dash">-</span>}
        </span>
      ))}
    </span>
  );
}
