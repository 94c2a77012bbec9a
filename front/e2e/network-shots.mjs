#!/usr/bin/env node
// Screenshots of the Network page (issue 20) against the mock node (e2e/mock-node.mjs,
// which serves a made-up GET /api/v1/diag), at 1280×800 and 390×844 in both themes, into
// ../target/e2e/; `--docs` also writes the light ones into ../docs/screenshots/
// (committed, referenced from docs/UI.md). Needs `npm run build` first.
//
//   node e2e/network-shots.mjs [--docs]

import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { assert, shoot } from './util.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const OUT = resolve(HERE, '../../target/e2e');
const DOCS = resolve(HERE, '../../docs/screenshots');
const docs = process.argv.includes('--docs');
const PORT = 8797;
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const mock = spawn(process.execPath, [join(HERE, 'mock-node.mjs'), `--port=${PORT}`], { stdio: ['ignore', 'pipe', 'inherit'] });
const profile = mkdtempSync(join(tmpdir(), 'purr-netshots-'));
try {
  await new Promise((ok, fail) => {
    mock.stdout.once('data', ok);
    mock.once('exit', (c) => fail(new Error(`mock exited ${c}`)));
  });
  mkdirSync(OUT, { recursive: true });
  const ctx = await chromium.launchPersistentContext(profile, { executablePath: '/usr/bin/chromium', headless: true, args: FLAGS });
  const errors = [];
  for (const scheme of ['light', 'dark']) {
    for (const [w, h, size] of [
      [1280, 800, 'desktop'],
      [390, 844, 'phone'],
    ]) {
      const p = await ctx.newPage();
      p.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
      p.on('pageerror', (e) => errors.push(e.message));
      await p.setViewportSize({ width: w, height: h });
      await p.emulateMedia({ colorScheme: scheme });
      await p.goto(`http://127.0.0.1:${PORT}/`);
      await p.waitForSelector('.me-name');
      // On a phone the peer drawer starts open over the "me" screen.
      if (size === 'phone') await p.keyboard.press('Escape');
      await p.getByRole('button', { name: 'Network' }).click();
      await p.waitForSelector('.check');
      await p.waitForTimeout(300);
      const overflow = await p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert(overflow <= 0, `the Network page is wider than the ${size} screen by ${overflow}px`);
      await shoot(p, OUT, `network-${size}-${scheme}`);
      // The facts behind the checks: a contact's addresses, dial attempts, backoff, path.
      await p.locator('#contacts-title').evaluate((el) => el.scrollIntoView({ block: 'start' }));
      await p.locator('.diag-contact').last().locator('summary').click();
      await p.waitForTimeout(200);
      await shoot(p, OUT, `network-contacts-${size}-${scheme}`);
      await p.close();
    }
  }
  await ctx.close();
  if (errors.length) {
    console.log(`page errors:\n  ${errors.join('\n  ')}`);
    process.exitCode = 1;
  }
  if (docs) {
    mkdirSync(DOCS, { recursive: true });
    for (const n of ['network-desktop', 'network-phone', 'network-contacts-desktop', 'network-contacts-phone']) {
      const to = join(DOCS, `${n}-light.png`);
      copyFileSync(join(OUT, `${n}-light.png`), to);
      // Smaller committed files where pngquant is installed (Debian: apt install pngquant).
      spawnSync('pngquant', ['--force', '--skip-if-larger', '--output', to, '--', to], { stdio: 'ignore' });
    }
    console.log(`network screenshots copied to ${DOCS}`);
  }
} finally {
  mock.kill('SIGTERM');
  rmSync(profile, { recursive: true, force: true });
}
