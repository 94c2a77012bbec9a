// The controller and store, handed to components through one React context.

import { createContext, useContext, useSyncExternalStore } from 'react';
import type { Controller } from './controller';
import type { AppState } from './state';
import type { Store } from './store';

export interface AppCtx {
  store: Store;
  controller: Controller;
}

export const Ctx = createContext<AppCtx | null>(null);

export function useApp(): AppCtx {
  const ctx = useContext(Ctx);
  if (!ctx) throw new Error('useApp outside <Ctx.Provider>');
  return ctx;
}

export function useAppState(): AppState {
  const { store } = useApp();
  return useSyncExternalStore(store.subscribe, store.getState);
}
