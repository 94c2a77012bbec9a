import type { Me, Message, Peer } from '../src/api';

export const ME: Me = { id: 'a'.repeat(64), name: 'alice', fingerprint: 'AAAAAAAA-BBBBBBBB-CCCCCCCC-DDDDDDDD', port: 35035 };
export const BOB = 'b'.repeat(64);
export const CAROL = 'c'.repeat(64);

export function peer(id: string, over: Partial<Peer> = {}): Peer {
  return {
    id,
    name: id === BOB ? 'bob' : id === CAROL ? 'carol' : `peer-${id.slice(0, 4)}`,
    fingerprint: 'EEEEEEEE-FFFFFFFF-GGGGGGGG-HHHHHHHH',
    online: true,
    addr: '127.0.0.1:4000',
    unread: 0,
    last_seen: 1_700_000_000_000,
    verified: false,
    name_conflict: false,
    stranger: false,
    ...over,
  };
}

let n = 0;
/** A message in the conversation with `peerId`; `own` = sent by ME. */
export function msg(peerId: string, seq: number, over: Partial<Message> & { own?: boolean } = {}): Message {
  const { own = false, ...rest } = over;
  n++;
  return {
    id: (rest.id ?? `${seq.toString(16)}-${n}`).padStart(32, '0'),
    seq,
    peer: peerId,
    from: own ? ME.id : peerId,
    to: own ? peerId : ME.id,
    text: `message ${seq}`,
    ts: 1_700_000_000_000 + seq * 1000,
    status: own ? 'pending' : 'received',
    ...rest,
  };
}
