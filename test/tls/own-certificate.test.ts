// Own-certificate mode (`--secure --auto_cert=false`) through the built CLI: the given PEM files are
// served, SIGHUP swaps in new ones without dropping open streams (and keeps the old ones when the new
// files are bad), and bad files stop the start with one line and exit code 2 before anything opens.
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, runCli, spawnBroker, tempDir, type ChildBroker } from '../helpers/broker.js';
import { bearer } from '../helpers/http.js';
import { HttpsSse, httpsRequest } from './https-client.js';
import { issue, type Issued } from './x509.js';

const NAME = 'own.broker.test';

async function waitForLog(broker: ChildBroker, pattern: RegExp, after = 0, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!broker.stdout.slice(after).some((l) => pattern.test(l))) {
    if (broker.proc.exitCode !== null) throw new Error(`broker exited: ${broker.stderr.join('')}`);
    if (Date.now() > deadline) throw new Error(`no log line matching ${pattern}:\n${broker.stdout.join('\n')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('own certificate mode', () => {
  let dir: string;
  let ca: Issued;
  let first: Issued;
  let broker: ChildBroker;
  let base: string;
  const certPath = () => join(dir, 'tls', 'chain.pem');
  const keyPath = () => join(dir, 'tls', 'key.pem');
  const install = (cert: Issued, key: Issued = cert) => {
    writeFileSync(certPath(), cert.certPem + ca.certPem);
    writeFileSync(keyPath(), key.keyPem, { mode: 0o600 });
  };

  beforeAll(async () => {
    dir = tempDir();
    mkdirSync(join(dir, 'tls'));
    ca = issue({ cn: 'Own test CA', ca: true });
    first = issue({ cn: NAME, names: [NAME], issuer: ca });
    install(first);
    broker = await spawnBroker([
      '--secure',
      '--auto_cert=false',
      '--cert_path',
      certPath(),
      '--key_path',
      keyPath(),
      '--https_port',
      '0',
      '--http_port',
      '0',
      '--domain',
      NAME,
      '--db',
      join(dir, 'db'),
      '--admin_token',
      ADMIN,
      '--log_level',
      'info',
    ]);
    base = broker.url;
  });
  afterAll(async () => {
    await broker?.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the given certificate over HTTPS, and plain HTTP redirects to it', async () => {
    expect(base).toMatch(new RegExp(`^https://${NAME.replace(/\./g, '\\.')}:\\d+$`));
    const health = await httpsRequest(`${base}/`, { ca: ca.certPem });
    expect(health.status).toBe(200);
    expect(health.peer.serial).toBe(first.serial.toUpperCase());

    const listening = broker.stdout.map((l) => JSON.parse(l) as { redirect?: string }).find((l) => l.redirect);
    const httpPort = Number(listening!.redirect!.split(':').pop());
    const res = await fetch(`http://127.0.0.1:${httpPort}/verify?x=1`, { redirect: 'manual' });
    expect(res.status).toBe(301);
    expect(res.headers.get('location')).toBe(`${base}/verify?x=1`);
  });

  const TITLE =
    'reloads the files on SIGHUP without dropping an open stream, and ' + 'keeps serving when the new files are bad';
  it(TITLE, async () => {
    const created = await httpsRequest(`${base}/create_user`, {
      ca: ca.certPem,
      body: { admin_token: ADMIN, username: 'carol', password: 'correct horse battery staple', tenant_name: 'own' },
    });
    expect(created.status).toBe(200);
    const login = await httpsRequest(`${base}/login`, {
      ca: ca.certPem,
      body: { username: 'carol', password: 'correct horse battery staple' },
    });
    const auth = bearer(login.body.jwt);
    const stream = new HttpsSse(`${base}/sse`, { ca: ca.certPem, headers: auth });
    await stream.opened;
    expect(stream.peer?.serial).toBe(first.serial.toUpperCase());

    const second = issue({ cn: NAME, names: [NAME], issuer: ca });
    install(second);
    let mark = broker.stdout.length;
    broker.proc.kill('SIGHUP');
    await waitForLog(broker, /reloaded the certificate/, mark);
    const after = await httpsRequest(`${base}/`, { ca: ca.certPem });
    expect(after.peer.serial).toBe(second.serial.toUpperCase());
    await httpsRequest(`${base}/insert`, { ca: ca.certPem, body: { event: 'reloaded', data: true }, headers: auth });
    await stream.waitForEvents(1);
    expect(stream.ended).toBe(false);

    // A key that does not match: logged, and the second certificate stays in service.
    install(issue({ cn: NAME, names: [NAME], issuer: ca }), first);
    mark = broker.stdout.length;
    broker.proc.kill('SIGHUP');
    await waitForLog(broker, /certificate reload failed.*does not match/, mark);
    expect(broker.proc.exitCode).toBeNull();
    expect((await httpsRequest(`${base}/`, { ca: ca.certPem })).peer.serial).toBe(second.serial.toUpperCase());
    stream.close();
  });
});

