// deploy/nats-server.conf and deploy/nats-server.service, the files docs/cluster.md installs: nats-server
// itself parses the config (-t) with the per-machine variables set, and systemd-analyze verifies the unit.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { natsServerBinary, SKIP_NATS } from '../helpers/nats.js';
import { binariesOrSkip, requireBinary } from '../tls/system-binary.js';

const CONF = resolve(import.meta.dirname, '../../deploy/nats-server.conf');
const UNIT = resolve(import.meta.dirname, '../../deploy/nats-server.service');
const VARS = { NATS_SERVER_NAME: 'nats-1', NATS_BROKER_PASSWORD: 'p1', NATS_ROUTE_PASSWORD: 'p2' };

function testConfig(env: Record<string, string>): { code: number | null; output: string } {
  const result = spawnSync(natsServerBinary(), ['-t', '-c', CONF], {
    encoding: 'utf8',
    timeout: 20_000,
    env: { PATH: process.env.PATH ?? '', ...env },
  });
  return { code: result.status, output: `${result.stdout}${result.stderr}` };
}

describe.skipIf(SKIP_NATS)('deploy/nats-server.conf', () => {
  it('is valid for nats-server with the variables of nats.env set', () => {
    const result = testConfig(VARS);
    expect(result.output).toMatch(/is valid/);
    expect(result.code).toBe(0);
  });

  it('is refused without them (so the check above can fail), and clusters three JetStream servers', () => {
    const result = testConfig({ NATS_SERVER_NAME: 'nats-1' });
    expect(result.code).not.toBe(0);
    expect(result.output).toMatch(/NATS_BROKER_PASSWORD/);
    const text = readFileSync(CONF, 'utf8');
    expect(text.match(/nats-route:\/\//g)).toHaveLength(3);
    expect(text).toMatch(/jetstream \{\n\s+store_dir: \/var\/lib\/nats\/jetstream/);
  });
});

const INSTALL = 'apt-get install systemd';
const bins = binariesOrSkip(['systemd-analyze'], INSTALL);

describe.skipIf(bins.skip)('deploy/nats-server.service', () => {
  it('passes systemd-analyze verify without a warning and loads the config and nats.env', () => {
    const result = spawnSync(requireBinary(bins.paths, 'systemd-analyze', INSTALL), ['verify', UNIT], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(`${result.stdout}${result.stderr}`.trim()).toBe('');
    expect(result.status).toBe(0);
    const text = readFileSync(UNIT, 'utf8');
    expect(text).toMatch(/^ExecStart=\/usr\/sbin\/nats-server -c \/etc\/nats\/nats-server.conf$/m);
    expect(text).toMatch(/^EnvironmentFile=\/etc\/nats\/nats.env$/m);
    expect(text).toMatch(/^User=nats$/m);
  });
});
