import { type ReactElement, useCallback, useEffect, useRef, useState } from 'react';
import { type DiagReport, fetchDiag } from '../lib/diag';
import type { AppState } from '../state';
import '../styles/network.css';
import { DiagView } from './DiagView';
import { TopBar } from './TopBar';

/** How often the open page asks again, while the tab is visible. */
export const REFRESH_MS = 5000;

interface Props {
  state: AppState;
  onMenu: () => void;
  onClose: () => void;
  /** For tests: the fetch to use. */
  fetcher?: typeof fetch;
}

/**
 * The Network page ("Why can't I see my peer?", issue 20): the node's `GET
 * /api/v1/diag` — the checks `purr doctor` prints and the facts behind them — refreshed
 * every 5 s while the page is open and the tab visible, and by its button.
 */
export function NetworkPage({ state, onMenu, onClose, fetcher }: Props): ReactElement {
  // The last report stays on screen when a refresh fails; the error shows above it.
  const [report, setReport] = useState<DiagReport | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const [at, setAt] = useState<number | null>(null);
  const alive = useRef(true);
  const busy = useRef(false);

  const refresh = useCallback(async () => {
    // One request at a time: a slow node is not asked again before it answered.
    if (busy.current) return;
    busy.current = true;
    setLoading(true);
    const r = await fetchDiag(fetcher);
    busy.current = false;
    if (!alive.current) return;
    if (r.ok) {
      setReport(r.report);
      setError(null);
    } else {
      setError(r.error);
    }
    setLoading(false);
    setAt(Date.now());
  }, [fetcher]);

  useEffect(() => {
    alive.current = true;
    void refresh();
    const visible = (): boolean => typeof document === 'undefined' || document.visibilityState !== 'hidden';
    const timer = setInterval(() => {
      if (visible()) void refresh();
    }, REFRESH_MS);
    const onVisible = (): void => {
      if (visible()) void refresh();
    };
    document.addEventListener('visibilitychange', onVisible);
    return () => {
      alive.current = false;
      clearInterval(timer);
      document.removeEventListener('visibilitychange', onVisible);
    };
  }, [refresh]);

  return (
    <div className="pane network-pane">
      <TopBar onMenu={onMenu}>
        <h1 className="topbar-title network-title">Network</h1>
        <button type="button" className="btn btn-small btn-secondary" onClick={() => void refresh()} disabled={loading}>
          {loading ? 'Checking…' : 'Refresh'}
        </button>
        <button type="button" className="btn btn-small btn-secondary" onClick={onClose}>
          Close
        </button>
      </TopBar>
      <div className="pane-scroll">
        <div className="network-content">
          <p className="hint">
            Why can&apos;t I see my peer? What your node knows about finding and reaching peers, the same checks as{' '}
            <code>purr doctor</code>. Updated every {REFRESH_MS / 1000} s while open
            {at !== null && <span className="visually-hidden"> (last at {new Date(at).toLocaleTimeString()})</span>}.
          </p>
          {error && (
            <p className="field-error" role="alert">
              {error}
            </p>
          )}
          {report ? (
            <DiagView report={report} peers={state.peers} />
          ) : (
            !error && (
              <p className="diag-empty" role="status">
                Asking your node…
              </p>
            )
          )}
        </div>
      </div>
    </div>
  );
}
