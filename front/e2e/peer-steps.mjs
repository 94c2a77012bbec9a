// Steps that need two connected nodes. They cannot pass until the node connects peers;
// run them with `node e2e/run.mjs` (all steps) or `--only=<step>,...`.
// Node A ("alice") is opened on 127.0.0.1, node B ("bob") on localhost (see uiUrl).

import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { assert, expectText, shoot, waitFor } from './util.mjs';

/** The file bubbles' screenshots go to docs/screenshots too with E2E_DOCS_SHOTS=1 (they
 * are committed; an ordinary run leaves the docs alone). */
const DOCS_SHOTS = new URL('../../docs/screenshots/', import.meta.url).pathname;
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 800 };

/** Screenshots of A's and B's conversations with the file bubbles in view, at desktop
 * (1280×800) and phone (390×844) width. */
async function shootFiles(ctx, pages) {
  for (const [who, page] of Object.entries(pages)) {
    for (const [size, viewport] of [
      ['desktop', DESKTOP],
      ['phone', PHONE],
    ]) {
      await page.setViewportSize(viewport);
      await page.waitForTimeout(300); // layout and transitions settle
      await page.evaluate(() => {
        const el = document.querySelector('.messages');
        if (el) el.scrollTop = el.scrollHeight;
      });
      await waitFor(page, () => [...document.querySelectorAll('.file-thumb')].every((i) => i.complete && i.naturalWidth > 0), 'thumbnails drawn');
      const name = `files-${who}-${size}`;
      await shoot(page, ctx.out, name);
      if (process.env.E2E_DOCS_SHOTS === '1') {
        mkdirSync(DOCS_SHOTS, { recursive: true });
        const dest = join(DOCS_SHOTS, `${name}.png`);
        copyFileSync(join(ctx.out, `${name}.png`), dest);
        // Committed files stay small: 256 colours where pngquant is installed (~25 KB).
        spawnSync('pngquant', ['--quality=70-95', '--skip-if-larger', '--force', '--output', dest, '--', dest]);
      }
    }
    await page.setViewportSize(DESKTOP);
  }
}

async function pages(ctx) {
  if (!ctx.pageA || ctx.pageA.isClosed()) {
    ctx.pageA = await ctx.newPage('A', 'desktop', 'light');
    await ctx.pageA.goto(ctx.uiUrl(ctx.a, '127.0.0.1'));
  }
  if (!ctx.pageB || ctx.pageB.isClosed()) {
    ctx.pageB = await ctx.newPage('B', 'desktop', 'light');
    await ctx.pageB.goto(ctx.uiUrl(ctx.b, 'localhost'));
  }
  for (const p of [ctx.pageA, ctx.pageB]) {
    await waitFor(p, () => document.querySelector('.me-btn-name')?.textContent !== '…', 'me event');
  }
  return { A: ctx.pageA, B: ctx.pageB };
}

const option = (page, name) => page.locator(`[role="option"][aria-label^="${name},"]`);

async function openConv(page, name) {
  await option(page, name).first().click();
  await page.waitForSelector(`[role="log"][aria-label="Messages with ${name}"]`);
}

async function closeConv(page) {
  await page.locator('.me-btn').click();
  await page.waitForSelector('.me-pane');
}

async function send(page, text) {
  const box = page.locator('.composer-input');
  await box.fill(text);
  await box.press('Enter');
}

/** Waits for the last own bubble with this text to show the given tick state. */
async function expectTicks(page, text, status, timeout = 15_000) {
  await page.waitForFunction(
    ([t, s]) => {
      const own = [...document.querySelectorAll('.msg.own')].filter((m) => m.querySelector('.text')?.textContent === t);
      return own.length > 0 && own[own.length - 1].querySelector(`.ticks-${s}`) !== null;
    },
    [text, status],
    { timeout },
  );
}

const nameA = (ctx) => ctx.a.name;
const nameB = (ctx) => ctx.b.name;

