#!/usr/bin/env node
// Screenshots of every screen against the mock node (e2e/mock-node.mjs), in both themes
// and both sizes, into ../target/e2e/mock-*.png. Needs `npm run build` first.
// `--docs` also writes the light group screens into ../docs/screenshots/ (committed).
//
//   node e2e/mock-shots.mjs [--docs]

import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { shoot } from './util.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const OUT = resolve(HERE, '../../target/e2e');
const DOCS = resolve(HERE, '../../docs/screenshots');
const docs = process.argv.includes('--docs');
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

function startMock(port, extra = []) {
  const proc = spawn(process.execPath, [join(HERE, 'mock-node.mjs'), `--port=${port}`, ...extra], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((ok, fail) => {
    proc.stdout.once('data', () => ok(proc));
    proc.once('exit', (c) => fail(new Error(`mock exited ${c}`)));
  });
}

const procs = [];
const profile = mkdtempSync(join(tmpdir(), 'purr-shots-'));
try {
  mkdirSync(OUT, { recursive: true });
  procs.push(await startMock(8799), await startMock(8798, ['--empty']));
  const ctx = await chromium.launchPersistentContext(profile, { executablePath: '/usr/bin/chromium', headless: true, args: FLAGS });
  const errors = [];
  const page = async (w, h, scheme, url = 'http://127.0.0.1:8799/') => {
    const p = await ctx.newPage();
    p.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    p.on('pageerror', (e) => errors.push(e.message));
    await p.setViewportSize({ width: w, height: h });
    await p.emulateMedia({ colorScheme: scheme });
    await p.goto(url);
    await p.waitForSelector('.me-name, .peer-list, .empty');
    await p.waitForTimeout(300);
    return p;
  };
  const open = async (p, name, nth = 0) => {
    await p.locator(`[role="option"][aria-label^="${name},"]`).nth(nth).click();
    await p.waitForSelector('.msg');
    await p.waitForTimeout(400);
  };

  for (const scheme of ['light', 'dark']) {
    const d = await page(1280, 800, scheme);
    await shoot(d, OUT, `mock-me-desktop-${scheme}`);
    await open(d, 'bob');
    await shoot(d, OUT, `mock-conv-desktop-${scheme}`);
    await d.locator('.composer-input').fill('hello from the screenshot script');
    await d.locator('.composer-input').press('Enter');
    await d.waitForTimeout(3000);
    await shoot(d, OUT, `mock-conv-sent-desktop-${scheme}`);
    await open(d, 'sam');
    await d.getByRole('button', { name: 'Compare' }).click();
    await d.waitForTimeout(400);
    await shoot(d, OUT, `mock-conflict-desktop-${scheme}`);
    await open(d, 'carol@kitchen-pi');
    await d.locator('.composer-input').fill('é'.repeat(30000));
    await shoot(d, OUT, `mock-offline-counter-desktop-${scheme}`);
    await d.close();

    const m = await page(360, 740, scheme);
    await shoot(m, OUT, `mock-drawer-phone-${scheme}`);
    await open(m, 'bob');
    await shoot(m, OUT, `mock-conv-phone-${scheme}`);
    await m.close();

    // Groups (issue 18): the conversation (a member's message arrives late), the members
    // panel with a message's receipts opened, the New group dialog, a removed group.
    const openGroup = async (p, name) => {
      await p.locator('.group-row', { hasText: name }).click();
      await p.waitForSelector('.group-conv .msg, .group-conv .system-line');
      await p.waitForTimeout(1500);
    };
    const g = await page(1280, 800, scheme);
    await openGroup(g, 'Lab 3');
    await shoot(g, OUT, `mock-group-desktop-${scheme}`);
    await g.getByRole('button', { name: 'Members of Lab 3' }).click();
    await g.locator('.receipts-btn').last().click();
    await g.waitForTimeout(300);
    await shoot(g, OUT, `mock-group-members-desktop-${scheme}`);
    await g.getByRole('button', { name: /New group/ }).click();
    await g.locator('#group-name').fill('Friday lunch');
    await g.getByRole('checkbox', { name: /^bob,/ }).check();
    await g.getByRole('checkbox', { name: /^carol@kitchen-pi,/ }).check();
    await g.waitForTimeout(200);
    await shoot(g, OUT, `mock-group-new-desktop-${scheme}`);
    await g.keyboard.press('Escape');
    await openGroup(g, 'Old project');
    await shoot(g, OUT, `mock-group-removed-desktop-${scheme}`);
    await g.close();
    const gp = await page(390, 844, scheme);
    await openGroup(gp, 'Lab 3');
    await shoot(gp, OUT, `mock-group-phone-${scheme}`);
    await gp.getByRole('button', { name: 'Show peers' }).click();
    await gp.waitForTimeout(300);
    await shoot(gp, OUT, `mock-group-list-phone-${scheme}`);
    await gp.close();

    const e = await page(1280, 800, scheme, 'http://127.0.0.1:8798/');
    await shoot(e, OUT, `mock-empty-desktop-${scheme}`);
    await e.close();
  }
  // Scrolling up pages in older history.
  const s = await page(1280, 800, 'light');
  await open(s, 'bob');
  for (let i = 0; i < 10; i++) {
    await s.evaluate(() => {
      document.querySelector('.messages').scrollTop = 0;
    });
    await s.waitForTimeout(300);
  }
  const ids = await s.evaluate(() => [...document.querySelectorAll('.msg')].map((m) => m.getAttribute('data-id')));
  console.log(`paging: ${ids.length} messages rendered, ${new Set(ids).size} unique`);
  await shoot(s, OUT, 'mock-conv-top-desktop-light');
  // The node goes away: the banner says so, and after a few failures why.
  procs[0].kill('SIGTERM');
  await s.waitForTimeout(6000);
  await shoot(s, OUT, 'mock-reconnecting-desktop-light');
  await ctx.close();
  if (errors.length) console.log(`page errors:\n  ${errors.join('\n  ')}`);
  if (docs) {
    mkdirSync(DOCS, { recursive: true });
    for (const n of ['group-desktop', 'group-members-desktop', 'group-new-desktop', 'group-removed-desktop', 'group-phone', 'group-list-phone']) {
      copyFileSync(join(OUT, `mock-${n}-light.png`), join(DOCS, `${n}-light.png`));
    }
    console.log(`group screenshots copied to ${DOCS}`);
  }
} finally {
  for (const p of procs) p.kill('SIGTERM');
  rmSync(profile, { recursive: true, force: true });
}
