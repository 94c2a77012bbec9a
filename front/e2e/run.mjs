#!/usr/bin/env node
// End-to-end harness: two real purr nodes (a third for the group step), one headless
// Chromium, one page per node.
//
//   node e2e/run.mjs                     every step
//   node e2e/run.mjs --only=foundation   the steps the current node supports
//   node e2e/run.mjs --only=rename,connectError
//   PURR_BIN=../target/debug/purr node e2e/run.mjs
//
// It uses the system Chromium (/usr/bin/chromium) through playwright-core: never
// `npx playwright install`. Screenshots go to ../target/e2e/. The nodes are killed by
// pid at the end, on failure and on Ctrl-C.

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { GROUP_STEPS } from './group-steps.mjs';
import { PEER_STEPS } from './peer-steps.mjs';
import { assert, expectText, shoot, waitFor } from './util.mjs';

const FRONT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = resolve(FRONT, process.env.PURR_BIN ?? '../target/release/purr');
const OUT = resolve(FRONT, '../target/e2e');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // Chromium's Local Network Access checks would block a data: page from reaching
  // 127.0.0.1 before the node sees it; the foreignOrigin step wants the node to refuse.
  '--disable-features=LocalNetworkAccessChecks',
];

const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length);

// ---- Nodes -----------------------------------------------------------------------------

const nodes = new Set();
const temps = [];

function temp(prefix) {
  const d = mkdtempSync(join(tmpdir(), prefix));
  temps.push(d);
  return d;
}

/** Starts a node and waits for its three startup lines. */
export async function startNode({ name, dataDir = temp('purr-e2e-node-'), connect = [], port = 0 }) {
  const args = ['--port', String(port), '--no-discovery', '--data-dir', dataDir, '--name', name];
  for (const c of connect) args.push('--connect', c);
  const proc = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUST_LOG: 'info' } });
  const node = { name, dataDir, proc, pid: proc.pid, stderr: '' };
  nodes.add(node);
  proc.stderr.on('data', (b) => {
    node.stderr = (node.stderr + b.toString()).slice(-20_000);
  });
  proc.on('exit', () => nodes.delete(node));
  const lines = createInterface({ input: proc.stdout });
  await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`${name}: no startup lines in 15 s\n${node.stderr}`)), 15_000);
    proc.on('exit', (code) => fail(new Error(`${name} exited with ${code}\n${node.stderr}`)));
    lines.on('line', (line) => {
      let m;
      if ((m = /^listening on (.+)$/.exec(line))) node.addr = m[1];
      else if ((m = /^id ([0-9a-f]{64})$/.exec(line))) node.id = m[1];
      else if ((m = /^ui (\S+)$/.exec(line))) node.ui = m[1];
      if (node.addr && node.id && node.ui) {
        clearTimeout(timer);
        ok();
      }
    });
  });
  node.port = Number(/:(\d+)$/.exec(node.addr)[1]);
  node.token = readFileSync(join(dataDir, 'ui.token'), 'utf8').trim();
  // The ui line carries the token only when stdout is a terminal (here it is a pipe):
  // the whole address, as `purr url` prints it.
  node.ui = `http://127.0.0.1:${node.port}/?token=${node.token}`;
  console.log(`  node ${name}: pid ${node.pid}, port ${node.port}, id ${node.id.slice(0, 12)}…`);
  return node;
}

export async function stopNode(node) {
  if (node.proc.exitCode !== null) return;
  const done = new Promise((ok) => node.proc.once('exit', ok));
  process.kill(node.pid, 'SIGTERM');
  const t = setTimeout(() => node.proc.exitCode === null && process.kill(node.pid, 'SIGKILL'), 5000);
  await done;
  clearTimeout(t);
}