export const PEER_STEPS = {
  async bothOnline(ctx) {
    const { A, B } = await pages(ctx);
    await A.waitForSelector(`[role="option"][aria-label^="${nameB(ctx)}, online"]`, { timeout: 20_000 });
    await B.waitForSelector(`[role="option"][aria-label^="${nameA(ctx)}, online"]`, { timeout: 20_000 });
    await shoot(A, ctx.out, 'list-desktop-light');
  },

  async sendEmojiAndScript(ctx) {
    const { A, B } = await pages(ctx);
    await closeConv(B);
    await openConv(A, nameB(ctx));
    const text = 'hi 🐱 <script>alert(1)</script> <b>x</b> https://example.org';
    await send(A, text);
    await expectText(B, `[role="option"][aria-label^="${nameA(ctx)},"] .badge`, '1');
    await openConv(B, nameA(ctx));
    await expectText(B, '.msg.theirs .text', text);
    const injected = await B.evaluate(() => document.querySelector('.messages script, .messages b') !== null);
    assert(!injected, 'message text is not parsed as HTML');
    const rel = await B.locator('.msg.theirs .text a').last().getAttribute('rel');
    assert(rel === 'noopener noreferrer', `link rel is ${rel}`);
    await shoot(A, ctx.out, 'conversation-desktop-light');
    await A.emulateMedia({ colorScheme: 'dark' });
    await A.waitForTimeout(300); // let colour transitions finish
    await shoot(A, ctx.out, 'conversation-desktop-dark');
    await A.emulateMedia({ colorScheme: 'light' });
  },

  async ticks(ctx) {
    const { A, B } = await pages(ctx);
    await closeConv(B);
    await openConv(A, nameB(ctx));
    const text = `tick test ${Date.now()}`;
    await send(A, text);
    await expectTicks(A, text, 'delivered');
    await openConv(B, nameA(ctx));
    await expectTicks(A, text, 'read');
  },

  async unreadBadge(ctx) {
    const { A, B } = await pages(ctx);
    await closeConv(B);
    await openConv(A, nameB(ctx));
    for (let i = 1; i <= 3; i++) await send(A, `unread ${i}`);
    await expectText(B, `[role="option"][aria-label^="${nameA(ctx)},"] .badge`, '3');
    await waitFor(B, () => document.title === '(3) purr', 'title (3) purr');
    await openConv(B, nameA(ctx));
    await waitFor(B, () => document.title === 'purr', 'title purr after reading');
    const badges = await B.locator(`[role="option"][aria-label^="${nameA(ctx)},"] .badge`).count();
    assert(badges === 0, 'badge cleared once read');
  },

  async renamePropagation(ctx) {
    const { A, B } = await pages(ctx);
    await closeConv(A);
    await A.getByRole('button', { name: 'Rename' }).click();
    const newName = `alice-${Date.now() % 10000}`;
    await A.locator('#rename-input').fill(newName);
    await A.locator('#rename-input').press('Enter');
    await expectText(A, '.me-name', newName);
    await B.waitForSelector(`[role="option"][aria-label^="${newName},"]`, { timeout: 15_000 });
    ctx.a.name = newName;
  },

  async offlinePendingThenDelivered(ctx) {
    const { A } = await pages(ctx);
    await ctx.stopNode(ctx.b);
    await openConv(A, nameB(ctx));
    await expectText(A, '.notice-info', `${nameB(ctx)} is offline — messages will be delivered when they’re back`, 20_000);
    const text = `while you were away ${Date.now()}`;
    await send(A, text);
    await expectTicks(A, text, 'pending');
    await shoot(A, ctx.out, 'offline-pending-desktop-light');
    ctx.b = await ctx.startNode({ name: 'bob', dataDir: ctx.b.dataDir, connect: [`127.0.0.1:${ctx.a.port}`] });
    await ctx.pageB?.close();
    ctx.pageB = null;
    const { B } = await pages(ctx);
    await expectTicks(A, text, 'delivered', 30_000).catch(() => expectTicks(A, text, 'read', 1000));
    await openConv(B, nameA(ctx));
    await expectText(B, '.msg.theirs .text', text);
  },

  async pagingWithoutDuplicates(ctx) {
    const { B } = await pages(ctx);
    const N = 200;
    for (let i = 0; i < N; i++) {
      const r = await fetch(`http://127.0.0.1:${ctx.a.port}/api/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${ctx.a.token}` },
        body: JSON.stringify({ to: ctx.b.id, text: `bulk ${i}` }),
      });
      assert(r.status === 201, `POST /api/v1/messages → ${r.status}`);
    }
    await closeConv(B);
    await B.reload();
    await openConv(B, nameA(ctx));
    await expectText(B, '.msg .text', `bulk ${N - 1}`, 30_000);
    for (let i = 0; i < 100; i++) {
      const done = await B.evaluate(() => {
        const el = document.querySelector('.messages');
        el.scrollTop = 0;
        return document.querySelector('.log-note')?.textContent?.includes('beginning') ?? false;
      });
      if (done) break;
      await B.waitForTimeout(150);
    }
    const { ids, bulk } = await B.evaluate(() => ({
      ids: [...document.querySelectorAll('.msg')].map((m) => m.getAttribute('data-id')),
      bulk: [...document.querySelectorAll('.msg .text')].map((t) => t.textContent).filter((t) => t.startsWith('bulk ')),
    }));
    assert(new Set(ids).size === ids.length, `no duplicate message ids (${ids.length} rendered)`);
    assert(bulk.length === N, `all ${N} bulk messages loaded (got ${bulk.length})`);
    assert(bulk.every((t, i) => t === `bulk ${i}`), 'bulk messages in order');
    const phone = await ctx.newPage('B-phone', 'phone', 'light');
    await phone.goto(ctx.uiUrl(ctx.b, 'localhost').replace(/\/\?token=.*$/, '/'));
    await phone.waitForSelector('.drawer-open');
    await openConv(phone, nameA(ctx));
    await shoot(phone, ctx.out, 'conversation-phone-light');
    await phone.emulateMedia({ colorScheme: 'dark' });
    await phone.waitForTimeout(300); // let colour transitions finish
    await shoot(phone, ctx.out, 'conversation-phone-dark');
    await phone.close();
  },

  /** Issue 17: an image and an HTML file with script offered from A's composer, accepted in
   * B's bubbles; B shows the thumbnail; /content serves the image inline and the HTML as a
   * sandboxed attachment that never runs. */
  async files(ctx) {
    const { A, B } = await pages(ctx);
    await openConv(A, nameB(ctx));
    // A picture with something to see in the screenshots: sky, sun, hills.
    const pngB64 = await A.evaluate(() => {
      const c = document.createElement('canvas');
      c.width = 640;
      c.height = 480;
      const g = c.getContext('2d');
      const sky = g.createLinearGradient(0, 0, 0, 480);
      sky.addColorStop(0, '#ff9a8b');
      sky.addColorStop(1, '#e91e63');
      g.fillStyle = sky;
      g.fillRect(0, 0, 640, 480);
      g.fillStyle = '#ffe082';
      g.beginPath();
      g.arc(450, 170, 80, 0, 2 * Math.PI);
      g.fill();
      g.fillStyle = '#4a148c';
      g.beginPath();
      g.moveTo(0, 480);
      g.quadraticCurveTo(160, 250, 330, 400);
      g.quadraticCurveTo(480, 300, 640, 380);
      g.lineTo(640, 480);
      g.fill();
      return c.toDataURL('image/png').split(',')[1];
    });
    // What is typed when files are attached goes with the first as its caption.
    await A.locator('.composer-input').fill('Sunset from the balcony');
    const html = '<!doctype html><script>alert("ran")</script><p>evil</p>';
    await A.locator('[data-testid="file-picker"]').setInputFiles([
      { name: 'pink.png', mimeType: 'image/png', buffer: Buffer.from(pngB64, 'base64') },
      { name: 'evil.html', mimeType: 'text/html', buffer: Buffer.from(html) },
    ]);
    await waitFor(
      A,
      () => [...document.querySelectorAll('.msg.file')].filter((b) => b.textContent.includes('Waiting for them')).length === 2,
      'two offers waiting on A',
    );
    await openConv(B, nameA(ctx));
    await waitFor(B, () => document.querySelectorAll('.msg.file button').length >= 4, 'Accept/Decline on B');
    for (let i = 0; i < 2; i++) await B.locator('.msg.file').getByText('Accept', { exact: true }).first().click();
    await waitFor(
      B,
      () => [...document.querySelectorAll('.msg.file')].filter((b) => b.textContent.includes('Received')).length === 2,
      'both received on B',
    );
    await expectText(A, '.msg.file .file-status', 'Sent');
    // The thumbnail A's browser made arrives in B's browser: a JPEG of at most 320 px.
    await waitFor(B, () => [...document.querySelectorAll('.file-thumb')].some((i) => i.complete && i.naturalWidth > 0), 'thumbnail shown');
    const thumb = await B.evaluate(() => {
      const i = document.querySelector('.file-thumb');
      return { w: i.naturalWidth, h: i.naturalHeight, src: i.getAttribute('src') };
    });
    assert(thumb.w === 320 && thumb.h === 240, `thumbnail scaled to 320×240 (got ${thumb.w}×${thumb.h})`);
    const thumbType = await B.evaluate(async (src) => (await fetch(src)).headers.get('content-type'), thumb.src);
    assert(thumbType === 'image/jpeg', `the thumbnail is the sender's JPEG (${thumbType})`);
    await expectText(B, '.msg.file .file-caption', 'Sunset from the balcony');
    await expectText(A, '.msg.file .file-caption', 'Sunset from the balcony');
    assert((await A.locator('.composer-input').inputValue()) === '', 'the caption left the composer');
    // A's upload copy is deleted once delivered: its bubble keeps the preview, no link.
    await waitFor(A, () => [...document.querySelectorAll('.msg.file.own')].every((b) => b.querySelector('.file-name a') === null), 'sent files unlinked');
    await shootFiles(ctx, { sender: A, receiver: B });
    await shoot(B, ctx.out, 'files-received');
    const ids = await B.evaluate(() =>
      Object.fromEntries([...document.querySelectorAll('.msg.file')].map((b) => [b.querySelector('.file-name').textContent, b.dataset.id])),
    );
    const heads = await B.evaluate(async (ids) => {
      const out = {};
      for (const [name, id] of Object.entries(ids)) {
        const r = await fetch(`/api/v1/files/${id}/content`);
        out[name] = Object.fromEntries(['content-type', 'content-disposition', 'content-security-policy', 'x-content-type-options'].map((h) => [h, r.headers.get(h)]));
      }
      return out;
    }, ids);
    assert(heads['pink.png']['content-disposition'].startsWith('inline'), `png inline: ${JSON.stringify(heads)}`);
    assert(heads['evil.html']['content-disposition'].startsWith('attachment'), 'html attachment');
    assert(heads['evil.html']['content-type'] === 'application/octet-stream', 'html as octet-stream');
    for (const h of Object.values(heads)) {
      assert(h['x-content-type-options'] === 'nosniff' && h['content-security-policy'].startsWith('sandbox'), 'nosniff + CSP');
    }
    // Opened in a tab: the image shows; the HTML is downloaded, never run.
    let dialogs = 0;
    B.context().on('dialog', (d) => {
      dialogs++;
      void d.dismiss();
    });
    const [img] = await Promise.all([B.waitForEvent('popup'), B.evaluate((id) => window.open(`/api/v1/files/${id}/content`), ids['pink.png'])]);
    await img.waitForLoadState();
    const shown = await img.evaluate(() => document.querySelector('img')?.naturalWidth ?? 0);
    assert(shown === 640, `the full image shows in a tab (width ${shown})`);
    await img.close();
    const [download] = await Promise.all([
      B.waitForEvent('download'),
      B.evaluate((id) => window.open(`/api/v1/files/${id}/content`), ids['evil.html']),
    ]);
    assert(download.suggestedFilename() === 'evil.html', `download named ${download.suggestedFilename()}`);
    await B.waitForTimeout(1000);
    assert(dialogs === 0, 'the HTML file ran a script');
  },

  async reloadKeepsHistory(ctx) {
    const { A, B } = await pages(ctx);
    await B.reload();
    await openConv(B, nameA(ctx));
    await expectText(B, '.msg .text', 'bulk 199', 15_000);
    // The files come back with the history page, in their final state.
    await waitFor(
      B,
      () => [...document.querySelectorAll('.msg.file')].filter((b) => b.textContent.includes('Received')).length === 2,
      'both files received after a reload',
    );
    await expectText(B, '.msg.file .file-caption', 'Sunset from the balcony');
    await A.reload();
    await openConv(A, nameB(ctx));
    await waitFor(
      A,
      () => [...document.querySelectorAll('.msg.file.own')].filter((b) => b.textContent.includes('Sent')).length === 2,
      'both files sent after a reload',
    );
  },
};
