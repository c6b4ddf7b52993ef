// `npm ci` on the Node version package.json promises (>=20) installs without an EBADENGINE warning:
// every package the lockfile pins runs on this Node (light-my-request 6.8 pulled cookie 2, Node >=22).
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');

describe('installing on Node 20', () => {
  it('npm ci (dry run, from the lockfile) warns about no engine', async () => {
    expect(Number(process.versions.node.split('.')[0])).toBeGreaterThanOrEqual(20);
    // A dry run resolves and checks every locked package without touching node_modules.
    const { stdout, stderr } = await promisify(execFile)(
      'npm',
      ['ci', '--dry-run', '--ignore-scripts', '--offline', '--no-audit', '--no-fund'],
      { cwd: ROOT, timeout: 60_000 },
    );
    expect(`${stdout}${stderr}`).not.toMatch(/EBADENGINE/);
  }, 90_000);
});
