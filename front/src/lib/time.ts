// Dates and times as a messenger shows them, in the user's locale.

const DAY = 86_400_000;

function startOfDay(t: number): number {
  const d = new Date(t);
  d.setHours(0, 0, 0, 0);
  return d.getTime();
}

export function dayKey(t: number): number {
  return startOfDay(t);
}

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' });
const weekdayFmt = new Intl.DateTimeFormat(undefined, { weekday: 'long' });
const weekdayShortFmt = new Intl.DateTimeFormat(undefined, { weekday: 'short' });
const dateFmt = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'long' });
const dateYearFmt = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'long', year: 'numeric' });
const shortDateFmt = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short' });
const shortDateYearFmt = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short', year: '2-digit' });
const fullFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'medium' });

export function clock(t: number): string {
  return timeFmt.format(t);
}

export function fullDate(t: number): string {
  return fullFmt.format(t);
}

/** The separator above a day's messages: Today, Yesterday, Monday, 3 March, 3 March 2023. */
export function dayLabel(t: number, now = Date.now()): string {
  const days = Math.round((startOfDay(now) - startOfDay(t)) / DAY);
  if (days === 0) return 'Today';
  if (days === 1) return 'Yesterday';
  if (days > 1 && days < 7) return weekdayFmt.format(t);
  return new Date(t).getFullYear() === new Date(now).getFullYear() ? dateFmt.format(t) : dateYearFmt.format(t);
}

/** The time in the peer list: 14:05 today, Yesterday, Mon, 3 Mar, 3 Mar 23. */
export function listTime(t: number, now = Date.now()): string {
  const days = Math.round((startOfDay(now) - startOfDay(t)) / DAY);
  if (days === 0) return clock(t);
  if (days === 1) return 'Yesterday';
  if (days > 1 && days < 7) return weekdayShortFmt.format(t);
  return new Date(t).getFullYear() === new Date(now).getFullYear() ? shortDateFmt.format(t) : shortDateYearFmt.format(t);
}

/** "last seen just now / 5 min ago / today at 14:05 / yesterday at … / on 3 March". */
export function lastSeen(t: number | null, now = Date.now()): string {
  if (t === null) return 'never connected';
  const ago = now - t;
  if (ago < 60_000) return 'last seen just now';
  if (ago < 3_600_000) return `last seen ${Math.floor(ago / 60_000)} min ago`;
  const days = Math.round((startOfDay(now) - startOfDay(t)) / DAY);
  if (days === 0) return `last seen today at ${clock(t)}`;
  if (days === 1) return `last seen yesterday at ${clock(t)}`;
  return `last seen ${dayLabel(t, now).replace(/^(\d)/, 'on $1')}`;
}
