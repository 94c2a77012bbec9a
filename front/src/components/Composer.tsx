import {
  type ClipboardEvent,
  type DragEvent,
  type KeyboardEvent,
  type ReactElement,
  useEffect,
  useLayoutEffect,
  useRef,
  useState,
} from 'react';
import { MAX_TEXT_BYTES } from '../api';
import { useApp } from '../context';
import { utf8Bytes } from '../lib/text';
import type { Conversation } from '../state';
import { ClipIcon, SendIcon } from './Icons';

/** The byte counter appears from this share of the limit on. */
const COUNTER_FROM = 0.9;
const MAX_HEIGHT = 200;

/** Drafts survive switching conversations (not reloads). */
const drafts = new Map<string, string>();

interface Props {
  /** Who the text goes to: a peer, or a group (drafts are kept per id). */
  peer: { id: string; name: string };
  connected: boolean;
  failed: Conversation['failed'];
  /** Sends the text; false when disconnected. Default: a 1:1 `send` to `peer`. */
  onSend?: (text: string) => boolean;
  /** No file button, drop or paste (groups carry no files yet). */
  noFiles?: boolean;
  /** Why nothing can be written here (a group we were removed from); null: enabled. */
  disabled?: string | null;
}

const fmt = new Intl.NumberFormat();

/** What is actually sent: no leading blank lines, no trailing whitespace. */
export function outgoing(text: string): string {
  return text.replace(/^(?:[ \t]*\r?\n)+/, '').trimEnd();
}

export function Composer({ peer, connected, failed, onSend, noFiles = false, disabled = null }: Props): ReactElement {
  const { controller } = useApp();
  const [text, setText] = useState(() => drafts.get(peer.id) ?? '');
  const [hint, setHint] = useState<string | null>(null);
  const area = useRef<HTMLTextAreaElement>(null);
  const bytes = utf8Bytes(text);
  const over = bytes > MAX_TEXT_BYTES;
  const body = outgoing(text);
  const canSend = connected && disabled === null && body !== '' && utf8Bytes(body) <= MAX_TEXT_BYTES;

  useEffect(() => {
    drafts.set(peer.id, text);
  }, [peer.id, text]);

  // A send the node refused: give the text back, unless the user already typed anew.
  useEffect(() => {
    if (failed) setText((t) => (t === '' ? failed.text : t));
  }, [failed]);

  useEffect(() => {
    if (connected) setHint(null);
  }, [connected]);

  // Grow with the text up to MAX_HEIGHT (CSSOM style: allowed by the node's CSP).
  useLayoutEffect(() => {
    const el = area.current;
    if (!el) return;
    el.style.height = 'auto';
    el.style.height = `${Math.min(el.scrollHeight, MAX_HEIGHT)}px`;
  }, [text]);

  // Focus the composer on desktop; on touch screens that would pop up the keyboard.
  useEffect(() => {
    if (typeof window.matchMedia === 'function' && !window.matchMedia('(pointer: fine)').matches) return;
    area.current?.focus({ preventScroll: true });
  }, [peer.id]);

  const send = (): void => {
    if (!canSend) {
      if (!connected && body !== '') setHint('Not connected to your node — your message is kept here until it is back.');
      return;
    }
    if (disabled !== null) return;
    if (onSend ? onSend(body) : controller.send(peer.id, body)) {
      setText('');
      setHint(null);
    } else {
      setHint('Not connected to your node — your message is kept here until it is back.');
    }
  };

  const onKeyDown = (e: KeyboardEvent<HTMLTextAreaElement>): void => {
    if (e.key === 'Enter' && !e.shiftKey && !e.altKey && !e.ctrlKey && !e.metaKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      send();
    }
  };

  // Files: the attach button, a drop on the composer, a paste of files (an image copied
  // from another program); each is uploaded to our node, which offers it.
  const picker = useRef<HTMLInputElement>(null);
  const [dragging, setDragging] = useState(false);
  const offer = (files: FileList | null | undefined): boolean => {
    if (!files || files.length === 0 || noFiles || disabled !== null) return false;
    if (!connected) {
      setHint('Not connected to your node — files can be sent once it is back.');
      return true;
    }
    controller.sendFiles(peer.id, Array.from(files));
    return true;
  };
  const hasFiles = (e: DragEvent): boolean => Array.from(e.dataTransfer?.types ?? []).includes('Files');
  const onPaste = (e: ClipboardEvent<HTMLTextAreaElement>): void => {
    if (e.clipboardData.files.length > 0 && offer(e.clipboardData.files)) e.preventDefault();
  };

  const showCounter = bytes >= MAX_TEXT_BYTES * COUNTER_FROM;
  return (
    <form
      className={dragging ? 'composer dragging' : 'composer'}
      onSubmit={(e) => {
        e.preventDefault();
        send();
      }}
      onDragOver={(e) => {
        if (!hasFiles(e)) return;
        e.preventDefault();
        setDragging(true);
      }}
      onDragLeave={() => setDragging(false)}
      onDrop={(e) => {
        setDragging(false);
        if (e.dataTransfer.files.length === 0) return;
        e.preventDefault();
        offer(e.dataTransfer.files);
      }}
    >
      {hint && (
        <p className="composer-hint" role="status">
          {hint}
        </p>
      )}
      <div className="composer-row">
        <input
          ref={picker}
          type="file"
          multiple
          hidden
          data-testid="file-picker"
          onChange={(e) => {
            offer(e.target.files);
            e.target.value = '';
          }}
        />
        {!noFiles && (
        <button
          type="button"
          className="attach-btn"
          aria-label="Attach files"
          title={connected ? 'Send files (or drop or paste them here)' : 'Not connected to your node'}
          disabled={!connected}
          onClick={() => picker.current?.click()}
        >
          <ClipIcon />
        </button>
        )}
        <textarea
          ref={area}
          className="composer-input"
          rows={1}
          value={text}
          placeholder={disabled ?? `Message ${peer.name}`}
          aria-label={`Message to ${peer.name}`}
          disabled={disabled !== null}
          aria-describedby={showCounter ? 'composer-counter' : undefined}
          aria-invalid={over ? true : undefined}
          onChange={(e) => setText(e.target.value)}
          onKeyDown={onKeyDown}
          onPaste={onPaste}
        />
        <button
          type="submit"
          className="send-btn"
          disabled={!canSend}
          aria-label="Send"
          title={disabled ?? (!connected ? 'Not connected to your node' : over ? 'Too long to send' : 'Send (Enter)')}
        >
          <SendIcon />
        </button>
      </div>
      {showCounter && (
        <p id="composer-counter" className={over ? 'counter over' : 'counter'} aria-live="polite">
          {fmt.format(bytes)} / {fmt.format(MAX_TEXT_BYTES)} bytes
          {over ? ` — ${fmt.format(bytes - MAX_TEXT_BYTES)} too many to send` : ''}
        </p>
      )}
    </form>
  );
}
