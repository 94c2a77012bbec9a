// A minimal external store around the reducer, read by React through
// useSyncExternalStore and by the controller directly.

import { type Action, type AppState, initialState, reducer } from './state';

export interface Store {
  getState(): AppState;
  dispatch(action: Action): void;
  subscribe(fn: () => void): () => void;
}

export function createStore(state: AppState = initialState): Store {
  const listeners = new Set<() => void>();
  return {
    getState: () => state,
    dispatch(action) {
      const next = reducer(state, action);
      if (next === state) return;
      state = next;
      for (const fn of [...listeners]) fn();
    },
    subscribe(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
  };
}
