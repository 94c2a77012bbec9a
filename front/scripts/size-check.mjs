#!/usr/bin/env node
// Prints the gzipped size of every file in dist/ and the total; exits 1 over the budget.
// The node embeds all of dist/ into its binary, so the budget counts every file.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const BUDGET = 150 * 1024;
const dist = fileURLToPath(new URL('../dist', import.meta.url));

function files(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? files(p) : [p];
  });
}

let list;
try {
  list = files(dist).sort();
} catch {
  console.error('size: no dist/ — run `npm run build` first');
  process.exit(1);
}

const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
let raw = 0;
let gz = 0;
for (const f of list) {
  const bytes = readFileSync(f);
  const z = gzipSync(bytes, { level: 9 }).length;
  raw += bytes.length;
  gz += z;
  console.log(`${relative(dist, f).padEnd(36)} ${kb(bytes.length).padStart(10)} ${kb(z).padStart(10)} gz`);
}
console.log(`${'total'.padEnd(36)} ${kb(raw).padStart(10)} ${kb(gz).padStart(10)} gz (budget ${kb(BUDGET)})`);
if (gz > BUDGET) {
  console.error(`size: over budget by ${kb(gz - BUDGET)}`);
  process.exit(1);
}
