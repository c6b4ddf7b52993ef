// --local: requests without credentials act as the user `local` (tenant `local`) on every user route;
// sent credentials are still checked; admin routes still need the admin token; loopback only.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, resolveConfig } from '../../src/config.js';
import { ADMIN, runCli, spawnBroker, startBroker, testDir, type TestBroker } from '../helpers/broker.js';
import { get, makeUser, post } from '../helpers/http.js';
import { openSse } from '../helpers/sse.js';
import { waitUntil } from '../helpers/wait.js';
import { join } from 'node:path';

describe('local mode', () => {
  let broker: TestBroker;
  beforeAll(async () => {
    broker = await startBroker({ local: true });
  });
  afterAll(() => broker.stop());

  it('every user route works with no credentials, as the user local in tenant local', async () => {
    const inserted = await post(broker.url, '/insert', { event: 'note', data: { n: 1 } });
    expect(inserted.status).toBe(200);
    const events = await get(broker.url, '/events');
    expect(events.status).toBe(200);
    expect(events.body.events.map((e: { data: unknown }) => e.data)).toEqual([{ n: 1 }]);
    const verify = await get(broker.url, '/verify');
    expect(verify.status).toBe(200);
    expect(verify.body.username).toBe('local');
    const sse = openSse(broker.url, undefined);
    await sse.waitForEvents(1);
    await post(broker.url, '/insert', { event: 'note', data: { n: 2 } });
    await sse.waitForEvents(2);
    sse.close();
    const user = await post(broker.url, '/get_user', { admin_token: ADMIN, username: 'local' });
    expect(user.body.tenant_name).toBe('local');
  });

  it('sent credentials are still checked, and other users act as themselves', async () => {
    expect((await get(broker.url, '/verify', { authorization: 'Bearer nope' })).status).toBe(401);
    expect((await post(broker.url, '/insert', { event: 'x', data: 1 }, { authorization: 'Bearer x.y.z' })).status).toBe(
      401,
    );
    const { jwt, username } = await makeUser(broker.url);
    const verify = await get(broker.url, '/verify', { authorization: `Bearer ${jwt}` });
    expect(verify.body.username).toBe(username);
  });

  it('admin routes still need the admin token', async () => {
    expect((await post(broker.url, '/list_users', {})).status).toBe(400);
    expect((await post(broker.url, '/list_users', { admin_token: 'wrong' })).status).toBe(401);
  });
});

describe('without local mode', () => {
  it('the same requests without credentials are refused', async () => {
    const broker = await startBroker();
    try {
      expect((await post(broker.url, '/insert', { event: 'note', data: 1 })).status).toBe(401);
      expect((await get(broker.url, '/events')).status).toBe(401);
      expect((await get(broker.url, '/verify')).status).toBe(401);
      const sse = openSse(broker.url, undefined);
      await sse.waitFor((r) => r.status !== 0);
      expect(sse.status).toBe(401);
      expect((await post(broker.url, '/get_user', { admin_token: ADMIN, username: 'local' })).status).toBe(404);
    } finally {
      await broker.stop();
    }
  });
});

describe('local mode refuses to leave loopback', () => {
  it('a non-loopback --host or --secure is a config error', () => {
    expect(() => resolveConfig({ local: true, host: '0.0.0.0' })).toThrow(ConfigError);
    expect(() => resolveConfig({ local: true, host: '192.168.1.5' })).toThrow(/loopback/);
    expect(() => resolveConfig({ local: true, secure: true, auto_cert: false })).toThrow(/--secure/);
    expect(resolveConfig({ local: true }).host).toBe('127.0.0.1');
    expect(resolveConfig({ local: true, host: '::1' }).host).toBe('::1');
  });

  it('the CLI exits 2 with one clear line; a loopback start says the data is open to the machine', async () => {
    const dir = testDir();
    const refused = await runCli(['--local', '--host', '0.0.0.0', '--db', join(dir, 'a')]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/--local listens on loopback only/);
    const child = await spawnBroker(['--local', '--db', join(dir, 'b'), '--admin_token', ADMIN]);
    try {
      await waitUntil(() => /open to every process of this machine/.test(child.stdout.join('\n')), 5000, 'the warning');
    } finally {
      await child.kill('SIGTERM');
    }
  });
});
