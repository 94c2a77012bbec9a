// The one WebSocket client of the UI: connects to the node's /ws, says `hello` on every
// open, parses and dispatches events, and reconnects with a doubling backoff
// (0.5 s, 1 s, 2 s … capped at 10 s; back to 0.5 s after a successful open).
//
// Sending while disconnected is REJECTED, not queued: `send` returns false and nothing
// is sent later. Every command of this API is either re-derived after a reconnect
// (`hello`, `history`, `read` are sent again by the app on open) or an explicit user
// action (`send`, `rename`, `connect`, `verify`) whose control is disabled while
// disconnected, so the user keeps their draft and sees why. A queue would instead fire
// stale actions later without the user knowing when.

import { type ClientCmd, type ServerEvent, parseEvent } from './api';

/** The part of the browser's WebSocket this client uses (a fake one in tests). */
export interface SocketLike {
  readonly readyState: number;
  onopen: ((ev: Event) => void) | null;
  onclose: ((ev: CloseEvent) => void) | null;
  onerror: ((ev: Event) => void) | null;
  onmessage: ((ev: MessageEvent) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export type SocketFactory = (url: string) => SocketLike;

export type ConnPhase = 'connecting' | 'open' | 'reconnecting' | 'stopped';

export interface ConnInfo {
  phase: ConnPhase;
  /** Closes in a row that happened before the socket ever opened (auth, node down). */
  failedOpens: number;
  /** When the next attempt starts (ms since epoch), while reconnecting. */
  retryAt: number | null;
}

export interface ClientOptions {
  url: string;
  factory?: SocketFactory;
  minDelay?: number;
  maxDelay?: number;
  log?: (msg: string) => void;
}

const OPEN = 1;

export const MIN_DELAY = 500;
export const MAX_DELAY = 10_000;

/** The UI socket's address: same origin as the page, so the auth cookie goes along. */
export function defaultUrl(loc: Location = window.location): string {
  return `${loc.protocol === 'https:' ? 'wss:' : 'ws:'}//${loc.host}/ws`;
}

export class PurrClient {
  private readonly url: string;
  private readonly factory: SocketFactory;
  private readonly minDelay: number;
  private readonly maxDelay: number;
  private readonly log: (msg: string) => void;
  private socket: SocketLike | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private delay: number;
  private info: ConnInfo = { phase: 'stopped', failedOpens: 0, retryAt: null };
  private readonly eventListeners = new Set<(ev: ServerEvent) => void>();
  private readonly connListeners = new Set<(info: ConnInfo) => void>();

  constructor(opts: ClientOptions) {
    this.url = opts.url;
    this.factory = opts.factory ?? ((url) => new WebSocket(url));
    this.minDelay = opts.minDelay ?? MIN_DELAY;
    this.maxDelay = opts.maxDelay ?? MAX_DELAY;
    this.log = opts.log ?? (() => {});
    this.delay = this.minDelay;
  }

  get conn(): ConnInfo {
    return this.info;
  }

  get isOpen(): boolean {
    return this.socket !== null && this.socket.readyState === OPEN && this.info.phase === 'open';
  }

  /** Starts connecting (idempotent). */
  start(): void {
    if (this.info.phase !== 'stopped') return;
    this.connect(true);
  }

  /** Closes the socket and stops reconnecting. */
  stop(): void {
    this.clearTimer();
    this.setInfo({ phase: 'stopped', failedOpens: 0, retryAt: null });
    const s = this.socket;
    this.socket = null;
    if (s) {
      detach(s);
      s.close(1000, 'bye');
    }
  }

  /** Skips the wait of a pending reconnect (the browser came back online, tab shown). */
  retryNow(): void {
    if (this.info.phase !== 'reconnecting') return;
    this.clearTimer();
    this.connect(false);
  }

  /** Sends a command; false (and nothing sent, ever) when the socket is not open. */
  send(cmd: ClientCmd): boolean {
    const s = this.socket;
    if (!s || s.readyState !== OPEN || this.info.phase !== 'open') return false;
    try {
      s.send(JSON.stringify(cmd));
      return true;
    } catch {
      return false;
    }
  }

  onEvent(fn: (ev: ServerEvent) => void): () => void {
    this.eventListeners.add(fn);
    return () => this.eventListeners.delete(fn);
  }

  onConn(fn: (info: ConnInfo) => void): () => void {
    this.connListeners.add(fn);
    return () => this.connListeners.delete(fn);
  }

  private connect(first: boolean): void {
    this.setInfo({ ...this.info, phase: first ? 'connecting' : 'reconnecting', retryAt: null });
    let s: SocketLike;
    try {
      s = this.factory(this.url);
    } catch (e) {
      this.log(`cannot create WebSocket: ${String(e)}`);
      this.socket = null;
      this.scheduleReconnect(false);
      return;
    }
    this.socket = s;
    let opened = false;
    s.onopen = () => {
      if (this.socket !== s) return;
      opened = true;
      this.delay = this.minDelay;
      // `hello` first, then the listeners: whatever they send (history, read) comes after.
      s.send(JSON.stringify({ cmd: 'hello' } satisfies ClientCmd));
      this.setInfo({ phase: 'open', failedOpens: 0, retryAt: null });
    };
    s.onmessage = (ev: MessageEvent) => {
      if (this.socket !== s || typeof ev.data !== 'string') return;
      const event = parseEvent(ev.data);
      if (!event) {
        this.log(`ignored a frame that is not a known event: ${ev.data.slice(0, 80)}`);
        return;
      }
      for (const fn of [...this.eventListeners]) fn(event);
    };
    s.onerror = () => {
      // A close event always follows; reconnecting is handled there.
    };
    s.onclose = () => {
      if (this.socket !== s) return;
      detach(s);
      this.scheduleReconnect(opened);
    };
  }

  private scheduleReconnect(hadOpened: boolean): void {
    if (this.info.phase === 'stopped') return;
    const wait = this.delay;
    this.delay = Math.min(this.delay * 2, this.maxDelay);
    this.setInfo({
      phase: 'reconnecting',
      failedOpens: hadOpened ? 0 : this.info.failedOpens + 1,
      retryAt: Date.now() + wait,
    });
    this.clearTimer();
    this.timer = setTimeout(() => {
      this.timer = null;
      this.connect(false);
    }, wait);
  }

  private clearTimer(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }

  private setInfo(info: ConnInfo): void {
    this.info = info;
    for (const fn of [...this.connListeners]) fn(info);
  }
}

function detach(s: SocketLike): void {
  s.onopen = null;
  s.onclose = null;
  s.onerror = null;
  s.onmessage = null;
}
