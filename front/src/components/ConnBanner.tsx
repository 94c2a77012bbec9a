import { type ReactElement, useEffect, useState } from 'react';
import { useApp } from '../context';
import type { ConnInfo } from '../ws';

/** Closes before any open in a row after which the banner says what may be wrong. */
const HINT_AFTER = 3;

/** The "reconnecting…" banner, with a countdown and a retry button. */
export function ConnBanner({ conn }: { conn: ConnInfo }): ReactElement | null {
  const { controller } = useApp();
  const [now, setNow] = useState(() => Date.now());
  const [slow, setSlow] = useState(false);

  useEffect(() => {
    if (conn.phase !== 'reconnecting') return;
    const t = setInterval(() => setNow(Date.now()), 500);
    return () => clearInterval(t);
  }, [conn.phase]);

  // The first connection usually opens at once: only say "connecting" when it does not.
  useEffect(() => {
    if (conn.phase !== 'connecting') return setSlow(false);
    const t = setTimeout(() => setSlow(true), 1500);
    return () => clearTimeout(t);
  }, [conn.phase]);

  if (conn.phase === 'open' || conn.phase === 'stopped' || (conn.phase === 'connecting' && !slow)) return null;
  const secs = conn.retryAt === null ? 0 : Math.max(0, Math.ceil((conn.retryAt - now) / 1000));
  const failing = conn.failedOpens >= HINT_AFTER;
  return (
    <div className={failing ? 'banner banner-bad' : 'banner'} role="status" aria-live="polite">
      <span className="spinner" aria-hidden="true" />
      <span className="banner-text">
        {conn.phase === 'connecting' ? 'Connecting to your node…' : 'Reconnecting…'}
        {secs > 0 && <span className="banner-sub"> retrying in {secs} s</span>}
        {failing && (
          <span className="banner-hint">
            Can’t reach this node. Is it still running? If it was restarted with a new token, open
            the address that <code>purr url</code> prints.
          </span>
        )}
      </span>
      {secs > 0 && (
        <button type="button" className="btn btn-small btn-ghost-light" onClick={() => controller.retry()}>
          Retry now
        </button>
      )}
    </div>
  );
}
