import { type ReactElement, useEffect, useRef, useState } from 'react';
import { MAX_NAME_CHARS } from '../api';
import { useApp } from '../context';
import type { AppState } from '../state';
import { Avatar } from './Avatar';
import { ConnectForm } from './ConnectForm';
import { Fingerprint } from './Fingerprint';
import { PencilIcon } from './Icons';
import { TopBar } from './TopBar';

/** The "me" screen: who this node is (name, fingerprint, port) and connect-by-address. */
export function MePanel({ state, onMenu, onNetwork }: { state: AppState; onMenu: () => void; onNetwork?: () => void }): ReactElement {
  const me = state.me;
  const peers = Object.keys(state.peers).length;
  return (
    <div className="pane me-pane">
      <TopBar onMenu={onMenu}>
        <h1 className="topbar-title network-title">Me</h1>
        {onNetwork && (
          <button type="button" className="btn btn-small btn-secondary" onClick={onNetwork} title="Why can't I see my peer?">
            Network
          </button>
        )}
      </TopBar>
      <div className="pane-scroll">
        <div className="me-content">
          <section className="card me-card" aria-labelledby="me-heading">
            <h2 id="me-heading" className="visually-hidden">
              This node
            </h2>
            {me ? <Avatar id={me.id} name={me.name} size="lg" /> : <span className="avatar avatar-lg skeleton" />}
            <NameEditor state={state} />
            <dl className="facts">
              <div>
                <dt>Fingerprint</dt>
                <dd>{me ? <Fingerprint value={me.fingerprint} label="Your fingerprint" /> : '…'}</dd>
              </div>
              <div>
                <dt>Port</dt>
                <dd className="mono">{me ? me.port : '…'}</dd>
              </div>
              <div>
                <dt>Id</dt>
                <dd className="mono id-hex">{me ? me.id : '…'}</dd>
              </div>
            </dl>
            <p className="hint">
              Contacts see this fingerprint next to your name. Read it to them over a channel you
              trust so they can mark you as verified.
            </p>
          </section>
          <ConnectForm state={state} />
          {peers > 0 && state.open === null && (
            <p className="hint center">Pick a conversation from the list to start chatting.</p>
          )}
        </div>
      </div>
    </div>
  );
}

function NameEditor({ state }: { state: AppState }): ReactElement {
  const { controller } = useApp();
  const [editing, setEditing] = useState(false);
  const [value, setValue] = useState('');
  const [localError, setLocalError] = useState<string | null>(null);
  const [submitted, setSubmitted] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  const name = state.me?.name ?? '';
  const { pending, error } = state.rename;
  const connected = state.conn.phase === 'open';

  // Leave edit mode once the node has answered without an error (its `me` event).
  useEffect(() => {
    if (submitted && !pending) {
      setSubmitted(false);
      if (error === null) setEditing(false);
    }
  }, [submitted, pending, error]);

  useEffect(() => {
    if (editing) input.current?.select();
  }, [editing]);

  if (!editing) {
    return (
      <div className="name-row">
        <span className="me-name">{name || '…'}</span>
        <button
          type="button"
          className="icon-btn"
          aria-label="Rename"
          title="Rename"
          disabled={!state.me}
          onClick={() => {
            setValue(name);
            setLocalError(null);
            setEditing(true);
          }}
        >
          <PencilIcon />
        </button>
      </div>
    );
  }

  const submit = (): void => {
    const v = value.trim();
    const chars = [...v].length;
    if (chars === 0) return setLocalError('A name cannot be empty.');
    if (chars > MAX_NAME_CHARS) return setLocalError(`At most ${MAX_NAME_CHARS} characters.`);
    if (v === name) return setEditing(false);
    setLocalError(null);
    if (controller.rename(v)) setSubmitted(true);
    else setLocalError('Not connected to your node; try again in a moment.');
  };
  const shown = localError ?? error;
  return (
    <form
      className="rename-form"
      onSubmit={(e) => {
        e.preventDefault();
        submit();
      }}
    >
      <label htmlFor="rename-input" className="visually-hidden">
        Your display name
      </label>
      <input
        id="rename-input"
        ref={input}
        className="input"
        value={value}
        maxLength={MAX_NAME_CHARS * 2}
        autoComplete="off"
        aria-invalid={shown ? true : undefined}
        aria-describedby={shown ? 'rename-error' : undefined}
        disabled={pending}
        onChange={(e) => setValue(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === 'Escape') {
            e.stopPropagation();
            setEditing(false);
          }
        }}
      />
      <div className="row-buttons">
        <button type="submit" className="btn btn-primary" disabled={pending || !connected}>
          {pending ? 'Saving…' : 'Save'}
        </button>
        <button type="button" className="btn btn-secondary" onClick={() => setEditing(false)}>
          Cancel
        </button>
      </div>
      {shown && (
        <p id="rename-error" className="field-error" role="alert">
          {shown}
        </p>
      )}
    </form>
  );
}