function killAll() {
  for (const n of nodes) {
    try {
      process.kill(n.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** SPEC §8: SHA-256 of the id, first 20 bytes, base32 upper, 4 groups of 8. */
export function fingerprint(idHex) {
  const bytes = createHash('sha256').update(Buffer.from(idHex, 'hex')).digest().subarray(0, 20);
  const A = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += A[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out.match(/.{8}/g).join('-');
}

/**
 * The UI address of a node, on a host of its own: the `purr_token` cookie is per host,
 * not per port, so two nodes opened on the same host in one browser would overwrite
 * each other's cookie.
 */
export function uiUrl(node, host) {
  return node.ui.replace('//127.0.0.1:', `//${host}:`);
}

// ---- Foundation steps (work against the current node) ---------------------------------

const FOUNDATION = {
  async loads(ctx) {
    const page = await ctx.newPage('A', 'desktop', 'light');
    const t0 = Date.now();
    await page.goto(uiUrl(ctx.a, '127.0.0.1'));
    await page.waitForSelector('.sidebar');
    const firstRender = Date.now() - t0;
    await waitFor(page, () => document.querySelector('.me-btn-name')?.textContent !== '…', 'me event');
    const meShown = Date.now() - t0;
    const inPage = await page.evaluate(() => Math.round(performance.now()));
    const nav = await page.evaluate(() => {
      const n = performance.getEntriesByType('navigation')[0];
      const r = (x) => Math.round(x);
      return n ? `redirect ${r(n.redirectEnd - n.redirectStart)} ms, html ${r(n.responseEnd)} ms, DOMContentLoaded ${r(n.domContentLoadedEventEnd)} ms` : '';
    });
    assert(!page.url().includes('token='), `the token stays out of the address bar (${page.url()})`);
    console.log(`  time to first render ${firstRender} ms (incl. token redirect); me shown after ${meShown} ms (${inPage} ms after navigation start; ${nav})`);
    const t1 = Date.now();
    await page.reload();
    await waitFor(page, () => document.querySelector('.me-btn-name')?.textContent !== '…', 'me event after reload');
    console.log(`  warm reload to me shown: ${Date.now() - t1} ms`);
    ctx.timings.firstRender = firstRender;
    ctx.pageA = page;
  },

  async mePanel(ctx) {
    const page = ctx.pageA;
    await expectText(page, '.me-name', ctx.a.name);
    const fp = fingerprint(ctx.a.id);
    const shown = (await page.locator('.me-card .fingerprint').textContent()).replace(/\s/g, '');
    assert(shown === fp, `fingerprint shown ${shown}, expected ${fp}`);
    await expectText(page, '.id-hex', ctx.a.id);
    await expectText(page, '.facts', String(ctx.a.port));
    await shoot(page, OUT, 'me-desktop-light');
  },

  async emptyState(ctx) {
    // A node of its own: alice and bob know each other from the start. Opened as [::1]
    // so its token cookie does not replace alice's (cookies are per host, not per port).
    const lone = await ctx.startNode({ name: 'carol' });
    try {
      const page = await ctx.newPage('C', 'desktop', 'light');
      await page.goto(uiUrl(lone, '[::1]'));
      // The test nodes run with --no-discovery, and the empty list says so (a node with
      // discovery on says it finds peers by itself).
      await expectText(page, '.sidebar', 'No peers yet — discovery is off on this node: connect by address.');
      await shoot(page, ctx.out, 'empty-desktop-light');
      await page.close();
    } finally {
      await ctx.stopNode(lone);
    }
  },

  async rename(ctx) {
    const page = ctx.pageA;
    const second = await ctx.newPage('A2', 'desktop', 'light');
    await second.goto(uiUrl(ctx.a, '127.0.0.1').replace(/\/\?token=.*$/, '/'));
    await expectText(second, '.me-btn-name', ctx.a.name);
    await page.getByRole('button', { name: 'Rename' }).click();
    const input = page.locator('#rename-input');
    await input.fill('x'.repeat(65));
    await input.press('Enter');
    await expectText(page, '#rename-error', '64');
    // A name the node refuses (a control character): its error is shown inline too.
    await input.fill('tab\there');
    await input.press('Enter');
    await page.waitForSelector('#rename-error');
    console.log(`  rename errors inline: "${await page.locator('#rename-error').textContent()}"`);
    const newName = 'Alice 🐱 e2e';
    await input.fill(newName);
    await input.press('Enter');
    await expectText(page, '.me-name', newName);
    await expectText(second, '.me-btn-name', newName);
    console.log('  a second tab of the same node saw the new name');
    ctx.a.name = newName;
    await second.close();
  },

  async connectError(ctx) {
    const page = ctx.pageA;
    const addr = page.locator('#connect-addr');
    await addr.fill('not an address');
    await page.getByRole('button', { name: 'Connect', exact: true }).click();
    await expectText(page, '#connect-error', 'host:port');
    await addr.fill('127.0.0.1:9');
    await page.getByRole('button', { name: 'Connect', exact: true }).click();
    await page.waitForSelector('#connect-error');
    const err = await page.locator('#connect-error').textContent();
    assert(!/host:port/.test(err), `the node's own error is shown: ${err}`);
    console.log(`  connect error shown inline: "${err}"`);
    await shoot(page, OUT, 'connect-error-desktop-light');
  },

  async foreignOrigin(ctx) {
    const wsUrl = `ws://127.0.0.1:${ctx.a.port}/ws`;
    const tryOpen = (url) =>
      new Promise((ok) => {
        const ws = new WebSocket(url);
        const t = setTimeout(() => ok('timeout'), 5000);
        ws.onopen = () => {
          clearTimeout(t);
          ws.close();
          ok('open');
        };
        ws.onerror = () => {
          clearTimeout(t);
          ok('closed');
        };
        ws.onclose = ws.onerror;
      });
    // Positive control: the page's own origin may open it.
    const own = await ctx.pageA.evaluate(tryOpen, wsUrl);
    assert(own === 'open', `same-origin WebSocket opens (got ${own})`);
    // A data: URL page (opaque origin, `Origin: null`) may not: the node answers 403.
    const foreign = await ctx.newPage('foreign', 'desktop', 'light');
    const logs = [];
    foreign.on('console', (m) => logs.push(m.text()));
    await foreign.goto('data:text/html,<title>elsewhere</title>');
    const fromData = await foreign.evaluate(tryOpen, wsUrl);
    assert(fromData === 'closed', `WebSocket from a data: page must fail (got ${fromData})`);
    await foreign.waitForTimeout(200);
    const why = logs.find((l) => /WebSocket/.test(l)) ?? '(no console message)';
    assert(/\b403\b/.test(why), `the node refused it with 403: ${why}`);
    // What the node itself answers a foreign Origin (the browser does not show statuses).
    const status = await rawUpgradeStatus(ctx.a.port, 'http://evil.example', ctx.a.token);
    assert(status === 403, `foreign Origin with a valid token gets 403 (got ${status})`);
    console.log('  foreign origins cannot open the WebSocket (403); the page\'s own origin can');
    await foreign.close();
  },

  async phoneLayout(ctx) {
    for (const scheme of ['light', 'dark']) {
      const page = await ctx.newPage(`phone-${scheme}`, 'phone', scheme);
      await page.goto(uiUrl(ctx.a, '127.0.0.1'));
      await waitFor(page, () => document.querySelector('.me-btn-name')?.textContent !== '…', 'me event');
      await page.waitForTimeout(300);
      await shoot(page, OUT, `drawer-phone-${scheme}`);
      await page.keyboard.press('Escape');
      await page.waitForTimeout(300);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
      assert(!overflow, 'no horizontal scroll at 360 px');
      await shoot(page, OUT, `me-phone-${scheme}`);
      await page.getByRole('button', { name: 'Show peers' }).click();
      await page.waitForSelector('.drawer-open');
      await page.close();
    }
    await ctx.pageA.emulateMedia({ colorScheme: 'dark' });
    await ctx.pageA.waitForTimeout(300); // let colour transitions finish
    await shoot(ctx.pageA, OUT, 'me-desktop-dark');
    await ctx.pageA.emulateMedia({ colorScheme: 'light' });
  },
};

/** The status of a raw WebSocket upgrade with the given Origin (Node's fetch cannot). */
async function rawUpgradeStatus(port, origin, token) {
  const net = await import('node:net');
  return new Promise((ok, fail) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.write(
        `GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: ${origin}\r\n` +
          `Authorization: Bearer ${token}\r\n\r\n`,
      );
    });
    s.once('data', (b) => {
      ok(Number(/^HTTP\/1\.1 (\d{3})/.exec(b.toString())?.[1]));
      s.destroy();
    });
    s.on('error', fail);
    s.setTimeout(5000, () => fail(new Error('no answer to the upgrade')));
  });
}

// ---- Runner ------------------------------------------------------------------------------

const VIEWPORTS = { desktop: { width: 1280, height: 800 }, phone: { width: 360, height: 740 } };

async function main() {
  const steps = { ...FOUNDATION, ...PEER_STEPS, ...GROUP_STEPS };
  const names =
    only === 'foundation'
      ? Object.keys(FOUNDATION)
      : only
        ? only.split(',')
        : Object.keys(steps);
  for (const n of names) if (!steps[n]) throw new Error(`unknown step ${n}; steps: ${Object.keys(steps).join(', ')}`);
  mkdirSync(OUT, { recursive: true });
  console.log(`purr e2e: ${BIN}\n  chromium ${CHROMIUM}\n  steps: ${names.join(', ')}`);

  const a = await startNode({ name: 'alice' });
  const b = await startNode({ name: 'bob', connect: [`127.0.0.1:${a.port}`] });
  const browser = await chromium.launchPersistentContext(temp('purr-e2e-chromium-'), {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    viewport: VIEWPORTS.desktop,
  });
  const dialogs = [];
  const ctx = {
    a,
    b,
    out: OUT,
    timings: {},
    startNode,
    stopNode,
    uiUrl,
    dialogs,
    async newPage(label, size, colorScheme) {
      const page = await browser.newPage();
      await page.setViewportSize(VIEWPORTS[size]);
      await page.emulateMedia({ colorScheme });
      page.on('dialog', (d) => {
        dialogs.push(`${label}: ${d.message()}`);
        void d.dismiss();
      });
      page.on('pageerror', (e) => console.log(`  [${label}] page error: ${e.message}`));
      page.on('console', (m) => m.type() === 'error' && console.log(`  [${label}] console: ${m.text()}`));
      return page;
    },
  };

  let failed = 0;
  try {
    for (const name of names) {
      const t = Date.now();
      try {
        await steps[name](ctx);
        assert(dialogs.length === 0, `no dialog opened (${dialogs.join('; ')})`);
        console.log(`ok   ${name} (${Date.now() - t} ms)`);
      } catch (e) {
        failed++;
        console.log(`FAIL ${name}: ${e.message.split('\n')[0]}`);
        for (const p of browser.pages()) await shoot(p, OUT, `fail-${name}-${browser.pages().indexOf(p)}`).catch(() => {});
        if (names.indexOf(name) === 0) break; // nothing works without the first step
      }
    }
  } finally {
    await browser.close().catch(() => {});
    for (const n of [...nodes]) await stopNode(n).catch(() => {});
    killAll();
    for (const d of temps) rmSync(d, { recursive: true, force: true });
  }
  console.log(`${names.length - failed} passed, ${failed} failed`);
  process.exitCode = failed > 0 ? 1 : 0;
}

process.on('SIGINT', () => {
  killAll();
  process.exit(130);
});
process.on('exit', killAll);

main().catch((e) => {
  console.error(e);
  killAll();
  process.exit(1);
});
