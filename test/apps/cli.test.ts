// `broker apps …` against a running broker: create an app and a key from a shell, use the key.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ADMIN, killAfterTest, runCli, spawnBroker, testDir } from '../helpers/broker.js';
import { call } from './support.js';

describe('broker apps', () => {
  // Six CLI processes and a broker, each loading the whole program: 30 s is short on a loaded 2-core machine.
  it('creates an app and a key on a running broker; --help documents the subcommands', {
    timeout: 120_000,
  }, async () => {
    const dir = testDir();
    const broker = killAfterTest(await spawnBroker(['--db', join(dir, 'db'), '--admin_token', ADMIN]));
    const env = { BROKER_ADMIN_TOKEN: ADMIN };
    const created = await runCli(['apps', 'create', 'shop', '--name', 'Shop', '--url', broker.url], env);
    expect(created.code, created.stderr).toBe(0);
    expect(JSON.parse(created.stdout)).toMatchObject({ app_id: 'shop', name: 'Shop', tenant_name: 'shop' });
    const key = await runCli(['apps', 'key', 'shop', '--permissions', 'count', '--url', broker.url], env);
    expect(key.code, key.stderr).toBe(0);
    const made = JSON.parse(key.stdout);
    expect(made.permissions).toEqual({ count: true });
    expect((await call(broker.url, 'POST', '/count', made.key, { id: '', platform: 'ios' })).status).toBe(201);
    const listed = await runCli(['apps', 'keys', 'shop', '--url', broker.url], env);
    expect(listed.stdout).toContain(made.key_id);
    expect(listed.stdout).not.toContain(made.key);
    const wrong = await runCli(['apps', 'create', 'bad id', '--url', broker.url], env);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/app_id/);
    const help = await runCli(['apps', '--help']);
    expect(help.stdout).toMatch(/create \[options\] <app_id>/);
    expect(help.stdout).toMatch(/key \[options\] <app_id>/);
  });
});
