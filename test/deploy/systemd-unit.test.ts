// broker.service: systemd itself checks the unit (systemd-analyze verify, whose warnings do not change
// its exit code, so the test also requires silence), and the hardening the deployment relies on is there.
import { spawnSync } from 'node:child_process';
import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/broker.js';
import { binariesOrSkip, requireBinary } from '../tls/system-binary.js';

const UNIT = resolve(import.meta.dirname, '../../broker.service');
const INSTALL = 'apt-get install systemd';
const bins = binariesOrSkip(['systemd-analyze'], INSTALL);

function verify(file: string): { code: number | null; output: string } {
  const result = spawnSync(requireBinary(bins.paths, 'systemd-analyze', INSTALL), ['verify', file], {
    encoding: 'utf8',
    timeout: 20_000,
  });
  if (result.error) throw result.error;
  return { code: result.status, output: `${result.stdout}${result.stderr}`.trim() };
}

/** key -> every value it is given in [Service]. */
function serviceSection(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = header[1];
      continue;
    }
    if (section !== 'Service') continue;
    const eq = line.indexOf('=');
    const key = line.slice(0, eq);
    out.set(key, [...(out.get(key) ?? []), line.slice(eq + 1)]);
  }
  return out;
}

describe.skipIf(bins.skip)('broker.service under systemd-analyze', () => {
  let dir: string | undefined;
  beforeAll(() => {
    dir = tempDir('broker-unit-');
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('passes systemd-analyze verify without a single warning', () => {
    const result = verify(UNIT);
    expect(result.output).toBe('');
    expect(result.code).toBe(0);
  });

  it('the verification notices a broken unit (so the check above can fail)', () => {
    const broken = join(dir!, 'broker.service');
    copyFileSync(UNIT, broken);
    writeFileSync(
      broken,
      readFileSync(broken, 'utf8')
        .replace('ProtectSystem=strict', 'ProtectSystem=stricter')
        .replace('[Install]', 'NoSuchSetting=1\n[Install]'),
    );
    const result = verify(broken);
    expect(result.output).toMatch(/ProtectSystem|protect system/i);
    expect(result.output).toMatch(/NoSuchSetting/);
  });
});

// Reads the file only: runs with or without systemd-analyze.
describe('broker.service as written', () => {
  const TITLE =
    'runs hardened: own user, state directory, one capability, read-only ' +
    'system, restart on failure, secrets from a file';
  it(TITLE, () => {
    const service = serviceSection(readFileSync(UNIT, 'utf8'));
    const one = (key: string) => service.get(key)?.at(-1);
    expect(one('User')).toBe('broker');
    expect(one('StateDirectory')).toBe('broker');
    expect(one('AmbientCapabilities')).toBe('CAP_NET_BIND_SERVICE');
    expect(one('CapabilityBoundingSet')).toBe('CAP_NET_BIND_SERVICE');
    expect(one('NoNewPrivileges')).toBe('true');
    expect(one('ProtectSystem')).toBe('strict');
    expect(one('ProtectHome')).toBe('true');
    expect(one('PrivateTmp')).toBe('true');
    expect(one('Restart')).toBe('on-failure');
    expect(one('EnvironmentFile')).toMatch(/^-?\/etc\/broker\/broker\.env$/);
    // The database and the certificate cache live in the state directory, the only writable place.
    const env = service.get('Environment') ?? [];
    expect(env).toContain('BROKER_DB=/var/lib/broker/db');
    expect(env).toContain('BROKER_CERTS=/var/lib/broker/certs');
    expect(env).toContain('BROKER_SECURE=true');
    // V8's JIT needs W+X memory: this setting would crash node at start.
    expect(service.has('MemoryDenyWriteExecute')).toBe(false);
  });

  it('bounds memory, hides the host in /proc, and filters system calls tighter than @system-service', () => {
    const service = serviceSection(readFileSync(UNIT, 'utf8'));
    expect(service.get('MemoryMax')?.at(-1)).toMatch(/^\d+[KMG]$/);
    expect(service.get('ProcSubset')?.at(-1)).toBe('pid');
    expect(service.get('ProtectProc')?.at(-1)).toBe('invisible');
    const filters = service.get('SystemCallFilter') ?? [];
    expect(filters).toContain('@system-service');
    // A deny list (~) after the allow list takes those groups out of it.
    const denied = filters.filter((f) => f.startsWith('~')).flatMap((f) => f.slice(1).split(/\s+/));
    expect(denied).toEqual(expect.arrayContaining(['@privileged', '@resources']));
  });

  it('reads the admin token as a systemd credential through --admin_token_file, not from a variable', () => {
    const service = serviceSection(readFileSync(UNIT, 'utf8'));
    expect(service.get('LoadCredential')).toContain('admin_token:/etc/broker/admin_token');
    expect(service.get('Environment')).toContain('BROKER_ADMIN_TOKEN_FILE=%d/admin_token');
    expect((service.get('Environment') ?? []).some((e) => e.startsWith('BROKER_ADMIN_TOKEN='))).toBe(false);
  });
});
