// Small helpers shared by the e2e steps.
import { join } from 'node:path';

export function assert(cond, what) {
  if (!cond) throw new Error(`assertion failed: ${what}`);
}

/** Waits until `selector`'s text contains `text`. */
export async function expectText(page, selector, text, timeout = 10_000) {
  try {
    await page.waitForFunction(
      ([sel, t]) => [...document.querySelectorAll(sel)].some((el) => (el.textContent ?? '').includes(t)),
      [selector, text],
      { timeout },
    );
  } catch {
    const got = await page
      .locator(selector)
      .allTextContents()
      .catch(() => []);
    throw new Error(`expected ${selector} to contain "${text}", got ${JSON.stringify(got).slice(0, 300)}`);
  }
}

export async function waitFor(page, fn, what, timeout = 10_000) {
  try {
    await page.waitForFunction(fn, undefined, { timeout });
  } catch {
    throw new Error(`timed out waiting for ${what}`);
  }
}

export async function shoot(page, dir, name) {
  const path = join(dir, `${name}.png`);
  await page.screenshot({ path });
  console.log(`  screenshot ${path}`);
}
