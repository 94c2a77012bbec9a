// A scriptable stand-in for the browser's WebSocket.
import type { SocketLike } from '../src/ws';

export class FakeSocket implements SocketLike {
  static all: FakeSocket[] = [];
  readyState = 0;
  sent: string[] = [];
  closed = false;
  onopen: ((ev: Event) => void) | null = null;
  onclose: ((ev: CloseEvent) => void) | null = null;
  onerror: ((ev: Event) => void) | null = null;
  onmessage: ((ev: MessageEvent) => void) | null = null;

  constructor(public url: string) {
    FakeSocket.all.push(this);
  }

  static reset(): void {
    FakeSocket.all = [];
  }

  static last(): FakeSocket {
    const s = FakeSocket.all[FakeSocket.all.length - 1];
    if (!s) throw new Error('no socket yet');
    return s;
  }

  send(data: string): void {
    if (this.readyState !== 1) throw new Error('InvalidStateError: not open');
    this.sent.push(data);
  }

  close(): void {
    this.closed = true;
    this.readyState = 3;
  }

  /** Commands sent, parsed. */
  cmds(): Record<string, unknown>[] {
    return this.sent.map((s) => JSON.parse(s) as Record<string, unknown>);
  }

  // ---- Driven by the test ----
  open(): void {
    this.readyState = 1;
    this.onopen?.(new Event('open'));
  }

  /** The server closes (or the connection fails before opening). */
  fail(): void {
    this.readyState = 3;
    this.onerror?.(new Event('error'));
    this.onclose?.(new CloseEvent('close', { code: 1006 }));
  }

  receive(obj: unknown): void {
    this.onmessage?.(new MessageEvent('message', { data: typeof obj === 'string' ? obj : JSON.stringify(obj) }));
  }
}

export const factory = (url: string): FakeSocket => new FakeSocket(url);
