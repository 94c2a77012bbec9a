// The scrolling behaviour of a message log, shared by 1:1 and group conversations: stay
// pinned to the bottom while the user is there, keep the visible messages in place when
// an older page is prepended, count new messages that arrive while scrolled up, and ask
// for the older page near the top (or when the loaded page does not fill the view).

import { type RefObject, useCallback, useLayoutEffect, useRef, useState } from 'react';

/** Start fetching the older page this close to the top. */
const LOAD_MARGIN = 400;
/** "At the bottom" tolerance for sticking to new messages. */
const STICK_MARGIN = 80;

interface Options<T extends { id: string }> {
  items: T[];
  /** Ours: scrolled to even when the user is further up. */
  isOwn: (item: T) => boolean;
  complete: boolean;
  loading: boolean;
  onLoadOlder: () => void;
}

export interface LogScroll {
  scroller: RefObject<HTMLDivElement | null>;
  /** True while the view is at the bottom (read by other effects). */
  atBottom: RefObject<boolean>;
  onScroll: () => void;
  /** New messages below the view. */
  unseen: number;
  toBottom: () => void;
}

export function useLogScroll<T extends { id: string }>({ items, isOwn, complete, loading, onLoadOlder }: Options<T>): LogScroll {
  const scroller = useRef<HTMLDivElement>(null);
  const atBottom = useRef(true);
  const prev = useRef<{ first?: string; last?: string; height: number; top: number }>({ height: 0, top: 0 });
  const [unseen, setUnseen] = useState(0);

  const maybeLoad = useCallback(() => {
    const el = scroller.current;
    if (!el || complete || loading || items.length === 0) return;
    if (el.scrollTop < LOAD_MARGIN) onLoadOlder();
  }, [complete, loading, items.length, onLoadOlder]);

  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const first = items[0]?.id;
    const last = items[items.length - 1]?.id;
    const p = prev.current;
    if (p.last === undefined || !atBottom.current) {
      if (p.last === undefined) {
        el.scrollTop = el.scrollHeight;
      } else if (first !== p.first && last === p.last) {
        // An older page went on top: keep what the user is looking at where it was.
        el.scrollTop = p.top + (el.scrollHeight - p.height);
      } else if (last !== p.last) {
        const newest = items[items.length - 1];
        if (newest && isOwn(newest)) el.scrollTop = el.scrollHeight;
        else setUnseen((n) => n + 1);
      }
    } else {
      el.scrollTop = el.scrollHeight;
    }
    prev.current = { first, last, height: el.scrollHeight, top: el.scrollTop };
    atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < STICK_MARGIN;
    maybeLoad();
    // `isOwn` is a plain function of the item: not a dependency.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [items, maybeLoad]);

  const onScroll = (): void => {
    const el = scroller.current;
    if (!el) return;
    atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < STICK_MARGIN;
    if (atBottom.current && unseen > 0) setUnseen(0);
    prev.current = { ...prev.current, height: el.scrollHeight, top: el.scrollTop };
    maybeLoad();
  };

  const toBottom = (): void => {
    const el = scroller.current;
    if (el) el.scrollTo({ top: el.scrollHeight, behavior: 'smooth' });
    setUnseen(0);
  };

  return { scroller, atBottom, onScroll, unseen, toBottom };
}
