// Group conversations (issue 18) in three browsers on three real nodes: node C
// ("carol") joins A and B by address (--no-discovery, loopback). A group is created in
// A's browser, B and C accept in theirs, every message is seen by the three in one
// order, with system lines for the roster and receipts under A's message (both read it:
// their screens were open), then A removes C: C's browser shows "You were removed by A"
// and a disabled composer, B sees the system line, and what A writes afterwards reaches
// B and never C. A on 127.0.0.1, B on localhost, C on [::1] (one cookie per host).

import { assert, expectText, shoot, waitFor } from './util.mjs';

async function api(node, path, body) {
  const r = await fetch(`http://127.0.0.1:${node.port}/api/v1/${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${node.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: r.status, json: await r.json().catch(() => null) };
}

/** Polls `f` every 200 ms until it is true, for at most `ms`. */
async function until(f, what, ms = 20_000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await f()) return;
    await new Promise((ok) => setTimeout(ok, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function open(ctx, label, node, host) {
  const page = await ctx.newPage(label, 'desktop', 'light');
  await page.goto(ctx.uiUrl(node, host));
  await waitFor(page, () => document.querySelector('.me-btn-name')?.textContent !== '…', `${label}: me event`);
  return page;
}

const groupRow = (page, name) => page.locator('.group-row', { hasText: name });
const texts = (page) => page.evaluate(() => [...document.querySelectorAll('.group-conv .msg .text')].map((t) => t.textContent));
const ids = (page) => page.evaluate(() => [...document.querySelectorAll('.group-conv [data-id]')].map((m) => m.getAttribute('data-id')));

async function say(page, text) {
  const box = page.locator('.composer-input');
  await box.fill(text);
  await box.press('Enter');
}

export const GROUP_STEPS = {
  async groups(ctx) {
    const { a, b } = ctx;
    const c = await ctx.startNode({ name: 'carol', connect: [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`] });
    const all = [a, b, c];
    const pages = [];
    try {
      // Each sees the other two online, then each writes to each: invitations go to contacts.
      for (const x of all) {
        await until(async () => {
          const peers = (await api(x, 'peers')).json ?? [];
          return all.filter((y) => y !== x).every((y) => peers.some((p) => p.id === y.id && p.online));
        }, `${x.name} sees the other two online`);
      }
      for (const x of all) {
        for (const y of all) {
          if (x === y) continue;
          const r = await api(x, 'messages', { to: y.id, text: `hi ${y.name}` });
          assert(r.status === 201, `1:1 message ${x.name} → ${y.name}: ${r.status}`);
        }
      }
      const A = await open(ctx, 'gA', a, '127.0.0.1');
      const B = await open(ctx, 'gB', b, 'localhost');
      const C = await open(ctx, 'gC', c, '[::1]');
      pages.push(A, B, C);
      const names = Object.fromEntries(
        await Promise.all(all.map(async (n) => [n.id, (await api(n, 'me')).json?.name ?? n.name])),
      );
      const nb = names[b.id];
      const nc = names[c.id];

      // A creates the group in the dialog, picking B and C (unverified: flagged).
      const name = `e2e cats ${Date.now() % 10000}`;
      await A.getByRole('button', { name: /New group/ }).click();
      const dialog = A.getByRole('dialog');
      await dialog.locator('#group-name').fill(name);
      for (const n of [nb, nc]) await dialog.getByRole('checkbox', { name: `${n}, not verified` }).check();
      await expectText(A, '.dialog', 'not verified: compare fingerprints');
      await dialog.getByRole('button', { name: 'Create group' }).click();
      await A.waitForSelector(`[role="log"][aria-label="Messages in ${name}"]`);
      assert((await A.locator('.dialog').count()) === 0, 'the dialog closed once the group existed');

      // B and C accept from the sidebar; A then sees three members, all online.
      for (const P of [B, C]) {
        await expectText(P, '.group-item', 'Invitation from', 20_000);
        await groupRow(P, name).locator('xpath=..').getByRole('button', { name: 'Accept' }).click();
      }
      await expectText(A, '.conv-title .presence', '3/3 online', 30_000);
      for (const P of [B, C]) {
        await expectText(P, '.group-row', '3/3 online', 30_000);
        await groupRow(P, name).click();
        await P.waitForSelector(`[role="log"][aria-label="Messages in ${name}"]`);
      }

      // Each writes; each sees all three, once, in the same order.
      const lines = [`from A ${Date.now()}`, `from B ${Date.now()}`, `from C ${Date.now()}`];
      await say(A, lines[0]);
      await say(B, lines[1]);
      await say(C, lines[2]);
      for (const P of [A, B, C]) {
        await until(async () => {
          const t = await texts(P);
          return lines.every((l) => t.filter((x) => x === l).length === 1);
        }, 'every message once on every screen');
      }
      await until(async () => {
        const [x, y, z] = await Promise.all([A, B, C].map(ids));
        return JSON.stringify(x) === JSON.stringify(y) && JSON.stringify(y) === JSON.stringify(z);
      }, 'one order on the three screens', 10_000);
      const authors = await B.locator('.group-conv .msg-author').allTextContents();
      assert(authors.length >= 1, `author names shown on B (${authors.join(', ')})`);
      for (const line of ['created the group', `added ${nb}`, `added ${nc}`]) await expectText(A, '.system-line', line);
      await expectText(C, '.system-line', 'added you');
      // Receipts: B and C had the group open and visible, so both stored and read it.
      await expectText(A, '.msg.own .receipts-btn', 'delivered to 2/2 · read by 2', 20_000);
      const who = await A.locator('.msg.own .receipts-btn').first().getAttribute('title');
      assert(who.includes(nb) && who.includes(nc), `receipt names on hover: ${who}`);
      await shoot(A, ctx.out, 'group-desktop-light');
      // B at phone width: the group from the drawer, no horizontal scroll.
      const phone = await ctx.newPage('gB-phone', 'phone', 'light');
      pages.push(phone);
      await phone.goto(ctx.uiUrl(b, 'localhost'));
      await phone.waitForSelector('.drawer-open .group-row');
      await groupRow(phone, name).click();
      await expectText(phone, '.group-conv .msg .text', lines[2]);
      await phone.waitForSelector('.app:not(.drawer-open)');
      await phone.waitForTimeout(400); // the drawer's slide
      const overflow = await phone.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
      assert(!overflow, 'no horizontal scroll in a group at phone width');
      await shoot(phone, ctx.out, 'group-phone-light');

      // A removes C in the members panel (a second click confirms).
      await A.getByRole('button', { name: `Members of ${name}` }).click();
      await A.getByRole('button', { name: `Remove ${nc}` }).click();
      await A.getByRole('button', { name: `Confirm: remove ${nc}` }).click();
      await expectText(C, '.group-notice', `You were removed by ${names[a.id]}`, 30_000);
      const disabled = await C.locator('.composer-input').isDisabled();
      assert(disabled, "the removed member's composer is disabled");
      await shoot(C, ctx.out, 'group-removed-desktop-light');
      // B: the system line, and a roster of two.
      await expectText(B, '.system-line', `${names[a.id]} removed ${nc}`, 20_000);
      await expectText(B, '.conv-title .presence', '2/2 online');
      const after = `after the removal ${Date.now()}`;
      await say(A, after);
      await until(async () => (await texts(B)).includes(after), 'B gets what A wrote after the removal');
      await C.waitForTimeout(1500);
      assert(!(await texts(C)).includes(after), 'C got a message written after its removal');
    } finally {
      for (const p of pages) await p.close().catch(() => {});
      await ctx.stopNode(c);
    }
  },
};