describe('own certificate mode refuses bad files before it starts', () => {
  let dir: string;
  let good: Issued;
  beforeAll(() => {
    dir = tempDir();
    good = issue({ cn: NAME, names: [NAME] });
    writeFileSync(join(dir, 'chain.pem'), good.certPem);
    writeFileSync(join(dir, 'key.pem'), good.keyPem);
    writeFileSync(join(dir, 'other-key.pem'), issue({ cn: NAME }).keyPem);
    writeFileSync(join(dir, 'garbage.pem'), 'not a certificate\n');
    mkdirSync(join(dir, 'a-directory'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('starts with an expired certificate or one for another name, but warns about each', async () => {
    const stale = issue({
      cn: 'elsewhere.test',
      names: ['elsewhere.test'],
      notBefore: new Date(Date.now() - 10 * 86400_000),
      notAfter: new Date(Date.now() - 86400_000),
    });
    writeFileSync(join(dir, 'stale.pem'), stale.certPem);
    writeFileSync(join(dir, 'stale-key.pem'), stale.keyPem);
    const broker = await spawnBroker([
      '--secure',
      '--auto_cert=false',
      '--cert_path',
      join(dir, 'stale.pem'),
      '--key_path',
      join(dir, 'stale-key.pem'),
      '--https_port',
      '0',
      '--http_port',
      '0',
      '--domain',
      NAME,
      '--db',
      join(dir, 'db-stale'),
      '--admin_token',
      ADMIN,
    ]);
    try {
      const log = broker.stdout.join('\n');
      expect(log).toMatch(/stale\.pem expired on/);
      expect(log).toMatch(new RegExp(`stale\\.pem is not valid for --domain ${NAME.replace(/\./g, '\\.')}`));
    } finally {
      expect(await broker.kill()).toBe(0);
    }
  });

  it.each(['--https_port', '--http_port'])(
    '%s already in use: one line naming the port, exit 2, the database released',
    async (flag) => {
      const busy = createServer();
      await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
      const port = (busy.address() as AddressInfo).port;
      try {
        const ports = { '--https_port': '0', '--http_port': '0', [flag]: String(port) };
        const db = join(dir, `db-busy${flag}`);
        const result = await runCli([
          '--secure',
          '--auto_cert=false',
          '--cert_path',
          join(dir, 'chain.pem'),
          '--key_path',
          join(dir, 'key.pem'),
          ...Object.entries(ports).flat(),
          '--host',
          '127.0.0.1',
          '--db',
          db,
          '--admin_token',
          ADMIN,
        ]);
        expect(result.code).toBe(2);
        expect(result.stderr.trim()).toBe(`broker: port ${port} is already in use`);
        // Shut down cleanly on the way out: the lock is gone, so the next start is not refused.
        expect(existsSync(join(db, 'broker.pid'))).toBe(false);
      } finally {
        busy.close();
      }
    },
  );

  const cases: Array<[string, string, string, RegExp]> = [
    ['a missing certificate', 'missing.pem', 'key.pem', /cannot read --cert_path .*missing\.pem: no such file/],
    ['a missing key', 'chain.pem', 'missing-key.pem', /cannot read --key_path .*missing-key\.pem: no such file/],
    [
      'an unreadable path (a directory)',
      'a-directory',
      'key.pem',
      /cannot read --cert_path .*a-directory: is a directory/,
    ],
    ['a file that is not a certificate', 'garbage.pem', 'key.pem', /garbage\.pem holds no PEM certificate/],
    ['a key that is not a key', 'chain.pem', 'garbage.pem', /garbage\.pem is not a valid unencrypted PEM private key/],
    [
      'a key that does not match the certificate',
      'chain.pem',
      'other-key.pem',
      /other-key\.pem does not match the certificate/,
    ],
  ];
  it.each(cases)('%s: one line on stderr, exit 2, nothing opened', async (_what, cert, key, message) => {
    const db = join(dir, `db-${cert}-${key}`);
    const result = await runCli([
      '--secure',
      '--auto_cert=false',
      '--cert_path',
      join(dir, cert),
      '--key_path',
      join(dir, key),
      '--https_port',
      '0',
      '--http_port',
      '0',
      '--host',
      '127.0.0.1',
      '--db',
      db,
      '--admin_token',
      ADMIN,
    ]);
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(message);
    expect(result.stdout).toBe('');
    // Refused before the database was even opened.
    expect(existsSync(db)).toBe(false);
  });
});
