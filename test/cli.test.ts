// The `broker` command as a user runs it: flags, environment, .env, --help, bad values, secrets kept in
// the database across restarts, one writer per database, and no secret in any log line.
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FLAGS, envName } from '../src/config.js';
import pkg from '../package.json' with { type: 'json' };
import { killAfterTest, runCli, spawnBroker, testDir } from './helpers/broker.js';
import { bearer, get, post } from './helpers/http.js';
import { waitUntil } from './helpers/wait.js';

describe('--help', () => {
  it('lists every flag with its default and env var', async () => {
    const { code, stdout } = await runCli(['--help']);
    expect(code).toBe(0);
    for (const flag of FLAGS) {
      const line = stdout.split('\n').findIndex((l) => l.includes(`--${flag.name} `));
      expect(line, flag.name).toBeGreaterThanOrEqual(0);
      // commander may wrap a long description onto the next lines
      const block = stdout
        .split('\n')
        .slice(line, line + 4)
        .join(' ');
      expect(block, flag.name).toContain(envName(flag.name));
      expect(block, flag.name).toMatch(/default:/);
    }
  });
});

describe('--version', () => {
  it("prints package.json's version and exits 0", async () => {
    const { code, stdout } = await runCli(['--version']);
    expect(code).toBe(0);
    expect(stdout.trim()).toBe(pkg.version);
  });
});

