// Let's Encrypt mode end to end against a real ACME server (Debian's pebble): the built CLI obtains a
// certificate by HTTP-01, serves the API over HTTPS with it, redirects plain HTTP, reuses its cache after
// a restart, and renews a certificate that falls due while an SSE stream stays open.
import { existsSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CertificateCache } from '../../src/tls/certificate-cache.js';
import { ADMIN, spawnBroker, tempDir, type ChildBroker } from '../helpers/broker.js';
import { bearer } from '../helpers/http.js';
import { HttpsSse, httpsRequest } from './https-client.js';
import { freePort, startPebble, type Pebble } from './pebble.js';
import { binariesOrSkip, requireBinary } from './system-binary.js';
import { issue } from './x509.js';

const INSTALL = 'apt-get install pebble';
const bins = binariesOrSkip(['pebble', 'pebble-challtestsrv'], INSTALL);
const DAY = 24 * 3600_000;

function plainHttp(
  port: number,
  path: string,
  method = 'GET',
  host?: string,
): Promise<{ status: number; location?: string; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method, headers: host ? { host } : {} }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, location: res.headers.location, text }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function waitForLog(broker: ChildBroker, pattern: RegExp, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = broker.stdout.find((l) => pattern.test(l));
    if (line) return line;
    if (broker.proc.exitCode !== null) throw new Error(`broker exited: ${broker.stderr.join('')}`);
    if (Date.now() > deadline) throw new Error(`no log line matching ${pattern}:\n${broker.stdout.join('\n')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.skipIf(bins.skip)("Let's Encrypt mode against pebble", () => {
  let pebble: Pebble;
  let httpPort: number;
  let root: string;
  const dirs: string[] = [];
  const brokers: ChildBroker[] = [];

  beforeAll(async () => {
    const paths = {
      pebble: requireBinary(bins.paths, 'pebble', INSTALL),
      challtestsrv: requireBinary(bins.paths, 'pebble-challtestsrv', INSTALL),
    };
    // pebble validates HTTP-01 on one fixed port: the brokers of this file take turns on it.
    httpPort = await freePort();
    pebble = await startPebble(paths, httpPort);
    root = await pebble.root();
  });
  afterAll(async () => {
    await Promise.all(brokers.map((b) => b.kill()));
    await pebble?.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  const launch = async (dir: string, domain: string) => {
    // They share pebble's one HTTP-01 port: a broker left by a failed test must not hold it.
    await Promise.all(brokers.map((b) => b.kill()));
    const broker = await spawnBroker(
      [
        '--secure',
        '--domain',
        domain,
        '--acme_directory',
        pebble.directory,
        '--https_port',
        '0',
        '--http_port',
        String(httpPort),
        '--certs',
        join(dir, 'certs'),
        '--db',
        join(dir, 'db'),
        '--admin_token',
        ADMIN,
        '--log_level',
        'info',
      ],
      { NODE_EXTRA_CA_CERTS: pebble.tlsCaFile },
    );
    brokers.push(broker);
    return broker;
  };

  const TITLE =
    'obtains a certificate by HTTP-01, serves the API over HTTPS with it, ' +
    'redirects plain HTTP, and reuses the cache after a restart';
  it(TITLE, async () => {
    const dir = tempDir();
    dirs.push(dir);
    const domain = `api-${process.pid}-${Date.now().toString(36)}.broker.test`;
    const broker = await launch(dir, domain);
    const base = broker.url;
    expect(base).toMatch(new RegExp(`^https://${domain.replace(/\./g, '\\.')}:\\d+$`));
    const httpsPort = Number(new URL(base).port);
    expect(broker.stdout.join('\n')).toMatch(/obtained the certificate for/);

    // A client that trusts only pebble's root and checks the name gets the API.
    const health = await httpsRequest(`${base}/`, { ca: root });
    expect(health.status).toBe(200);
    expect(health.headers['strict-transport-security']).toBe('max-age=31536000');
    expect(health.peer.issuer).toMatch(/^Pebble Intermediate CA/);
    const created = await httpsRequest(`${base}/create_user`, {
      ca: root,
      body: { admin_token: ADMIN, username: 'ann', password: 'correct horse battery staple', tenant_name: 'acme' },
    });
    expect(created.status).toBe(200);
    const login = await httpsRequest(`${base}/login`, {
      ca: root,
      body: { username: 'ann', password: 'correct horse battery staple' },
    });
    expect(login.status).toBe(200);
    const inserted = await httpsRequest(`${base}/insert`, {
      ca: root,
      body: { event: 'greeting', data: { hello: 'tls' } },
      headers: bearer(login.body.jwt),
    });
    expect(inserted.status).toBe(200);

    // The name is checked: the same certificate presented for another name is refused...
    await expect(httpsRequest(`https://other.broker.test:${httpsPort}/`, { ca: root })).rejects.toMatchObject({
      code: 'ERR_TLS_CERT_ALTNAME_INVALID',
    });
    // ...and so is a client that does not trust pebble's root.
    await expect(
      httpsRequest(`${base}/`, { ca: issue({ cn: 'Unrelated CA', ca: true }).certPem }),
    ).rejects.toMatchObject({ code: 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY' });

    // Plain HTTP: reads are redirected with 301, writes with 308 (a POST stays a POST), to the HTTPS port.
    const read = await plainHttp(httpPort, '/sse?events=a', 'GET', `${domain}:${httpPort}`);
    expect(read.status).toBe(301);
    expect(read.location).toBe(`https://${domain}:${httpsPort}/sse?events=a`);
    const write = await plainHttp(httpPort, '/login', 'POST');
    expect(write.status).toBe(308);
    expect(write.location).toBe(`https://${domain}:${httpsPort}/login`);
    expect((await plainHttp(httpPort, '/.well-known/acme-challenge/not-a-token')).status).toBe(404);

    // The account key and certificate are cached under --certs...
    const cache = new CertificateCache(join(dir, 'certs'), pebble.directory);
    expect(existsSync(join(cache.dir, 'account.key'))).toBe(true);
    expect(existsSync(cache.paths(domain).cert)).toBe(true);
    // ...and a restart serves the cached certificate without a new order.
    expect(await broker.kill()).toBe(0);
    const again = await launch(dir, domain);
    expect(again.stdout.join('\n')).toMatch(/using the cached certificate/);
    expect(again.stdout.join('\n')).not.toMatch(/obtained the certificate/);
    const after = await httpsRequest(`${again.url}/`, { ca: root });
    expect(after.status).toBe(200);
    expect(after.peer.serial).toBe(health.peer.serial);
    // The data written before the restart is still served over HTTPS.
    const relogin = await httpsRequest(`${again.url}/login`, {
      ca: root,
      body: { username: 'ann', password: 'correct horse battery staple' },
    });
    expect(relogin.status).toBe(200);
    expect(await again.kill()).toBe(0);
  }, 60_000);

  it('renews a certificate that falls due, in place, without dropping an open SSE stream', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const domain = `renew-${process.pid}-${Date.now().toString(36)}.broker.test`;
    // A cached certificate (from an older CA) that expires in 20 days: inside the 30-day renewal window.
    const oldCa = issue({ cn: 'Old test CA', ca: true });
    const old = issue({ cn: domain, names: [domain], issuer: oldCa, notAfter: new Date(Date.now() + 20 * DAY) });
    new CertificateCache(join(dir, 'certs'), pebble.directory).save(domain, old.keyPem, old.certPem);
    const ca = [root, oldCa.certPem];
    // Renewal cannot succeed yet (the name resolves to where nothing listens), so the stream below is
    // certainly negotiated with the old certificate, with no race against the clock.
    await pebble.setDefaultIPv4('127.0.0.2');
    try {
      const broker = await launch(dir, domain);
      expect(broker.stdout.join('\n')).toMatch(/using the cached certificate/);
      const failed = await waitForLog(broker, /could not renew the certificate/);
      expect(failed).toMatch(/127\.0\.0\.2|connection refused/i);
      expect(failed).toMatch(/retrying in 30 s \(the current certificate expires on/);
      const base = broker.url;
      const created = await httpsRequest(`${base}/create_user`, {
        ca,
        body: { admin_token: ADMIN, username: 'bob', password: 'correct horse battery staple', tenant_name: 't' },
      });
      expect(created.status).toBe(200);
      const login = await httpsRequest(`${base}/login`, {
        ca,
        body: { username: 'bob', password: 'correct horse battery staple' },
      });
      const auth = bearer(login.body.jwt);

      const stream = new HttpsSse(`${base}/sse`, { ca, headers: auth });
      await stream.opened;
      expect(stream.status).toBe(200);
      expect(stream.peer?.serial).toBe(old.serial.toUpperCase());
      await httpsRequest(`${base}/insert`, { ca, body: { event: 'before', data: 1 }, headers: auth });
      await stream.waitForEvents(1);

      // DNS fixed; SIGHUP (systemctl reload) retries now rather than after the 30 s backoff.
      await pebble.setDefaultIPv4('127.0.0.1');
      broker.proc.kill('SIGHUP');
      await waitForLog(broker, /renewed the certificate/, 20_000);
      // New connections get pebble's certificate: trusted by pebble's root alone, for the same name.
      const fresh = await httpsRequest(`${base}/`, { ca: root });
      expect(fresh.status).toBe(200);
      expect(fresh.peer.serial).not.toBe(old.serial.toUpperCase());
      expect(fresh.peer.issuer).toMatch(/^Pebble Intermediate CA/);
      // The stream opened before the swap is still live and receives new inserts.
      const inserted = await httpsRequest(`${base}/insert`, {
        ca: root,
        body: { event: 'after', data: 2 },
        headers: auth,
      });
      expect(inserted.status).toBe(200);
      await stream.waitForEvents(2);
      expect(stream.ended).toBe(false);
      expect(stream.events.map((e) => e.event)).toEqual(['before', 'after']);
      // The renewed certificate replaced the old one in the cache, so a restart keeps it.
      const cached = new CertificateCache(join(dir, 'certs'), pebble.directory).load(domain);
      expect(cached.certificate?.info.serial).toBe(fresh.peer.serial);
      stream.close();
      expect(await broker.kill()).toBe(0);
    } finally {
      await pebble.setDefaultIPv4('127.0.0.1');
    }
  }, 60_000);
});
