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
      mkPeer('bob', { online: true, addr: '192.168.1.23:35035', last_seen: now, verified: true }),
      mkPeer('carol@kitchen-pi', { online: false, addr: '192.168.1.40:35035', last_seen: now - 3 * H }),
      mkPeer('sam', { online: true, addr: '192.168.1.51:35035', last_seen: now, name_conflict: true, unread: 2 }),
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

// ---- Server ---------------------------------------------------------------------------

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml' };
const server = createServer((req, res) => {
  const path = new URL(req.url, 'http://x').pathname;
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
      default:
        err(`unknown cmd \`${c.cmd}\``);
    }
  });
});

server.listen(PORT, '127.0.0.1', () => console.log(`mock purr node: http://127.0.0.1:${PORT}/`));
