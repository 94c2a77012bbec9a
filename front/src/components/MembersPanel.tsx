import { type FormEvent, type ReactElement, useState } from 'react';
import { type Group, MAX_NAME_CHARS, type Peer } from '../api';
import { useApp } from '../context';
import { memberOnline, nameOf } from '../groups';
import type { GroupForm } from '../state';
import { Avatar } from './Avatar';
import { CloseIcon, PencilIcon, PlusIcon } from './Icons';

interface Props {
  group: Group;
  me: string | undefined;
  peers: Record<string, Peer>;
  connected: boolean;
  rename: GroupForm;
  onInvite: () => void;
  onClose: () => void;
}

/** The roster: online dots, the owner marked; the owner invites, removes and renames
 * here, the others can leave. A removal or leave asks once more, inline. */
export function MembersPanel({ group, me, peers, connected, rename, onInvite, onClose }: Props): ReactElement {
  const { controller } = useApp();
  const [confirm, setConfirm] = useState<string | null>(null);
  const [editing, setEditing] = useState(false);
  const [name, setName] = useState(group.name);
  const owner = group.owner === me;
  const active = group.phase === 'member';
  const members = [...group.members].sort(
    (a, b) =>
      Number(b.id === group.owner) - Number(a.id === group.owner) ||
      Number(b.id === me) - Number(a.id === me) ||
      nameOf(a.id, group, peers, me).localeCompare(nameOf(b.id, group, peers, me)),
  );

  const submitRename = (e: FormEvent): void => {
    e.preventDefault();
    const n = name.trim();
    if (n === '' || [...n].length > MAX_NAME_CHARS || n === group.name) return;
    if (controller.renameGroup(group.id, n)) setEditing(false);
  };

  return (
    <div id="members-panel" className="members" role="region" aria-label={`Members of ${group.name}`}>
      <button type="button" className="icon-btn safety-close" aria-label="Close" onClick={onClose}>
        <CloseIcon />
      </button>
      <h2 className="members-title">
        {group.members.length} {group.members.length === 1 ? 'member' : 'members'}
      </h2>
      {owner && active && (
        <div className="members-actions">
          <button type="button" className="btn btn-small btn-secondary" disabled={!connected} onClick={onInvite}>
            <PlusIcon /> Invite
          </button>
          {!editing && (
            <button
              type="button"
              className="btn btn-small btn-secondary"
              disabled={!connected}
              onClick={() => {
                setName(group.name);
                setEditing(true);
              }}
            >
              <PencilIcon /> Rename
            </button>
          )}
        </div>
      )}
      {editing && (
        <form className="rename-form members-rename" onSubmit={submitRename}>
          <input
            className="input"
            aria-label="Group name"
            value={name}
            maxLength={MAX_NAME_CHARS * 2}
            aria-invalid={[...name.trim()].length > MAX_NAME_CHARS ? true : undefined}
            onChange={(e) => setName(e.target.value)}
          />
          <button type="submit" className="btn btn-small btn-primary" disabled={!connected}>
            Save
          </button>
          <button type="button" className="btn btn-small btn-secondary" onClick={() => setEditing(false)}>
            Cancel
          </button>
        </form>
      )}
      {rename.error && (
        <p className="field-error" role="alert">
          Not renamed: {rename.error}
        </p>
      )}
      <ul className="member-list">
        {members.map((m) => {
          const n = nameOf(m.id, group, peers, me);
          const online = memberOnline(m.id, group, peers, me);
          return (
            <li key={m.id} className="member" data-member={m.id}>
              <Avatar id={m.id} name={m.name || n} size="sm" online={online} />
              <span className="member-name">
                {n}
                {m.id === group.owner && <span className="owner-tag">owner</span>}
              </span>
              <span className="visually-hidden">{online ? 'online' : 'offline'}</span>
              {owner && active && m.id !== me && (
                <button
                  type="button"
                  className={confirm === m.id ? 'btn btn-small btn-danger' : 'btn btn-small btn-secondary'}
                  disabled={!connected}
                  aria-label={confirm === m.id ? `Confirm: remove ${n}` : `Remove ${n}`}
                  onClick={() => {
                    if (confirm !== m.id) return setConfirm(m.id);
                    controller.removeFromGroup(group.id, m.id);
                    setConfirm(null);
                  }}
                >
                  {confirm === m.id ? 'Remove?' : 'Remove'}
                </button>
              )}
            </li>
          );
        })}
      </ul>
      {!owner && active && (
        <button
          type="button"
          className={confirm === 'leave' ? 'btn btn-small btn-danger' : 'btn btn-small btn-secondary'}
          disabled={!connected}
          onClick={() => {
            if (confirm !== 'leave') return setConfirm('leave');
            controller.leaveGroup(group.id);
            setConfirm(null);
          }}
        >
          {confirm === 'leave' ? 'Leave for good?' : 'Leave group'}
        </button>
      )}
    </div>
  );
}
