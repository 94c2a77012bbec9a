// Text helpers: UTF-8 size, and splitting a message into plain text and links. Message
// text is only ever rendered as React text nodes and <a> elements built from these
// segments — never as HTML.

/** Length of `s` in UTF-8 bytes, without allocating (lone surrogates count as U+FFFD: 3). */
export function utf8Bytes(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 4;
        i++;
      } else n += 3;
    } else n += 3;
  }
  return n;
}

export type Segment = { kind: 'text'; text: string } | { kind: 'link'; text: string; href: string };

// http(s) URLs and bare www. hosts; nothing else becomes a link (no javascript:, data:, …).
const URL_RE = /\b(?:https?:\/\/|www\.)[^\s<>"'`]+/gi;
const TRAILING = /[.,;:!?'"\u2019\u201d]+$/;

function trimUrl(raw: string): string {
  let url = raw.replace(TRAILING, '');
  // Drop a closing bracket that has no opening one inside the URL: "(see http://x.y)".
  for (const [open, close] of [['(', ')'], ['[', ']'], ['{', '}']] as const) {
    while (url.endsWith(close) && count(url, open) < count(url, close)) {
      url = url.slice(0, -1).replace(TRAILING, '');
    }
  }
  return url;
}

function count(s: string, ch: string): number {
  let n = 0;
  for (const c of s) if (c === ch) n++;
  return n;
}

/** Splits text into plain runs and links. */
export function linkify(text: string): Segment[] {
  const out: Segment[] = [];
  let last = 0;
  for (const m of text.matchAll(URL_RE)) {
    const start = m.index ?? 0;
    const url = trimUrl(m[0]);
    if (url.length < 5 || /^www\.$/i.test(url)) continue;
    if (start > last) out.push({ kind: 'text', text: text.slice(last, start) });
    const href = /^www\./i.test(url) ? `https://${url}` : url;
    out.push({ kind: 'link', text: url, href });
    last = start + url.length;
  }
  if (last < text.length) out.push({ kind: 'text', text: text.slice(last) });
  return out;
}

/** A short single-line preview of a message for the peer list. */
export function preview(text: string, max = 80): string {
  const one = text.replace(/\s+/g, ' ').trim();
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
}

/** The fingerprint's 4 groups of 8 (SPEC §8); tolerant of a string without dashes. */
export function fingerprintGroups(fp: string): string[] {
  const parts = fp.includes('-') ? fp.split('-') : (fp.match(/.{1,8}/g) ?? []);
  return parts.filter((p) => p !== '');
}

/** A stable avatar colour (0..7) for an id. */
export function hue(id: string): number {
  let h = 0;
  for (let i = 0; i < id.length; i++) h = (h * 31 + id.charCodeAt(i)) >>> 0;
  return h % 8;
}

/** One or two letters (or digits) for an avatar; emoji and punctuation are skipped. */
export function initials(name: string): string {
  const firsts: string[] = [];
  for (const word of name.split(/[\s@._-]+/)) {
    const ch = /[\p{L}\p{N}]/u.exec(word)?.[0];
    if (ch) firsts.push(ch);
    if (firsts.length === 2) break;
  }
  return firsts.join('').toUpperCase() || '?';
}
