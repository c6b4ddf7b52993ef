// Checks the built dashboard (dist/dashboard) against its budget: every asset gzipped, 150 KiB at most
// in all. `npm run build:dashboard` runs it after Vite; it prints the figure and exits 1 past the budget.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

export const BUDGET = 150 * 1024;

export function gzippedSize(dir) {
  let total = 0;
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    total += statSync(path).isDirectory() ? gzippedSize(path) : gzipSync(readFileSync(path), { level: 9 }).length;
  }
  return total;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const dir = new URL('../dist/dashboard', import.meta.url).pathname;
  const size = gzippedSize(dir);
  console.log(`dashboard bundle: ${(size / 1024).toFixed(1)} KiB gzipped (budget ${BUDGET / 1024} KiB)`);
  if (size > BUDGET) process.exit(1);
}
