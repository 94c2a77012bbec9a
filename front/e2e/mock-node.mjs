#!/usr/bin/env node
// A stand-in for a purr node that speaks the UI WebSocket API of SPEC §5 with made-up
// peers and history, and serves dist/ with the node's CSP. For developing and
// screenshotting the conversation screens before the real node connects peers.
//
//   npm run build && node e2e/mock-node.mjs [--port=8799] [--empty]
//   then open http://127.0.0.1:8799/
//
// Not a test of the node: the real node is the reference (e2e/run.mjs).

import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocketServer } from 'ws';

const DIST = resolve(dirname(fileURLToPath(import.meta.url)), '../dist');
const CSP =
  "default-src 'self'; connect-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";
const arg = (name) => process.argv.find((a) => a.startsWith(`--${name}`));
const PORT = Number(arg('port=')?.split('=')[1] ?? 8799);
const EMPTY = !!arg('empty');

const hex = (n) => randomBytes(n).toString('hex');
function fingerprint(idHex) {
  const bytes = createHash('sha256').update(Buffer.from(idHex, 'hex')).digest().subarray(0, 20);
  const A = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const b of bytes) {
    value = ((value << 8) | b) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      out += A[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out.match(/.{8}/g).join('-');
}

const now = Date.now();
const H = 3_600_000;
const meId = 'a1'.repeat(32);
const me = { id: meId, name: 'alice@raspberrypi', fingerprint: fingerprint(meId), port: PORT };

function mkPeer(name, over = {}) {
  const id = hex(32);
  return { id, name, fingerprint: fingerprint(id), online: false, addr: null, unread: 0, last_seen: null, verified: false, name_conflict: false, ...over };
}

const peers = EMPTY
  ? []
  : [
      mkPeer('bob', { online: true, addr: '192.168.1.23:35035', last_seen: now, verified: true, path: 'LAN 192.168.1.23' }),
      mkPeer('carol@kitchen-pi', { online: false, addr: '192.168.1.40:35035', last_seen: now - 3 * H }),
      mkPeer('sam', { online: true, addr: '100.101.1.51:35035', last_seen: now, name_conflict: true, unread: 2, path: 'VPN tailscale0 100.101.1.51' }),
      mkPeer('sam', { online: false, addr: '10.0.0.7:35035', last_seen: now - 50 * H, name_conflict: true }),
      mkPeer('dave', { online: false, addr: null, last_seen: null }),
    ];

let seq = 0;
const messages = [];
function addMessage(peer, own, text, ts, status) {
  const m = { id: hex(16), seq: ++seq, peer: peer.id, from: own ? meId : peer.id, to: own ? peer.id : meId, text, ts, status };
  messages.push(m);
  return m;
}

const LINES = [
  'are you coming to the meetup tonight?',
  'yes! 🐱 bringing the pi cluster',
  'nice. the slides are at https://example.org/purr/slides.pdf (draft)',
  'can you check that the beacon shows up on the kitchen box?',
  'tcpdump -A says meow:… every 5 s, looks right',
  'great 👍',
  'I pushed the fix for the flaky test, CI is green now',
  'ok',
  'Long one, to see wrapping: the durability rule is that the sender shows pending only once its own commit ran, and the receiver acknowledges only what it has committed, so nothing on the path to the other screen waits for an fsync on an SD card.',
  'averyveryverylongwordwithoutanyspacesthatmustwrapinsidethebubbleinsteadofoverflowingthelayout_0123456789',
];

if (!EMPTY) {
  const [bob, carol, sam] = peers;
  for (let i = 0; i < 120; i++) {
    const ts = now - (120 - i) * 0.6 * H;
    const own = i % 3 !== 1;
    addMessage(bob, own, `${LINES[i % LINES.length]}`, ts, own ? 'read' : 'read');
  }
  addMessage(bob, true, 'see you at 7 then', now - 20 * 60_000, 'read');
  addMessage(bob, false, 'see you! <script>alert(1)</script> <b>not bold</b>', now - 18 * 60_000, 'read');
  addMessage(bob, true, 'perfect — and the new UI looks great 🎉', now - 2 * 60_000, 'delivered');
  addMessage(carol, false, 'the printer is out of paper again', now - 27 * H, 'read');
  addMessage(carol, true, 'on it', now - 26 * H, 'read');
  addMessage(carol, true, 'done, and I left a note', now - 4 * H, 'pending');
  addMessage(sam, false, 'hey, it’s sam from the 3rd floor', now - 30 * 60_000, 'received');
  addMessage(sam, false, 'do you have the wifi password?', now - 29 * 60_000, 'received');
}

// ---- Groups (issue 18): the shapes of docs/HTTP.md, with the fields newer nodes add
// (`kind`, system lines, `delivered`/`read`, `unread`, `removed_by`, `known`) -----------

const groups = [];
const gitems = new Map(); // group id → items in display order (lamport, author)
let lamport = 0;
const member = (p) => ({ id: p.id, name: p.name, online: p.online });
const meMember = () => ({ id: meId, name: me.name, online: true });

function mkGroup(name, owner, phase, members, over = {}) {
  const g = { id: hex(16), name, owner, phase, members, version: members.length ? 1 : 0, created: now - 30 * H, unread: 0, removed_by: null, known: [], ...over };
  groups.push(g);
  gitems.set(g.id, []);
  return g;
}

// Items are appended in the node's order ((lamport, author or by)): each takes the next
// clock, as an author's does.
function gText(g, author, text, ts, over = {}) {
  const m = { id: hex(16), group: g.id, kind: 'text', author, seq: 0, lamport: ++lamport, ts, text, ...over };
  if (author === meId) Object.assign(m, { delivered: [], read: [], ...over });
  gitems.get(g.id).push(m);
  return m;
}

function gSystem(g, by, change, ts, over = {}) {
  const m = { id: hex(16), group: g.id, kind: 'system', by, change, version: g.version, lamport: ++lamport, ts, ...over };
  gitems.get(g.id).push(m);
  return m;
}

const gById = (id) => groups.find((g) => g.id === id);

if (!EMPTY) {
  const [bob, carol, sam, , dave] = peers;
  const eveId = hex(32);
  const lab = mkGroup('Lab 3', meId, 'member', [meMember(), member(bob), member(carol), member(sam), member(dave)], {
    known: [{ id: eveId, name: 'eve' }],
    version: 6,
  });
  const t0 = now - 5 * H;
  gSystem(lab, meId, 'created', t0, { name: 'Lab 3' });
  for (const p of [bob, carol, sam, dave]) gSystem(lab, meId, 'added', t0 + 1000, { member: p.id });
  gSystem(lab, meId, 'added', t0 + 2000, { member: eveId });
  gText(lab, bob.id, 'morning! who has the key to the server room?', t0 + 60 * 60_000);
  gText(lab, carol.id, 'I do — in the drawer under the printer 🔑', t0 + 62 * 60_000);
  gText(lab, carol.id, 'and please put it back this time', t0 + 62.5 * 60_000);
  gText(lab, meId, 'can someone check that the beacon shows up on the kitchen box?', t0 + 3 * H, {
    delivered: [bob.id, carol.id, sam.id, dave.id],
    read: [bob.id, carol.id],
  });
  gText(lab, sam.id, 'on it — tcpdump says meow every 5 s', t0 + 3 * H + 4 * 60_000);
  gSystem(lab, meId, 'removed', t0 + 3.5 * H, { member: eveId });
  gText(lab, meId, 'thanks all 🎉 see you at 7', now - 6 * 60_000, { delivered: [bob.id, carol.id], read: [bob.id] });
  lab.late = { author: dave.id, after: sam.id, text: 'sorry, was offline — the beacon is fine here too', ts: t0 + 3 * H + 6 * 60_000, id: hex(16) };

  const coffee = mkGroup('Coffee ☕', carol.id, 'member', [member(carol), meMember(), member(bob)], { unread: 3, created: now - 40 * H });
  gText(coffee, carol.id, 'beans are here', now - 50 * 60_000);
  gText(coffee, bob.id, 'finally', now - 45 * 60_000);
  gText(coffee, carol.id, 'first cup at 10?', now - 40 * 60_000);

  mkGroup('Book club', bob.id, 'invited', [], { created: now - 10 * 60_000 });

  const old = mkGroup('Old project', bob.id, 'removed', [], { removed_by: bob.id, created: now - 90 * H });
  gText(old, bob.id, 'wrapping this up, thanks everyone', now - 80 * H);
  gSystem(old, bob.id, 'removed', now - 79 * H, { member: meId });
}

/** Our message reaches the members online one by one, then they read it. */
function receiptsFor(g, m) {
  const others = g.members.filter((x) => x.id !== meId && peerById(x.id)?.online);
  others.forEach((x, i) => {
    setTimeout(() => {
      m.delivered.push(x.id);
      broadcast({ cmd: 'group_receipt', group: g.id, message: m.id, member: x.id, kind: 'delivered' });
    }, 300 + i * 250);
    setTimeout(() => {
      m.read.push(x.id);
      broadcast({ cmd: 'group_receipt', group: g.id, message: m.id, member: x.id, kind: 'read' });
    }, 1500 + i * 400);
  });
}

function groupCmd(ws, c, err) {
  const g = gById(c.group);
  if (c.cmd !== 'group_create' && !g) return err(`no such group "${c.group}"`);
  const push = () => broadcast({ cmd: 'group', group: g });
  const roster = (change, over) => {
    g.version++;
    const m = gSystem(g, meId, change, Date.now(), over);
    push();
    broadcast({ cmd: 'group_message', message: m });
  };
  switch (c.cmd) {
    case 'group_history': {
      const list = gitems.get(g.id);
      const end = c.before === undefined ? list.length : list.findIndex((m) => m.id === c.before);
      if (end < 0) return err('no such message');
      const limit = Math.min(c.limit ?? 50, 500);
      setTimeout(() => sendTo(ws, { cmd: 'group_history', group: g.id, messages: list.slice(Math.max(0, end - limit), end), truncated: false }), 120);
      // A member carries a message written a while ago: the UI marks it "arrived later".
      // Sent to each socket once, after its first page, and never stored, so every
      // screenshot run sees it arrive (a reload shows the group without it).
      if (g.late && c.limit !== 1 && !ws.lateSent) {
        ws.lateSent = true;
        const at = list.findIndex((m) => m.kind === 'text' && m.author === g.late.after);
        const m = { id: hex(16), group: g.id, kind: 'text', seq: 0, lamport: list[at]?.lamport ?? 1, ...g.late };
        delete m.after;
        setTimeout(() => sendTo(ws, { cmd: 'group_message', message: m }), 900);
      }
      break;
    }
    case 'group_send': {
      if (g.phase !== 'member') return err('not a member of this group');
      const m = gText(g, meId, c.text, Date.now());
      m.lamport = Math.max(...gitems.get(g.id).map((x) => x.lamport)) + 1;
      lamport = Math.max(lamport, m.lamport);
      broadcast({ cmd: 'group_message', message: m });
      receiptsFor(g, m);
      break;
    }
    case 'group_read':
      g.unread = 0;
      push();
      break;
    case 'group_create': {
      if (typeof c.name !== 'string' || !c.name.trim()) return err('a name is 1 to 64 characters');
      const ng = mkGroup(c.name.trim(), meId, 'member', [meMember(), ...c.members.map(peerById).filter(Boolean).map(member)], { created: Date.now() });
      gSystem(ng, meId, 'created', Date.now(), { name: ng.name });
      for (const id of c.members) gSystem(ng, meId, 'added', Date.now(), { member: id });
      setTimeout(() => broadcast({ cmd: 'group', group: ng }), 200);
      break;
    }
    case 'group_accept':
      if (g.phase !== 'invited') return err('not invited');
      g.phase = 'member';
      g.members = [member(peerById(g.owner)), meMember(), member(peers[1])];
      g.version = 3;
      gSystem(g, g.owner, 'created', g.created, { name: g.name });
      gSystem(g, g.owner, 'added', g.created, { member: meId });
      push();
      break;
    case 'group_decline':
      g.phase = 'declined';
      push();
      break;
    case 'group_leave':
      if (g.owner === meId) return err('the owner cannot leave');
      g.phase = 'left';
      g.members = [];
      push();
      break;
    case 'group_invite': {
      const p = peerById(c.member);
      if (!p) return err('unknown peer');
      if (!g.members.some((m) => m.id === p.id)) g.members.push(member(p));
      roster('added', { member: p.id });
      break;
    }
    case 'group_remove': {
      const gone = g.members.find((m) => m.id === c.member);
      if (!gone) return err('not a member');
      g.members = g.members.filter((m) => m.id !== c.member);
      g.known.push({ id: gone.id, name: gone.name });
      roster('removed', { member: gone.id });
      break;
    }
    case 'group_rename':
      if (typeof c.name !== 'string' || !c.name.trim()) return err('a name is 1 to 64 characters');
      g.name = c.name.trim();
      roster('renamed', { name: g.name });
      break;
    default:
      err(`unknown cmd \`${c.cmd}\``);
  }
}

// ---- GET /api/v1/diag (docs/HTTP.md): a LAN where bob is heard, sam is over a VPN,
// carol refuses, and the VPN interface carries no multicast. ---------------------------

function diag() {
  const up = Math.floor((Date.now() - now) / 1000) + 600;
  const named = (n) => peers.find((p) => p.name === n);
  const contact = (p, over) => ({ id: p.id, name: p.name, online: p.online, path: p.online ? p.addr : null, route: p.path ?? null, addrs: [], backoff_s: null, attempts: [], outbox: 0, ...over });
  const contacts = EMPTY
    ? []
    : [
        contact(named('bob'), {
          addrs: [{ addr: '192.168.1.23:35035', source: 'beacon', s_ago: 2 }],
          reach: [{ addr: '192.168.1.20:35035', outcome: 'ok', ms: 2, s_ago: 300 }],
          clock_skew_ms: -180,
        }),
        contact(named('sam'), {
          addrs: [{ addr: '100.101.1.51:35035', source: 'list', s_ago: 40 }, { addr: '192.168.1.51:35035', source: 'stored', s_ago: null }],
          reach: [
            { addr: '192.168.1.20:35035', outcome: 'not_known', ms: 0, s_ago: 40 },
            { addr: '100.101.1.2:35035', outcome: 'timed_out', ms: 3001, s_ago: 40 },
          ],
          clock_skew_ms: 187_000,
        }),
        contact(named('carol@kitchen-pi'), {
          addrs: [{ addr: '192.168.1.40:35035', source: 'manual', s_ago: 3 * 3600 }],
          backoff_s: 52,
          outbox: 2,
          attempts: [
            { target: '192.168.1.40:35035', s_ago: 8, outcome: 'refused', reason: 'connection refused (nothing listens on that port: is purr running there, on that port?)' },
            { target: '192.168.1.40:35035', s_ago: 68, outcome: 'timed_out', reason: 'timed out (no answer within 5 s: host off, or a firewall drops it)' },
          ],
        }),
      ];
  const checks = [
    { verdict: 'OK', area: 'node', subject: '', says: `running as "${me.name}", listening on [::]:${PORT}, discovery on (a beacon every 5 s)`, next: null },
    { verdict: 'OK', area: 'interface', subject: 'eth0', says: 'ethernet, 192.168.1.20: 240 beacons sent, no send errors', next: null },
    { verdict: 'WARN', area: 'interface', subject: 'tailscale0', says: 'VPN, 100.101.1.2: carries no multicast: peers there are found by address or from other peers', next: 'give their address: purr --connect HOST:PORT, or the connect form' },
    { verdict: 'OK', area: 'beacons', subject: '', says: 'heard 1 other node (bob on eth0)', next: null },
  ];
  if (!EMPTY) {
    checks.push(
      { verdict: 'OK', area: 'contact', subject: `bob (${named('bob').id.slice(0, 8)})`, says: 'online via LAN 192.168.1.23 (192.168.1.23:35035)', next: null },
      { verdict: 'OK', area: 'contact', subject: `sam (${named('sam').id.slice(0, 8)})`, says: 'online via VPN tailscale0 100.101.1.51 (100.101.1.51:35035)', next: null },
      { verdict: 'OK', area: 'reach', subject: `bob (${named('bob').id.slice(0, 8)})`, says: 'bob reached you on 192.168.1.20:35035 in 2 ms', next: null },
      { verdict: 'FAIL', area: 'reach', subject: `sam (${named('sam').id.slice(0, 8)})`, says: 'sam could not reach you on 100.101.1.2:35035: timed out (3001 ms, 40 s ago)', next: 'a firewall on this host or the network drops incoming TCP to port 35035: allow it (e.g. `ufw allow 35035/tcp`); until then only this side can dial' },
      { verdict: 'WARN', area: 'clock', subject: `sam (${named('sam').id.slice(0, 8)})`, says: "sam's clock is 3 min 7 s ahead of ours", next: 'set both clocks by NTP (timedatectl set-ntp true): message times look wrong' },
      { verdict: 'FAIL', area: 'contact', subject: `carol@kitchen-pi (${named('carol@kitchen-pi').id.slice(0, 8)})`, says: 'offline: connection refused at 192.168.1.40:35035; 2 message(s) wait for it', next: 'check that purr runs on that machine and listens on 35035 (purr doctor --peer 192.168.1.40:35035)' },
    );
  }
  checks.push({ verdict: 'OK', area: 'host', subject: '', says: 'data dir writable, 41.2 GB free, database 1.3 MB, WAL 98 KB', next: null });
  return {
    node: { running: true, id: meId, name: me.name, listen: `[::]:${PORT}`, port: PORT, discovery: true, beacon_interval_s: 5, uptime_s: up },
    interfaces: [
      { name: 'lo', kind: 'loopback', up: true, multicast: false, addrs: ['127.0.0.1', '::1'], used: false, beacons_sent: 0, send_errors: 0, last_error: null, last_error_s_ago: null },
      { name: 'eth0', kind: 'ethernet', up: true, multicast: true, addrs: ['192.168.1.20', 'fe80::1e69:7aff:fe0c:1d2e'], used: true, beacons_sent: 240, send_errors: 0, last_error: null, last_error_s_ago: null },
      { name: 'tailscale0', kind: 'vpn', up: true, multicast: false, addrs: ['100.101.1.2'], used: false, beacons_sent: 0, send_errors: 0, last_error: null, last_error_s_ago: null },
    ],
    beacons: { sending_for_s: up, sent: 240, heard: EMPTY ? [] : [{ id: named('bob').id, iface: 'eth0', addr: '192.168.1.23:35035', count: 118, first_s_ago: up - 10, last_s_ago: 2 }] },
    targets: [],
    contacts,
    host: { data_dir: '/home/alice/.local/share/purr', exists: true, writable: true, free_bytes: 41_200_000_000, db_bytes: 1_300_000, wal_bytes: 98_000, outbox: 2 },
    groups: { known: groups.length, dropped: { bad_signature: 0, not_member: 0, unknown_group: 0, bad_roster: 0, rollback: 0, overflow: 0, invitations: 0 } },
    checks,
  };
}

// ---- Server ---------------------------------------------------------------------------

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml' };
const server = createServer((req, res) => {
  const path = new URL(req.url, 'http://x').pathname;
  if (path === '/api/v1/diag') {
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(diag()));
    return;
  }
  let file = join(DIST, path === '/' ? 'index.html' : path);
  if (!file.startsWith(DIST)) file = join(DIST, 'index.html');
  try {
    statSync(file);
  } catch {
    res.writeHead(404).end('not found');
    return;
  }
  const type = TYPES[extname(file)] ?? 'application/octet-stream';
  const headers = { 'content-type': type, 'x-content-type-options': 'nosniff' };
  if (type.startsWith('text/html')) headers['content-security-policy'] = CSP;
  res.writeHead(200, headers).end(readFileSync(file));
});

