import { type ReactElement, memo } from 'react';
import { useApp } from '../context';
import { humanBytes, humanSeconds } from '../files';
import { clock, fullDate } from '../lib/time';
import { type FileItem, MOVING, type Upload, secondsLeft } from '../state';

/** What the bubble says under the name, by state and direction (docs/UI.md). */
export function fileStatus(f: FileItem): string {
  const { t } = f;
  const own = t.direction === 'out';
  switch (t.state) {
    case 'offered':
      return own ? 'Waiting for them to accept' : 'Offered to you';
    case 'preparing':
      return 'Starting…';
    case 'paused':
      if (t.pausedByUser) return 'Paused';
      return own ? 'Paused — they are offline' : 'Paused — the sender is offline';
    case 'verifying':
      return 'Checking…';
    case 'done':
      return own ? 'Sent' : 'Received';
    case 'ended':
      return t.reason ? `Failed: ${t.reason}` : 'Failed';
    default: {
      const parts = [own ? 'Sending' : 'Receiving'];
      if (f.rate !== null) parts.push(`${humanBytes(Math.round(f.rate))}/s`);
      const left = secondsLeft(f);
      if (left !== null) parts.push(`${humanSeconds(left)} left`);
      return parts.join(' · ');
    }
  }
}

const api = (id: string, part: 'thumb' | 'content'): string => `/api/v1/files/${encodeURIComponent(id)}/${part}`;

interface Props {
  file: FileItem;
}

/** One file in a conversation: preview, name, size, progress, and what can be done. */
export const FileBubble = memo(function FileBubble({ file }: Props): ReactElement {
  const { controller } = useApp();
  const { t } = file;
  const own = t.direction === 'out';
  const done = t.state === 'done';
  const ended = t.state === 'ended';
  const pct = t.size > 0 ? Math.floor((t.bytes * 100) / t.size) : done ? 100 : 0;
  // The node says whether it has the bytes: theirs once all arrived; ours while it goes
  // (an upload copy is deleted once delivered, then only the preview is left).
  const viewable = t.content;
  const image = t.mime.startsWith('image/');
  const preview = t.thumb ? <img className="file-thumb" src={api(t.id, 'thumb')} alt={`Preview of ${t.name}`} /> : null;
  return (
    <div className={`msg file ${own ? 'own' : 'theirs'} first last${ended ? ' file-ended' : ''}`} data-id={t.id}>
      <div className="bubble">
        {preview &&
          (viewable && image ? (
            <a href={api(t.id, 'content')} target="_blank" rel="noopener noreferrer" title="Open the full image">
              {preview}
            </a>
          ) : (
            preview
          ))}
        <span className="file-name">
          {viewable ? (
            <a href={api(t.id, 'content')} target="_blank" rel="noopener noreferrer" download={image ? undefined : t.name}>
              {t.name}
            </a>
          ) : (
            t.name
          )}
        </span>
        <span className="file-size">{humanBytes(t.size)}</span>
        {t.caption && <span className="file-caption">{t.caption}</span>}
        {!done && !ended && t.state !== 'offered' && (
          <progress className="file-progress" max={100} value={pct} aria-label={`${t.name}: ${pct}%`} />
        )}
        <span className={ended ? 'file-status file-error' : 'file-status'} role={ended ? 'alert' : undefined}>
          {fileStatus(file)}
          {MOVING.includes(t.state) ? ` · ${pct}%` : ''}
        </span>
        <span className="file-actions">
          {!own && t.state === 'offered' && (
            <>
              <button type="button" className="btn btn-small" onClick={() => controller.acceptFile(t.id)}>
                Accept
              </button>
              <button type="button" className="btn btn-small btn-secondary" onClick={() => controller.declineFile(t.id)}>
                Decline
              </button>
            </>
          )}
          {!own && t.state === 'receiving' && (
            <button type="button" className="btn btn-small btn-secondary" onClick={() => controller.pauseFile(t.id)}>
              Pause
            </button>
          )}
          {!own && t.state === 'paused' && t.pausedByUser && (
            <button type="button" className="btn btn-small" onClick={() => controller.resumeFile(t.id)}>
              Resume
            </button>
          )}
          {!done && !ended && (own || t.state !== 'offered') && (
            <button type="button" className="btn btn-small btn-secondary" onClick={() => controller.cancelFile(t.id)}>
              Cancel
            </button>
          )}
        </span>
        <span className="meta">
          <time dateTime={new Date(t.created).toISOString()} title={fullDate(t.created)}>
            {clock(t.created)}
          </time>
        </span>
      </div>
    </div>
  );
});

/** A file this browser is still handing to its node. */
export function UploadBubble({ upload: u }: { upload: Upload }): ReactElement {
  const { controller } = useApp();
  const pct = u.size > 0 ? Math.floor((u.loaded * 100) / u.size) : 0;
  return (
    <div className={`msg file own first last${u.error ? ' file-ended' : ''}`}>
      <div className="bubble">
        <span className="file-name">{u.name}</span>
        <span className="file-size">{humanBytes(u.size)}</span>
        {u.caption && <span className="file-caption">{u.caption}</span>}
        {u.error ? (
          <>
            <span className="file-status file-error" role="alert">
              Not sent: {u.error}
            </span>
            <span className="file-actions">
              <button type="button" className="btn btn-small btn-secondary" onClick={() => controller.dismissUpload(u.key)}>
                Dismiss
              </button>
            </span>
          </>
        ) : (
          <>
            <progress className="file-progress" max={100} value={pct} aria-label={`${u.name}: ${pct}%`} />
            <span className="file-status">Preparing · {pct}%</span>
          </>
        )}
      </div>
    </div>
  );
}
