import { type ReactElement, useEffect, useRef, useState } from 'react';
import { MAX_GROUP_MEMBERS, MAX_NAME_CHARS, type Peer } from '../api';
import { useApp } from '../context';
import { Avatar } from './Avatar';
import { Fingerprint } from './Fingerprint';
import { CloseIcon, ShieldCheckIcon, WarnIcon } from './Icons';

/**
 * Contacts to pick, each with its fingerprint; the unverified ones are flagged, since
 * inviting someone whose key was never compared invites whoever holds that key.
 */
export function ContactPicker({
  contacts,
  picked,
  onToggle,
}: {
  contacts: Peer[];
  picked: ReadonlySet<string>;
  onToggle: (id: string) => void;
}): ReactElement {
  if (contacts.length === 0) {
    return <p className="hint">No contacts to add — message someone first; only contacts can be invited.</p>;
  }
  return (
    <ul className="pick-list" aria-label="Contacts">
      {contacts.map((p) => (
        <li key={p.id}>
          <label className={picked.has(p.id) ? 'pick picked' : 'pick'}>
            <input type="checkbox" checked={picked.has(p.id)} onChange={() => onToggle(p.id)} aria-label={`${p.name}${p.verified ? ', verified' : ', not verified'}`} />
            <Avatar id={p.id} name={p.name} size="sm" online={p.online} />
            <span className="pick-body">
              <span className="pick-name">
                {p.name}
                {p.verified ? (
                  <span className="pick-verified" title="You verified this contact's fingerprint">
                    <ShieldCheckIcon /> verified
                  </span>
                ) : (
                  <span className="pick-unverified" title="You have not compared this contact's fingerprint yet">
                    <WarnIcon /> unverified
                  </span>
                )}
                {p.name_conflict && (
                  <span className="pick-unverified" title="Another contact uses the same name: tell them apart by fingerprint">
                    <WarnIcon /> same name as another
                  </span>
                )}
              </span>
              <Fingerprint value={p.fingerprint} />
            </span>
          </label>
        </li>
      ))}
    </ul>
  );
}

interface Props {
  /** `create`: a name and members; `invite`: members for an existing group. */
  mode: 'create' | 'invite';
  /** For `invite`: the group's id and name. */
  group?: { id: string; name: string };
  contacts: Peer[];
  /** Members already in (not offered again), counted against the limit. */
  members?: number;
  connected: boolean;
  /** The node's answer to `group_create`. */
  pending?: boolean;
  error?: string | null;
  onClose: () => void;
}

/** The "New group" and "Invite" dialogs: modal, Escape or the scrim closes them. */
export function GroupDialog({ mode, group, contacts, members = 1, connected, pending = false, error = null, onClose }: Props): ReactElement {
  const { controller } = useApp();
  const [name, setName] = useState('');
  const [picked, setPicked] = useState<Set<string>>(() => new Set());
  const [asked, setAsked] = useState(false);
  const first = useRef<HTMLInputElement>(null);
  const chars = [...name.trim()].length;
  const room = MAX_GROUP_MEMBERS - members;
  const tooMany = picked.size > room;
  const nameOk = mode === 'invite' || (chars >= 1 && chars <= MAX_NAME_CHARS);
  const canSubmit = connected && !pending && nameOk && picked.size > 0 && !tooMany;

  useEffect(() => {
    first.current?.focus();
    // Captured and stopped: Escape closes the dialog only, not the phone drawer under it.
    const onKey = (e: KeyboardEvent): void => {
      if (e.key !== 'Escape') return;
      e.stopPropagation();
      onClose();
    };
    window.addEventListener('keydown', onKey, true);
    return () => window.removeEventListener('keydown', onKey, true);
  }, [onClose]);

  // Created: the node's `group` event ended the wait without an error (and opened it).
  useEffect(() => {
    if (asked && !pending && error === null) onClose();
  }, [asked, pending, error, onClose]);

  const toggle = (id: string): void =>
    setPicked((s) => {
      const n = new Set(s);
      if (!n.delete(id)) n.add(id);
      return n;
    });

  const submit = (): void => {
    if (!canSubmit) return;
    if (mode === 'create') {
      if (controller.createGroup(name.trim(), [...picked])) setAsked(true);
    } else if (group && controller.inviteToGroup(group.id, [...picked])) {
      onClose();
    }
  };

  const title = mode === 'create' ? 'New group' : `Invite to ${group?.name ?? 'the group'}`;
  return (
    <div className="dialog-scrim" onClick={onClose}>
      <div className="dialog" role="dialog" aria-modal="true" aria-labelledby="group-dialog-title" onClick={(e) => e.stopPropagation()}>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            submit();
          }}
        >
          <header className="dialog-head">
            <h2 id="group-dialog-title">{title}</h2>
            <button type="button" className="icon-btn" aria-label="Close" onClick={onClose}>
              <CloseIcon />
            </button>
          </header>
          {mode === 'create' && (
            <label className="field">
              <span className="field-label">Name</span>
              <input
                ref={first}
                id="group-name"
                className="input"
                value={name}
                maxLength={MAX_NAME_CHARS * 2}
                placeholder="e.g. Lab 3"
                aria-invalid={chars > MAX_NAME_CHARS ? true : undefined}
                onChange={(e) => setName(e.target.value)}
              />
              {chars > MAX_NAME_CHARS && <span className="field-error">At most {MAX_NAME_CHARS} characters.</span>}
            </label>
          )}
          <div className="field">
            <span className="field-label">
              {mode === 'create' ? 'Members' : 'Contacts'} {picked.size > 0 && `· ${picked.size} picked`}
            </span>
            <ContactPicker contacts={contacts} picked={picked} onToggle={toggle} />
            {tooMany && <span className="field-error">A group has at most {MAX_GROUP_MEMBERS} members, you included.</span>}
          </div>
          {[...picked].some((id) => contacts.find((c) => c.id === id && !c.verified)) && (
            <p className="hint dialog-warn">
              <WarnIcon /> Some of them are not verified: compare fingerprints with them first to be sure who you invite.
            </p>
          )}
          {error && (
            <p id="group-dialog-error" className="field-error" role="alert">
              {error}
            </p>
          )}
          <footer className="dialog-foot">
            <button type="button" className="btn btn-secondary" onClick={onClose}>
              Cancel
            </button>
            <button type="submit" className="btn btn-primary" disabled={!canSubmit}>
              {pending ? 'Creating…' : mode === 'create' ? 'Create group' : 'Invite'}
            </button>
          </footer>
        </form>
      </div>
    </div>
  );
}
