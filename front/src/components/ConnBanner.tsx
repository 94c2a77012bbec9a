import { type ReactElement, useEffect, useState } from 'react';
import { useApp } from '../context';
import { type Diagnosis, diagnose } from '../lib/probe';
import type { ConnInfo } from '../ws';

/** Closes before any open in a row after which the banner says what may be wrong. */
const HINT_AFTER = 3;

function Hint({ why }: { why: Diagnosis | null }): ReactElement {
  if (why === 'auth') {
    return (
      <span className="banner-hint">
        This browser is not signed in to the node (its token changed or the cookie is gone). Open the
        address that <code>purr url</code> prints.
      </span>
    );
  }
  if (why === 'down') {
    return <span className="banner-hint">The node does not answer. Is purr still running?</span>;
  }
  return (
    <span className="banner-hint">
      The node answers but refuses the live connection. Open the address that <code>purr url</code>{' '}
      prints, on this machine.
    </span>
  );
}

/** The "reconnecting…" banner, with a countdown, a retry button and, if it keeps failing, why. */
export function ConnBanner({ conn }: { conn: ConnInfo }): ReactElement | null {
  const { controller } = useApp();
  const [now, setNow] = useState(() => Date.now());
  const [slow, setSlow] = useState(false);
  const [why, setWhy] = useState<Diagnosis | null>(null);
  const failing = conn.failedOpens >= HINT_AFTER;

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

  // Diagnose when a failure streak gets long, and again every few more failures.
  const round = Math.floor(conn.failedOpens / HINT_AFTER);
  useEffect(() => {
    if (round === 0) return setWhy(null);
    let live = true;
    void diagnose().then((d) => live && setWhy(d));
    return () => {
      live = false;
    };
  }, [round]);

  if (conn.phase === 'open' || conn.phase === 'stopped' || (conn.phase === 'connecting' && !slow)) return null;
  const secs = conn.retryAt === null ? 0 : Math.max(0, Math.ceil((conn.retryAt - now) / 1000));
  return (
    <div className={failing ? 'banner banner-bad' : 'banner'} role="status" aria-live="polite">
      <span className="spinner" aria-hidden="true" />
      <span className="banner-text">
        {conn.phase === 'connecting' ? 'Connecting to your node…' : 'Reconnecting…'}
        {secs > 0 && <span className="banner-sub"> retrying in {secs} s</span>}
        {failing && why && <Hint why={why} />}
      </span>
      {secs > 0 && (
        <button type="button" className="btn btn-small btn-ghost-light" onClick={() => controller.retry()}>
          Retry now
        </button>
      )}
    </div>
  );
}
