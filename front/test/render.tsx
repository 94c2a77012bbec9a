import { render } from '@testing-library/react';
import type { ReactElement } from 'react';
import { vi } from 'vitest';
import { Controller } from '../src/controller';
import { Ctx } from '../src/context';
import { createStore } from '../src/store';
import { PurrClient } from '../src/ws';
import { FakeSocket, factory } from './fakeSocket';

/** Renders `ui` with a real store and controller over a fake, opened socket. */
export function renderWithApp(ui: ReactElement, opts: { open?: boolean } = {}) {
  FakeSocket.reset();
  const store = createStore();
  const client = new PurrClient({ url: 'ws://x/ws', factory });
  const controller = new Controller(client, store, { visible: () => true, notify: vi.fn() });
  client.start();
  const sock = FakeSocket.last();
  if (opts.open !== false) sock.open();
  const r = render(<Ctx.Provider value={{ store, controller }}>{ui}</Ctx.Provider>);
  return { ...r, store, client, controller, sock };
}
