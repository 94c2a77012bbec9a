import { type ReactElement, useCallback, useState } from 'react';
import type { Group } from '../api';
import { useApp } from '../context';
import { nameOf, onlineCount, phaseNotice } from '../groups';
import { contacts } from '../selectors';
import { type AppState, emptyGroupConv } from '../state';
import { Avatar } from './Avatar';
import { Composer } from './Composer';
import { GroupDialog } from './GroupDialog';
import { GroupMessageList } from './GroupMessageList';
import { UsersIcon } from './Icons';
import { MembersPanel } from './MembersPanel';
import { TopBar } from './TopBar';

interface Props {
  state: AppState;
  group: Group;
  onMenu: () => void;
}

/** A group's screen: header with the roster, the log, and the composer — or, when we
 * are not (or no longer) a member, why not. */
export function GroupConversation({ state, group, onMenu }: Props): ReactElement {
  const { controller } = useApp();
  const [membersOpen, setMembersOpen] = useState(false);
  const [inviting, setInviting] = useState(false);
  const closeInvite = useCallback(() => setInviting(false), []);
  const me = state.me?.id;
  const connected = state.conn.phase === 'open';
  const conv = state.gconvs[group.id] ?? emptyGroupConv;
  const name = (id: string): string => nameOf(id, group, state.peers, me);
  const { online, total } = onlineCount(group, state.peers, me);
  const notice = phaseNotice(group, name);
  const member = group.phase === 'member';
  const inRoster = new Set(group.members.map((m) => m.id));

  return (
    <section className="pane conv group-conv" aria-label={`Group ${group.name}`}>
      <TopBar onMenu={onMenu}>
        <Avatar id={group.id} name={group.name} group />
        <div className="conv-title">
          <h1 className="conv-name">
            <span className="conv-name-text">{group.name}</span>
          </h1>
          <p className="presence">{member ? `${online}/${total} online` : (notice ?? '')}</p>
        </div>
        {total > 0 && (
          <button
            type="button"
            className={membersOpen ? 'fp-btn open' : 'fp-btn'}
            aria-expanded={membersOpen}
            aria-controls="members-panel"
            aria-label={`Members of ${group.name}`}
            title="Members"
            onClick={() => setMembersOpen((o) => !o)}
          >
            <UsersIcon />
            <span>{total}</span>
          </button>
        )}
      </TopBar>
      {membersOpen && total > 0 && (
        <MembersPanel
          group={group}
          me={me}
          peers={state.peers}
          connected={connected}
          rename={state.groupRename}
          onInvite={() => setInviting(true)}
          onClose={() => setMembersOpen(false)}
        />
      )}
      {group.phase === 'invited' ? (
        <div className="invitation">
          <Avatar id={group.id} name={group.name} size="lg" group />
          <p>
            <strong>{name(group.owner)}</strong> invited you to <strong>{group.name}</strong>.
          </p>
          <p className="hint">
            Accepting lets its members see your name and what you write here; you will see who is in it and what they write.
          </p>
          <div className="invite-actions">
            <button type="button" className="btn btn-primary" disabled={!connected} onClick={() => controller.acceptGroup(group.id)}>
              Accept
            </button>
            <button type="button" className="btn btn-secondary" disabled={!connected} onClick={() => controller.declineGroup(group.id)}>
              Decline
            </button>
          </div>
        </div>
      ) : (
        <GroupMessageList
          group={group}
          conv={conv}
          me={me}
          peers={state.peers}
          onLoadOlder={() => controller.loadOlderGroup(group.id)}
        />
      )}
      {notice && group.phase !== 'invited' && (
        <p className={group.phase === 'removed' ? 'notice notice-error group-notice' : 'notice notice-info group-notice'} role="status">
          {notice}
        </p>
      )}
      {conv.failed && (
        <p className="notice notice-error" role="alert">
          Message not sent: {conv.failed.error}
        </p>
      )}
      {group.phase !== 'invited' && (
        <Composer
          peer={group}
          connected={connected}
          failed={conv.failed}
          noFiles
          disabled={member ? null : (notice ?? 'Not a member')}
          onSend={(text) => controller.sendToGroup(group.id, text)}
        />
      )}
      {inviting && (
        <GroupDialog
          mode="invite"
          group={group}
          contacts={contacts(state).filter((p) => !inRoster.has(p.id))}
          members={group.members.length}
          connected={connected}
          onClose={closeInvite}
        />
      )}
    </section>
  );
}
