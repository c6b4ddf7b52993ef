// The client as users get it: `import ... from 'broker/client'` resolves to the build, with types, and
// the build imports nothing outside itself (no runtime dependency) and no Node-only API (browsers).
// It is also its own package (client/package.json, an npm workspace): packed, its tarball installs
// offline into an empty folder, alone, and imports with node.
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, existsSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/broker.js';

const run = promisify(execFile);
const CLIENT = resolve(import.meta.dirname, '../../client');

const DIST = resolve(import.meta.dirname, '../../dist/client');

describe('the broker/client package export', () => {
  it('resolves by package name to the built client, with its types', async () => {
    const mod = await import('broker/client');
    for (const name of ['BrokerClient', 'Subscription', 'LatestView', 'SseParser', 'BrokerError'])
      expect(typeof (mod as Record<string, unknown>)[name]).toBe('function');
    expect(existsSync(resolve(DIST, 'index.d.ts'))).toBe(true);
    expect(readFileSync(resolve(DIST, 'index.d.ts'), 'utf8')).toContain('BrokerClient');
  });

  it('imports only its own files and uses no Node-only API', () => {
    const files = readdirSync(DIST).filter((f) => f.endsWith('.js'));
    expect(files.length).toBeGreaterThan(5);
    for (const file of files) {
      const code = readFileSync(resolve(DIST, file), 'utf8');
      for (const [, spec] of code.matchAll(/\bfrom\s+['"]([^'"]+)['"]/g))
        expect(spec, `${file} imports ${spec}`).toMatch(/^\.\/[a-z-]+\.js$/);
      expect(code, `${file} uses import()`).not.toMatch(/\bimport\(/);
      expect(code, `${file} uses require`).not.toMatch(/\brequire\(/);
      expect(code, `${file} uses Buffer`).not.toMatch(/\bBuffer\b/);
      expect(code, `${file} uses process`).not.toMatch(/\bprocess\./);
    }
  });
});

describe('the client package (client/, @broker/client)', () => {
  const manifest = JSON.parse(readFileSync(join(CLIENT, 'package.json'), 'utf8')) as Record<string, any>;

  it('declares an ESM package with typed exports and no dependencies', () => {
    expect(manifest.name).toBe('@broker/client');
    expect(manifest.type).toBe('module');
    expect(manifest.exports['.']).toEqual({ types: './dist/index.d.ts', import: './dist/index.js' });
    // For resolvers that ignore `exports` (older bundlers and tools): the same ESM entry.
    expect(manifest.main).toBe('./dist/index.js');
    for (const field of ['dependencies', 'peerDependencies', 'optionalDependencies', 'bundleDependencies'])
      expect(manifest[field], field).toBeUndefined();
    const root = JSON.parse(readFileSync(resolve(CLIENT, '../package.json'), 'utf8')) as { workspaces?: string[] };
    expect(root.workspaces).toContain('client');
  });

  it('packs, installs from the tarball offline into an empty folder, and imports with node', async () => {
    const dir = tempDir('broker-client-pack-');
    try {
      // prepack builds the package's own output (client/dist) first.
      const packed = await run('npm', ['pack', '--json', '--pack-destination', dir], { cwd: CLIENT, timeout: 60_000 });
      const [info] = JSON.parse(packed.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
      const files = info.files.map((f) => f.path).sort();
      expect(files).toContain('dist/index.js');
      expect(files).toContain('dist/index.d.ts');
      expect(files).toContain('README.md');
      // The package is the build, not the sources or the server.
      expect(files.filter((f) => !f.startsWith('dist/') && !['README.md', 'package.json'].includes(f))).toEqual([]);

      const app = join(dir, 'app');
      await run('mkdir', [app]);
      writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
      await run('npm', ['install', '--offline', '--no-audit', '--no-fund', join(dir, info.filename)], {
        cwd: app,
        timeout: 60_000,
      });
      // Installed alone: nothing but the client itself came with it.
      const installed = readdirSync(join(app, 'node_modules')).filter((n) => !n.startsWith('.'));
      expect(installed).toEqual(['@broker']);
      expect(readdirSync(join(app, 'node_modules', '@broker'))).toEqual(['client']);
      writeFileSync(
        join(app, 'main.js'),
        `import { BrokerClient, LatestView, SseParser } from '@broker/client';
const client = new BrokerClient({ url: 'http://127.0.0.1:1/', fetch: async () => new Response('{}') });
const view = new LatestView();
view.apply('title', 1, 'hi');
console.log(JSON.stringify({ url: client.url, latest: view.toObject(), parser: typeof SseParser }));
`,
      );
      const out = await run(process.execPath, ['main.js'], { cwd: app, timeout: 30_000 });
      expect(JSON.parse(out.stdout)).toEqual({
        url: 'http://127.0.0.1:1',
        latest: { title: 'hi' },
        parser: 'function',
      });
      expect(existsSync(join(app, 'node_modules', '@broker', 'client', 'dist', 'index.d.ts'))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
