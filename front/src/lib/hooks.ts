import { useEffect, useState, useSyncExternalStore } from 'react';

/** The current time, refreshed every `ms` (for "5 min ago" labels). */
export function useNow(ms = 30_000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}

/** The phone layout (peer list as a drawer); matches the breakpoint in styles.css. */
export const NARROW_QUERY = '(max-width: 720px)';

function subscribeNarrow(fn: () => void): () => void {
  if (typeof window.matchMedia !== 'function') return () => {};
  const mq = window.matchMedia(NARROW_QUERY);
  mq.addEventListener('change', fn);
  return () => mq.removeEventListener('change', fn);
}

const isNarrow = (): boolean => typeof window.matchMedia === 'function' && window.matchMedia(NARROW_QUERY).matches;

export function useNarrow(): boolean {
  return useSyncExternalStore(subscribeNarrow, isNarrow, () => false);
}
