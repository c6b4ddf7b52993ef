// The client as users get it: `import ... from 'broker/client'` resolves to the build, with types, and
// the build imports nothing outside itself (no runtime dependency) and no Node-only API (browsers).
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const DIST = resolve(import.meta.dirname, '../../dist/client');

describe('the broker/client package export', () => {
  it('resolves by package name to the built client, with its types', async () => {
    const mod = await import('broker/client');
    for (const name of ['BrokerClient', 'Subscription', 'LatestView', 'SseParser', 'BrokerError']) expect(typeof (mod as Record<string, unknown>)[name]).toBe('function');
    expect(existsSync(resolve(DIST, 'index.d.ts'))).toBe(true);
    expect(readFileSync(resolve(DIST, 'index.d.ts'), 'utf8')).toContain('BrokerClient');
  });

  it('imports only its own files and uses no Node-only API', () => {
    const files = readdirSync(DIST).filter((f) => f.endsWith('.js'));
    expect(files.length).toBeGreaterThan(5);
    for (const file of files) {
      const code = readFileSync(resolve(DIST, file), 'utf8');
      for (const [, spec] of code.matchAll(/\bfrom\s+['"]([^'"]+)['"]/g)) expect(spec, `${file} imports ${spec}`).toMatch(/^\.\/[a-z-]+\.js$/);
      expect(code, `${file} uses import()`).not.toMatch(/\bimport\(/);
      expect(code, `${file} uses require`).not.toMatch(/\brequire\(/);
      expect(code, `${file} uses Buffer`).not.toMatch(/\bBuffer\b/);
      expect(code, `${file} uses process`).not.toMatch(/\bprocess\./);
    }
  });
});
