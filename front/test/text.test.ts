import { describe, expect, it } from 'vitest';
import { parseEvent } from '../src/api';
import { checkAddr } from '../src/components/ConnectForm';
import { outgoing } from '../src/components/Composer';
import { fingerprintGroups, initials, linkify, utf8Bytes } from '../src/lib/text';
import { dayLabel, lastSeen } from '../src/lib/time';

describe('utf8Bytes', () => {
  it('matches TextEncoder', () => {
    for (const s of ['', 'abc', 'é', '€', '😀', 'a😀é€\n', '\ud800x', 'x\udc00']) {
      expect(utf8Bytes(s), s).toBe(new TextEncoder().encode(s).length);
    }
  });
});

describe('linkify', () => {
  it('splits text and links, trimming trailing punctuation and unbalanced brackets', () => {
    expect(linkify('go to https://a.io/x, then (http://b.io/y_(z)) now!')).toEqual([
      { kind: 'text', text: 'go to ' },
      { kind: 'link', text: 'https://a.io/x', href: 'https://a.io/x' },
      { kind: 'text', text: ', then (' },
      { kind: 'link', text: 'http://b.io/y_(z)', href: 'http://b.io/y_(z)' },
      { kind: 'text', text: ') now!' },
    ]);
  });
  it('never links other schemes', () => {
    expect(linkify('javascript:alert(1) data:text/html,x file:///etc/passwd')).toEqual([
      { kind: 'text', text: 'javascript:alert(1) data:text/html,x file:///etc/passwd' },
    ]);
  });
  it('returns no segments for empty text', () => {
    expect(linkify('')).toEqual([]);
  });
});

describe('small helpers', () => {
  it('groups fingerprints in 4×8', () => {
    expect(fingerprintGroups('62S4QNFM-G2RJ35YO-SOMM2F2G-ACEJWDB3')).toEqual(['62S4QNFM', 'G2RJ35YO', 'SOMM2F2G', 'ACEJWDB3']);
    expect(fingerprintGroups('62S4QNFMG2RJ35YOSOMM2F2GACEJWDB3')).toHaveLength(4);
  });
  it('makes initials', () => {
    expect(initials('alice')).toBe('A');
    expect(initials('bob@pi-kitchen')).toBe('BP');
    expect(initials('   ')).toBe('?');
    expect(initials('Alice 🐱 e2e')).toBe('AE');
    expect(initials('🐱')).toBe('?');
    expect(initials('élodie')).toBe('É');
  });
  it('trims what is sent', () => {
    expect(outgoing('\n\n  hi\n  there  \n')).toBe('  hi\n  there');
  });
  it('checks addresses before asking the node', () => {
    expect(checkAddr('192.168.1.2:35035')).toBeNull();
    expect(checkAddr('[::1]:80')).toBeNull();
    expect(checkAddr('pi.local:1')).toBeNull();
    expect(checkAddr('nope')).not.toBeNull();
    expect(checkAddr('h:70000')).not.toBeNull();
  });
  it('labels days and last seen', () => {
    const now = new Date(2024, 4, 15, 12).getTime();
    expect(dayLabel(now, now)).toBe('Today');
    expect(dayLabel(now - 86_400_000, now)).toBe('Yesterday');
    expect(lastSeen(null, now)).toBe('never connected');
    expect(lastSeen(now - 5 * 60_000, now)).toBe('last seen 5 min ago');
  });
});

describe('parseEvent', () => {
  it('accepts the SPEC shapes and fills optional fields', () => {
    expect(parseEvent('{"cmd":"status","id":"x","status":"read"}')).toEqual({ cmd: 'status', id: 'x', status: 'read' });
    const p = parseEvent('{"cmd":"peer","peer":{"id":"b","name":"bob"}}');
    expect(p).toMatchObject({ cmd: 'peer', peer: { id: 'b', online: false, addr: null, unread: 0, last_seen: null } });
  });
  it('rejects malformed events', () => {
    expect(parseEvent('{"cmd":"status","id":"x","status":"gone"}')).toBeNull();
    expect(parseEvent('{"cmd":"message","message":{"id":"x"}}')).toBeNull();
    expect(parseEvent('[]')).toBeNull();
    expect(parseEvent('{"cmd":"history","peer":"b","messages":[{"bad":1}]}')).toEqual({ cmd: 'history', peer: 'b', messages: [] });
  });
});
