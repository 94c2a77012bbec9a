import { type ReactElement, useEffect, useState } from 'react';
import { useApp } from '../context';
import { ago, type DiagReport, fetchDiag } from '../lib/diag';
import type { AppState } from '../state';
import { PlugIcon } from './Icons';

/** `host:port`, `[v6]:port`: a cheap check before asking the node, which has the last word. */
const ADDR_RE = /^(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+):(\d{1,5})$/;

export function checkAddr(addr: string): string | null {
  const m = ADDR_RE.exec(addr);
  if (!m) return 'Use host:port, for example 192.168.1.20:35035.';
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return 'The port must be between 1 and 65535.';
  return null;
}

/** How often the form asks the node again how the addresses it was given fare. */
export const TARGETS_REFRESH_MS = 10_000;

type Target = DiagReport['targets'][number];

/**
 * "Connect to address": the `connect` command, its errors shown inline, and below it the
 * `--connect`/`--peers` addresses the node keeps trying that are not connected, each with
 * the reason of its last failure (issue 20: a failing configured target is never silent).
 */
export function ConnectForm({ state, fetcher }: { state: AppState; fetcher?: typeof fetch }): ReactElement {
  const { controller, store } = useApp();
  const [addr, setAddr] = useState('');
  const [localError, setLocalError] = useState<string | null>(null);
  const { pending, error, ok } = state.connect;
  const connected = state.conn.phase === 'open';
  const shown = localError ?? error;

  return (
    <section className="card" aria-labelledby="connect-heading">
      <h2 id="connect-heading" className="card-title">
        <PlugIcon /> Connect to a peer
      </h2>
      <p className="hint">
        {state.me?.discovery === false
          ? 'This node does not look for peers on the network (discovery is off): enter the address of each peer.'
          : 'purr finds peers on your local network by itself. For a peer it cannot see (another subnet, a VPN), enter its address.'}
      </p>
      <form
        className="connect-form"
        onSubmit={(e) => {
          e.preventDefault();
          const a = addr.trim();
          const bad = checkAddr(a);
          if (bad) return setLocalError(bad);
          setLocalError(null);
          if (!controller.connect(a)) setLocalError('Not connected to your node; try again in a moment.');
        }}
      >
        <label htmlFor="connect-addr" className="visually-hidden">
          Peer address (host:port)
        </label>
        <input
          id="connect-addr"
          className="input mono"
          placeholder="host:port"
          value={addr}
          autoComplete="off"
          spellCheck={false}
          inputMode="url"
          aria-invalid={shown ? true : undefined}
          aria-describedby={shown ? 'connect-error' : ok ? 'connect-ok' : undefined}
          onChange={(e) => {
            setAddr(e.target.value);
            setLocalError(null);
            if (error || ok) store.dispatch({ type: 'dismissConnect' });
          }}
        />
        <button type="submit" className="btn btn-primary" disabled={pending !== null || !connected || addr.trim() === ''}>
          {pending !== null ? 'Connecting…' : 'Connect'}
        </button>
      </form>
      {shown && (
        <p id="connect-error" className="field-error" role="alert">
          {shown}
        </p>
      )}
      {ok && !shown && (
        <p id="connect-ok" className="field-ok" role="status">
          {ok}
        </p>
      )}
      <FailingTargets fetcher={fetcher} />
    </section>
  );
}

/**
 * The configured targets that are not connected, from the node's diagnostic report
 * (`GET /api/v1/diag`), asked again every 10 s while the tab is visible. Shows nothing
 * while all of them are connected or when the report cannot be had: the Network page
 * says why in that case.
 */
export function FailingTargets({ fetcher }: { fetcher?: typeof fetch }): ReactElement | null {
  const [failing, setFailing] = useState<Target[]>([]);

  useEffect(() => {
    let alive = true;
    let busy = false;
    const load = async (): Promise<void> => {
      if (busy || (typeof document !== 'undefined' && document.visibilityState === 'hidden')) return;
      busy = true;
      const r = await fetchDiag(fetcher);
      busy = false;
      if (alive && r.ok) setFailing(r.report.targets.filter((t) => !t.online));
    };
    void load();
    const timer = setInterval(() => void load(), TARGETS_REFRESH_MS);
    return () => {
      alive = false;
      clearInterval(timer);
    };
  }, [fetcher]);

  if (failing.length === 0) return null;
  return (
    <div className="connect-targets" aria-labelledby="connect-targets-title">
      <h3 id="connect-targets-title" className="card-subtitle">
        Addresses you gave that are not connected
      </h3>
      <ul className="diag-list">
        {failing.map((t) => {
          const last = t.attempts[0];
          return (
            <li key={t.target} className="diag-item">
              <span className="mono">{t.target}</span>
              {': '}
              {last ? `${last.reason} (${ago(last.s_ago)} ago)` : 'not tried yet'}
              {t.backoff_s !== null && `; next try in ${ago(t.backoff_s)}`}
            </li>
          );
        })}
      </ul>
    </div>
  );
}