const wss = new WebSocketServer({ server, path: '/ws' });
const clients = new Set();
const sendTo = (ws, ev) => ws.readyState === 1 && ws.send(JSON.stringify(ev));
const broadcast = (ev) => clients.forEach((ws) => sendTo(ws, ev));
const peerById = (id) => peers.find((p) => p.id === id);

function bump(peer, m) {
  peer.unread += 1;
  broadcast({ cmd: 'message', message: m });
  broadcast({ cmd: 'peer', peer });
}

wss.on('connection', (ws) => {
  clients.add(ws);
  ws.on('close', () => clients.delete(ws));
  ws.on('message', (raw) => {
    let c;
    try {
      c = JSON.parse(String(raw));
    } catch {
      return sendTo(ws, { cmd: 'error', error: 'bad JSON' });
    }
    const err = (error) => sendTo(ws, { cmd: 'error', error, request: c.cmd });
    switch (c.cmd) {
      case 'hello':
        sendTo(ws, { cmd: 'me', ...me });
        sendTo(ws, { cmd: 'peers', peers });
        break;
      case 'peers':
        sendTo(ws, { cmd: 'peers', peers });
        break;
      case 'history': {
        const limit = Math.min(c.limit ?? 50, 500);
        const list = messages.filter((m) => m.peer === c.peer && (c.before === undefined || m.seq < c.before));
        setTimeout(() => sendTo(ws, { cmd: 'history', peer: c.peer, messages: list.slice(-limit) }), 120);
        break;
      }
      case 'send': {
        const p = peerById(c.to);
        if (!p) return err('unknown peer');
        const m = addMessage(p, true, c.text, Date.now(), 'pending');
        broadcast({ cmd: 'message', message: m });
        if (!p.online) break;
        setTimeout(() => {
          m.status = 'delivered';
          broadcast({ cmd: 'status', id: m.id, status: 'delivered' });
        }, 400);
        setTimeout(() => {
          m.status = 'read';
          broadcast({ cmd: 'status', id: m.id, status: 'read' });
        }, 1500);
        if (p.name === 'bob') setTimeout(() => bump(p, addMessage(p, false, 'purr 😺', Date.now(), 'received')), 2500);
        break;
      }
      case 'read': {
        const p = peerById(c.peer);
        if (!p) return err('unknown peer');
        p.unread = 0;
        for (const m of messages) if (m.peer === p.id && m.status === 'received') m.status = 'read';
        broadcast({ cmd: 'peer', peer: p });
        break;
      }
      case 'rename':
        if (typeof c.name !== 'string' || !c.name.trim() || [...c.name].length > 64) return err('a name is 1 to 64 characters');
        if (/\p{Cc}/u.test(c.name)) return err('a name cannot contain control characters');
        me.name = c.name;
        broadcast({ cmd: 'me', ...me });
        break;
      case 'verify': {
        const p = peerById(c.peer);
        if (!p) return err('unknown peer');
        p.verified = !!c.verified;
        broadcast({ cmd: 'peer', peer: p });
        break;
      }
      case 'connect':
        setTimeout(() => err(`could not connect to ${c.addr}: connection refused`), 300);
        break;
      case 'files':
        sendTo(ws, { cmd: 'files', files: [] });
        break;
      case 'groups':
        sendTo(ws, { cmd: 'groups', groups });
        break;
      default:
        if (typeof c.cmd === 'string' && c.cmd.startsWith('group_')) {
          groupCmd(ws, c, err);
          break;
        }
        err(`unknown cmd \`${c.cmd}\``);
    }
  });
});

server.listen(PORT, '127.0.0.1', () => console.log(`mock purr node: http://127.0.0.1:${PORT}/`));