describe('unknown BROKER_* variables', () => {
  it('are warned about at start, from the environment and from .env, with the setting meant', async () => {
    const dir = testDir();
    writeFileSync(join(dir, '.env'), 'BROKER_ADMN_TOKEN=typo-in-dotenv\nBROKER_ORIGIN=https://fine.example\n');
    const broker = killAfterTest(
      await spawnBroker(
        ['--db', join(dir, 'db')],
        { BROKER_JWT_SECRT: 'typo-in-env', BROKER_NOTHING_LIKE_IT_AT_ALL: '1' },
        dir,
      ),
    );
    await broker.kill();
    const stderr = broker.stderr.join('');
    expect(stderr).toMatch(
      /unknown variable BROKER_JWT_SECRT in the environment: did you mean BROKER_JWT_SECRET \(--jwt_secret\)\?/,
    );
    expect(stderr).toMatch(
      /unknown variable BROKER_ADMN_TOKEN in \.env: did you mean BROKER_ADMIN_TOKEN \(--admin_token\)\?/,
    );
    expect(stderr).toMatch(
      /unknown variable BROKER_NOTHING_LIKE_IT_AT_ALL in the environment: no broker setting has this name/,
    );
    expect(stderr).not.toMatch(/BROKER_ORIGIN/);
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
    [
      'secure with public jwt_secret',
      ['--secure', '--domain', 'x.example.com', '--jwt_secret', 'secret', '--admin_token', 'a-strong-admin-token'],
    ],
    [
      'secure with public admin_token',
      [
        '--secure',
        '--domain',
        'x.example.com',
        '--jwt_secret',
        'a-long-random-secret-value-of-32-bytes',
        '--admin_token',
        'letmein',
      ],
    ],
    [
      'secure with a 1-byte jwt_secret',
      [
        '--secure',
        '--domain',
        'x.example.com',
        '--jwt_secret',
        'a',
        '--admin_token',
        'an-admin-token-of-at-least-32-bytes!',
      ],
    ],
    ['secure with a 31-byte admin_token', ['--secure', '--domain', 'x.example.com', '--admin_token', 'x'.repeat(31)]],
    [
      '--admin_token and --admin_token_file together',
      ['--admin_token', 'x'.repeat(32), '--admin_token_file', '/etc/hostname', '--port', '0'],
    ],
    ['--jwt_secret_file that does not exist', ['--jwt_secret_file', '/nonexistent/jwt_secret', '--port', '0']],
  ];
  for (const [name, args] of cases) {
    it(`${name} → one clear line and exit 2, nothing listening`, async () => {
      const dir = testDir();
      const { code, stderr, stdout } = await runCli(
        args.some((a) => a.startsWith('--db')) ? args : [...args, '--db', join(dir, 'db')],
        {},
        dir,
      );
      expect(code).toBe(2);
      expect(stderr.trim().split('\n')).toHaveLength(1);
      expect(stdout).not.toContain('listening');
    });
  }

  it('a short secret under --secure is named with its length and the minimum', async () => {
    const { code, stderr } = await runCli([
      '--secure',
      '--domain',
      'x.example.com',
      '--jwt_secret',
      'a',
      '--db',
      join(testDir(), 'db'),
    ]);
    expect(code).toBe(2);
    expect(stderr).toMatch(/--jwt_secret is 1 bytes, it needs at least 32/);
  });

  it('an invalid value from the environment also exits 2', async () => {
    const { code, stderr } = await runCli(['--db', join(testDir(), 'db')], { BROKER_PORT: '99999' });
    expect(code).toBe(2);
    expect(stderr).toMatch(/port/);
  });
});

describe('flags, environment and .env', () => {
  it('accepts --flag value, --flag=value and quoted booleans; flag beats env beats .env', async () => {
    const dir = testDir();
    writeFileSync(
      join(dir, '.env'),
      'BROKER_ADMIN_TOKEN=from-dotenv\nBROKER_JWT_EXPIRY=111\nBROKER_ORIGIN=https://dotenv.example\n',
    );
    const broker = killAfterTest(
      await spawnBroker(
        ['--db', join(dir, 'db'), '--jwt_expiry=222', '--password_checker="false"', '--secure=false'],
        { BROKER_JWT_EXPIRY: '333', BROKER_ORIGIN: 'https://env.example' },
        dir,
      ),
    );
    try {
      // admin token from .env
      expect(
        (
          await post(broker.url, '/create_user', {
            admin_token: 'from-dotenv',
            username: 'u',
            password: 'weak pass',
            tenant_name: 't',
          })
        ).status,
      ).toBe(200);
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
    // The token is in an owner-only file the start names, never on stderr or in the log.
    const tokenFile = join(db, 'admin_token');
    await waitUntil(() => first.stderr.join('').includes(`cat ${tokenFile}`), 5000, 'the admin token notice');
    expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
    const admin = readFileSync(tokenFile, 'utf8').trim();
    expect(Buffer.byteLength(admin)).toBeGreaterThanOrEqual(32);
    expect(first.stderr.join('') + first.stdout.join('')).not.toContain(admin);
    expect(
      (
        await post(first.url, '/create_user', {
          admin_token: admin,
          username: 'keep',
          password: 'password-keep',
          tenant_name: 't',
          data: { a: 1 },
        })
      ).status,
    ).toBe(200);
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
      expect((await post(second.url, '/get_user', { admin_token: admin, username: 'keep' })).body.data).toEqual({
        a: 1,
      });
      const history = await get(second.url, '/events?after=0', bearer(jwt));
      expect(history.body.events.map((e: { data: unknown }) => e.data)).toEqual([{ n: 1 }]);
    } finally {
      await second.kill();
    }
  });

  it('--admin_token_file and --jwt_secret_file read the secrets from files (trailing newline trimmed)', async () => {
    const dir = testDir();
    const admin = 'admin-token-from-a-file-0123456789abcdef';
    writeFileSync(join(dir, 'admin_token'), `${admin}\n`, { mode: 0o600 });
    writeFileSync(join(dir, 'jwt_secret'), 'jwt-secret-from-a-file-0123456789abcdef\n', { mode: 0o600 });
    const broker = killAfterTest(
      await spawnBroker(['--db', join(dir, 'db')], {
        BROKER_ADMIN_TOKEN_FILE: join(dir, 'admin_token'),
        BROKER_JWT_SECRET_FILE: join(dir, 'jwt_secret'),
      }),
    );
    try {
      expect(
        (
          await post(broker.url, '/create_user', {
            admin_token: admin,
            username: 'f',
            password: 'pw-file-1',
            tenant_name: 't',
          })
        ).status,
      ).toBe(200);
      expect(
        (
          await post(broker.url, '/create_user', {
            admin_token: `${admin}\n`,
            username: 'g',
            password: 'pw-file-1',
            tenant_name: 't',
          })
        ).status,
      ).toBe(401);
      const { jwt } = (await post(broker.url, '/login', { username: 'f', password: 'pw-file-1' })).body;
      // Signed with the file's secret (without its newline): verify it here with jose.
      const { jwtVerify } = await import('jose');
      await expect(
        jwtVerify(jwt, new TextEncoder().encode('jwt-secret-from-a-file-0123456789abcdef')),
      ).resolves.toBeTruthy();
      expect(broker.stderr.join('')).not.toMatch(/Generated an admin token/);
    } finally {
      await broker.kill();
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
    const secrets = {
      admin: 'admin-token-SENTINEL-1',
      jwtSecret: 'jwt-secret-SENTINEL-2',
      password: 'password-SENTINEL-3',
    };
    const broker = killAfterTest(
      await spawnBroker([
        '--db',
        join(dir, 'db'),
        '--admin_token',
        secrets.admin,
        '--jwt_secret',
        secrets.jwtSecret,
        '--log_level',
        'trace',
      ]),
    );
    let jwt = '';
    let resetCode = '';
    try {
      const start = broker.stdout.map((l) => JSON.parse(l)).find((l) => l.url);
      expect(start.msg).toContain('listening');
      // One line, ours: not also fastify's "Server listening at" per address.
      expect(broker.stdout.filter((l) => /listening/i.test(l))).toHaveLength(1);
      expect(start.msg).toContain(join(dir, 'db'));
      // Written right after the listening line, which is what spawnBroker waited for.
      await waitUntil(() => /unsafe setting/.test(broker.stdout.join('\n')), 5000, 'an unsafe-setting warning');

      await post(broker.url, '/create_user', {
        admin_token: secrets.admin,
        username: 'logged',
        password: secrets.password,
        tenant_name: 't',
        two_factor: false,
      });
      jwt = (await post(broker.url, '/login', { username: 'logged', password: secrets.password })).body.jwt;
      await get(broker.url, '/verify', bearer(jwt));
      await get(broker.url, '/verify', {
        authorization: `Basic ${Buffer.from(`logged:${secrets.password}`).toString('base64')}`,
      });
      resetCode = (await post(broker.url, '/create_totp', { admin_token: secrets.admin, username: 'logged' })).body
        .totp;
      await post(broker.url, '/password_reset', {
        username: 'logged',
        totp: resetCode,
        password: `${secrets.password}-new`,
      });
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
