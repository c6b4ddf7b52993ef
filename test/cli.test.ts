// The `broker` command as a user runs it: flags, environment, .env, --help, bad values, secrets kept in
// the database across restarts, one writer per database, and no secret in any log line.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FLAGS, envName } from '../src/config.js';
import { killAfterTest, runCli, spawnBroker, testDir } from './helpers/broker.js';
import { bearer, get, post } from './helpers/http.js';

describe('--help', () => {
  it('lists every flag with its default and env var', async () => {
    const { code, stdout } = await runCli(['--help']);
    expect(code).toBe(0);
    for (const flag of FLAGS) {
      const line = stdout.split('\n').findIndex((l) => l.includes(`--${flag.name} `));
      expect(line, flag.name).toBeGreaterThanOrEqual(0);
      // commander may wrap a long description onto the next lines
      const block = stdout.split('\n').slice(line, line + 4).join(' ');
      expect(block, flag.name).toContain(envName(flag.name));
      expect(block, flag.name).toMatch(/default:/);
    }
  });
});

describe('bad values', () => {
  const cases: Array<[string, string[]]> = [
    ['port out of range', ['--port', '70000']],
    ['port not a number', ['--port=http']],
    ['negative expiry', ['--jwt_expiry', '-5']],
    ['unknown flag', ['--bogus']],
    ['bad boolean', ['--secure=maybe']],
    ['empty --db', ['--db=', '--port', '0']],
    ['secure with public jwt_secret', ['--secure', '--domain', 'x.example.com', '--jwt_secret', 'secret', '--admin_token', 'a-strong-admin-token']],
    ['secure with public admin_token', ['--secure', '--domain', 'x.example.com', '--jwt_secret', 'a-long-random-secret-value', '--admin_token', 'letmein']],
  ];
  for (const [name, args] of cases) {
    it(`${name} → one clear line and exit 2, nothing listening`, async () => {
      const dir = testDir();
      const { code, stderr, stdout } = await runCli(args.some((a) => a.startsWith('--db')) ? args : [...args, '--db', join(dir, 'db')], {}, dir);
      expect(code).toBe(2);
      expect(stderr.trim().split('\n')).toHaveLength(1);
      expect(stdout).not.toContain('listening');
    });
  }

  it('an invalid value from the environment also exits 2', async () => {
    const { code, stderr } = await runCli(['--db', join(testDir(), 'db')], { BROKER_PORT: '99999' });
    expect(code).toBe(2);
    expect(stderr).toMatch(/port/);
  });
});

describe('flags, environment and .env', () => {
  it('accepts --flag value, --flag=value and quoted booleans; flag beats env beats .env', async () => {
    const dir = testDir();
    writeFileSync(join(dir, '.env'), 'BROKER_ADMIN_TOKEN=from-dotenv\nBROKER_JWT_EXPIRY=111\nBROKER_ORIGIN=https://dotenv.example\n');
    const broker = killAfterTest(await spawnBroker(['--db', join(dir, 'db'), '--jwt_expiry=222', '--password_checker="false"', '--secure=false'], { BROKER_JWT_EXPIRY: '333', BROKER_ORIGIN: 'https://env.example' }, dir));
    try {
      // admin token from .env
      expect((await post(broker.url, '/create_user', { admin_token: 'from-dotenv', username: 'u', password: 'weak pass', tenant_name: 't' })).status).toBe(200);
      // expiry from the flag (222), not env (333) or .env (111)
      const { jwt } = (await post(broker.url, '/login', { username: 'u', password: 'weak pass' })).body;
      const payload = JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());
      expect(payload.exp - payload.iat).toBe(222);
      // origin from env, not .env
      const cors = await fetch(`${broker.url}/`, { headers: { origin: 'https://env.example' } });
      expect(cors.headers.get('access-control-allow-origin')).toBe('https://env.example');
    } finally {
      await broker.kill();
    }
  });
});

