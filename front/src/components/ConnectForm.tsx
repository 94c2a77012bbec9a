import { type ReactElement, useState } from 'react';
import { useApp } from '../context';
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

/** "Connect to address": the `connect` command, its errors shown inline. */
export function ConnectForm({ state }: { state: AppState }): ReactElement {
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
    </section>
  );
}
