import { type ReactElement, useState } from 'react';
import type { Peer } from '../api';
import { useApp } from '../context';
import { peerFiles, peerUploads } from '../selectors';
import { type AppState, emptyConversation } from '../state';
import { Composer } from './Composer';
import { ConversationHeader } from './ConversationHeader';
import { WarnIcon } from './Icons';
import { MessageList } from './MessageList';
import { SafetyPanel } from './SafetyPanel';

interface Props {
  state: AppState;
  peer: Peer;
  onMenu: () => void;
}

export function Conversation({ state, peer, onMenu }: Props): ReactElement {
  const { controller } = useApp();
  const [safety, setSafety] = useState(false);
  const conv = state.convs[peer.id] ?? emptyConversation;
  const connected = state.conn.phase === 'open';

  return (
    <section className="pane conv" aria-label={`Conversation with ${peer.name}`}>
      <ConversationHeader peer={peer} onMenu={onMenu} safetyOpen={safety} onToggleSafety={() => setSafety((s) => !s)} />
      {safety && <SafetyPanel peer={peer} me={state.me} connected={connected} onClose={() => setSafety(false)} />}
      {peer.name_conflict && (
        <div className="notice notice-warn" role="alert">
          <WarnIcon />
          <span>
            Another contact also calls itself “{peer.name}” — compare fingerprints before you trust
            this conversation.
          </span>
          {!safety && (
            <button type="button" className="btn btn-small btn-secondary" onClick={() => setSafety(true)}>
              Compare
            </button>
          )}
        </div>
      )}
      <MessageList
        peer={peer}
        conv={conv}
        files={peerFiles(state, peer.id)}
        uploads={peerUploads(state, peer.id)}
        onLoadOlder={() => controller.loadOlder(peer.id)}
      />
      {!peer.online && (
        <p className="notice notice-info">
          {peer.name} is offline — messages will be delivered when they’re back.
        </p>
      )}
      {conv.failed && (
        <p className="notice notice-error" role="alert">
          Message not sent: {conv.failed.error}
        </p>
      )}
      <Composer peer={peer} connected={connected} failed={conv.failed} />
    </section>
  );
}