describe('secrets and persistence', () => {
  it('generates the admin token once, keeps the JWT secret, and keeps data across restarts', async () => {
    const dir = testDir();
    const db = join(dir, 'db');
    const first = killAfterTest(await spawnBroker(['--db', db]));
    const printed = first.stderr.join('').match(/admin token[^\n]*\n\s+(\S+)/);
    expect(printed).not.toBeNull();
    const admin = printed![1];
    expect((await post(first.url, '/create_user', { admin_token: admin, username: 'keep', password: 'password-keep', tenant_name: 't', data: { a: 1 } })).status).toBe(200);
    const { jwt } = (await post(first.url, '/login', { username: 'keep', password: 'password-keep' })).body;
    expect((await post(first.url, '/insert', { event: 'e', data: { n: 1 } }, bearer(jwt))).status).toBe(200);
    const key = (await get(first.url, '/verify', bearer(jwt))).body.key;
    expect(await first.kill('SIGTERM')).toBe(0);

    const second = killAfterTest(await spawnBroker(['--db', db]));
    try {
      expect(second.stderr.join('')).not.toContain(admin);
      // The token issued before the restart still verifies: the JWT secret and biscuit key persisted.
      const verify = await get(second.url, '/verify', bearer(jwt));
      expect(verify.status).toBe(200);
      expect(verify.body.key).toEqual(key);
      expect((await post(second.url, '/get_user', { admin_token: admin, username: 'keep' })).body.data).toEqual({ a: 1 });
      const history = await get(second.url, '/events?after=0', bearer(jwt));
      expect(history.body.events.map((e: { data: unknown }) => e.data)).toEqual([{ n: 1 }]);
    } finally {
      await second.kill();
    }
  });

  it('a second broker on the same database fails with a clear message', async () => {
    const dir = testDir();
    const first = killAfterTest(await spawnBroker(['--db', join(dir, 'db'), '--admin_token', 'x-admin-token']));
    try {
      const second = await runCli(['--port', '0', '--db', join(dir, 'db'), '--admin_token', 'x-admin-token']);
      expect(second.code).toBe(2);
      expect(second.stderr).toMatch(/in use by another broker/);
      expect((await fetch(`${first.url}/`)).status).toBe(200);
    } finally {
      await first.kill();
    }
  });

  it('takes over the lock a killed broker left behind', async () => {
    const dir = testDir();
    const first = killAfterTest(await spawnBroker(['--db', join(dir, 'db'), '--admin_token', 'x-admin-token']));
    await first.kill('SIGKILL');
    const second = killAfterTest(await spawnBroker(['--db', join(dir, 'db'), '--admin_token', 'x-admin-token']));
    expect((await fetch(`${second.url}/`)).status).toBe(200);
    await second.kill();
  });
});

describe('logs', () => {
  it('say where it listens and where the data is, warn of unsafe settings, and never contain a secret', async () => {
    const dir = testDir();
    const secrets = { admin: 'admin-token-SENTINEL-1', jwtSecret: 'jwt-secret-SENTINEL-2', password: 'password-SENTINEL-3' };
    const broker = killAfterTest(await spawnBroker(['--db', join(dir, 'db'), '--admin_token', secrets.admin, '--jwt_secret', secrets.jwtSecret, '--log_level', 'trace']));
    let jwt = '';
    let resetCode = '';
    try {
      const start = broker.stdout.map((l) => JSON.parse(l)).find((l) => l.url);
      expect(start.msg).toContain('listening');
      expect(start.msg).toContain(join(dir, 'db'));
      expect(broker.stdout.join('\n')).toMatch(/unsafe setting/);

      await post(broker.url, '/create_user', { admin_token: secrets.admin, username: 'logged', password: secrets.password, tenant_name: 't', two_factor: false });
      jwt = (await post(broker.url, '/login', { username: 'logged', password: secrets.password })).body.jwt;
      await get(broker.url, '/verify', bearer(jwt));
      await get(broker.url, '/verify', { authorization: `Basic ${Buffer.from(`logged:${secrets.password}`).toString('base64')}` });
      resetCode = (await post(broker.url, '/create_totp', { admin_token: secrets.admin, username: 'logged' })).body.totp;
      await post(broker.url, '/password_reset', { username: 'logged', totp: resetCode, password: `${secrets.password}-new` });
      await post(broker.url, '/login', { username: 'logged', password: 'wrong-password-SENTINEL-4' });
      const sse = new AbortController();
      const res = await fetch(`${broker.url}/sse?token=${jwt}`, { signal: sse.signal }).catch(() => undefined);
      sse.abort();
      void res;
      await post(broker.url, '/list_users', { admin_token: secrets.admin });
    } finally {
      await broker.kill();
    }
    const logs = broker.stdout.join('\n') + broker.stderr.join('\n');
    expect(logs).toContain('/sse?token=***');
    for (const secret of [...Object.values(secrets), 'wrong-password-SENTINEL-4', jwt, jwt.split('.')[2], resetCode]) {
      expect(logs, secret).not.toContain(secret);
    }
  });
});

describe('.env.example', () => {
  it('lists every flag as a BROKER_ variable with a comment', async () => {
    const { readFileSync } = await import('node:fs');
    const text = readFileSync(new URL('../.env.example', import.meta.url), 'utf8');
    for (const flag of FLAGS) {
      const at = text.indexOf(`# ${envName(flag.name)}=`);
      expect(at, flag.name).toBeGreaterThan(0);
      const comment = text.slice(0, at).trimEnd().split('\n').pop()!;
      expect(comment.startsWith('# '), flag.name).toBe(true);
    }
  });
});
