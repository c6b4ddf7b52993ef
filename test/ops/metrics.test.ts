// GET /metrics against a real broker: each counter moves with what drives it (inserts, deliveries,
// logins ok and failed, a lock, streams cut by a revoke and by a reader that stopped reading), and who
// may scrape: loopback peers only without --metrics_token (a forwarded header does not make a remote
// peer local), the Bearer token from anywhere with it.
import { mkdirSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config.js';
import { ADMIN, startBroker, testDir, type TestBroker } from '../helpers/broker.js';
import { bearer, get, makeUser, post } from '../helpers/http.js';
import { openSse, type SseReader } from '../helpers/sse.js';
import { waitUntil } from '../helpers/wait.js';
import { httpsRequest } from '../tls/https-client.js';
import { issue } from '../tls/x509.js';

const TOKEN = 'metrics-token-of-at-least-32-bytes-long';

const brokers: TestBroker[] = [];
const readers: SseReader[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const r of readers.splice(0)) r.close();
  for (const s of sockets.splice(0)) s.destroy();
  for (const b of brokers.splice(0)) await b.stop();
});

async function broker(overrides: Record<string, unknown> = {}): Promise<TestBroker> {
  const b = await startBroker({ tenant_insert_rate: 0, ...overrides });
  brokers.push(b);
  return b;
}

/** The samples of one scrape: `name{labels}` -> value. */
async function scrape(base: string, headers: Record<string, string> = {}): Promise<Map<string, number>> {
  const res = await get(base, '/metrics', headers);
  expect(res.status, res.text).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  const samples = new Map<string, number>();
  for (const line of res.text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    samples.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return samples;
}

const value = (samples: Map<string, number>, key: string) => {
  const v = samples.get(key);
  if (v === undefined) throw new Error(`no sample ${key}`);
  return v;
};

/** This machine's first non-loopback IPv4 address, or undefined. */
function externalAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces()))
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  return undefined;
}

describe('/metrics counters', () => {
  it('inserts, deliveries, streams open and a revoke cut move their series', async () => {
    const b = await broker();
    const before = await scrape(b.url);
    for (const name of [
      'broker_inserts_total',
      'broker_deliveries_total',
      'broker_account_locks_total',
      'broker_db_map_used_ratio',
      'broker_insert_commit_seconds_count',
      'broker_event_loop_delay_seconds{quantile="0.99"}',
      'process_cpu_seconds_total',
      'nodejs_heap_size_used_bytes',
    ])
      expect(before.has(name), name).toBe(true);
    // Plain HTTP serves no certificate: no expiry series to alert on.
    expect([...before.keys()].some((k) => k.startsWith('broker_tls_certificate_expiry'))).toBe(false);

    const user = await makeUser(b.url, { tenant_name: 'metrics-a' });
    const reader = openSse(b.url, user.jwt);
    readers.push(reader);
    await waitUntil(() => b.services.hub.streamsOf(user.username) === 1, 5000, 'subscribed');
    const open = await scrape(b.url);
    expect(value(open, 'broker_streams_open{transport="sse"}')).toBe(1);
    expect(value(open, 'broker_streams_open{transport="websocket"}')).toBe(0);

    for (let i = 0; i < 3; i++)
      expect((await post(b.url, '/insert', { event: `e${i}`, data: i }, bearer(user.jwt))).status).toBe(200);
    await reader.waitForEvents(3);
    const after = await scrape(b.url);
    expect(value(after, 'broker_inserts_total') - value(before, 'broker_inserts_total')).toBe(3);
    expect(value(after, 'broker_deliveries_total') - value(before, 'broker_deliveries_total')).toBe(3);
    const commits = value(after, 'broker_insert_commit_seconds_count');
    expect(commits).toBeGreaterThanOrEqual(1);
    expect(commits).toBeLessThanOrEqual(3);
    expect(value(after, 'broker_db_map_used_ratio')).toBeGreaterThan(0);

    expect((await post(b.url, '/revoke_user', { admin_token: ADMIN, username: user.username })).status).toBe(200);
    await waitUntil(() => b.services.hub.streamsOf(user.username) === 0, 5000, 'the revoked stream ended');
    const revoked = await scrape(b.url);
    expect(value(revoked, 'broker_streams_cut_total{reason="session_ended"}')).toBe(1);
    expect(value(revoked, 'broker_streams_open{transport="sse"}')).toBe(0);
  });

  it('logins ok and failed, a lock and a locked refusal move their series', async () => {
    const b = await broker();
    const user = await makeUser(b.url);
    const before = await scrape(b.url);
    expect(value(before, 'broker_logins_total{result="ok"}')).toBe(1);
    for (let i = 0; i < 3; i++)
      expect((await post(b.url, '/login', { username: user.username, password: 'wrong password' })).status).toBe(401);
    expect((await post(b.url, '/login', { username: user.username, password: user.password })).status).toBe(429);
    const after = await scrape(b.url);
    expect(value(after, 'broker_logins_total{result="failed"}')).toBe(3);
    expect(value(after, 'broker_logins_total{result="locked"}')).toBe(1);
    expect(value(after, 'broker_logins_total{result="ok"}')).toBe(1);
    expect(value(after, 'broker_account_locks_total')).toBe(1);
    // No label holds a username (or anything else a client chooses).
    const text = (await get(b.url, '/metrics')).text;
    expect(text).not.toContain(user.username);
  });

  it('a reader that stops reading is cut past --max_buffer and counted as slow_reader', async () => {
    const b = await broker({ max_buffer: 1024, body_limit: 1024 * 1024 });
    const user = await makeUser(b.url, { tenant_name: 'metrics-slow' });
    const u = new URL(b.url);
    const socket = connect(Number(u.port), u.hostname);
    socket.write(`GET /sse HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${user.jwt}\r\n\r\n`);
    socket.pause();
    socket.on('error', () => {});
    sockets.push(socket);
    await waitUntil(() => b.services.hub.streamsOf(user.username) === 1, 5000, 'the stalled stream subscribed');
    // The kernel's socket buffers take a few MB first; then bytes pile up in user space and the stream is cut.
    const blob = 'z'.repeat(900_000);
    for (let i = 0; i < 60 && b.services.hub.streamsOf(user.username) > 0; i++)
      expect((await post(b.url, '/insert', { event: 'big', data: blob }, bearer(user.jwt))).status).toBe(200);
    await waitUntil(() => b.services.hub.streamsOf(user.username) === 0, 5000, 'the slow stream cut');
    const after = await scrape(b.url);
    expect(value(after, 'broker_streams_cut_total{reason="slow_reader"}')).toBe(1);
    expect(value(after, 'broker_streams_cut_total{reason="session_ended"}')).toBe(0);
  });

  it('keeps one registry per broker: two in one process count apart', async () => {
    const a = await broker();
    const b = await broker();
    const user = await makeUser(a.url, { tenant_name: 'metrics-own' });
    expect((await post(a.url, '/insert', { event: 'x', data: 1 }, bearer(user.jwt))).status).toBe(200);
    await waitUntil(async () => value(await scrape(a.url), 'broker_inserts_total') === 1, 5000, 'counted in a');
    expect(value(await scrape(b.url), 'broker_inserts_total')).toBe(0);
  });
});

describe('/metrics access', () => {
  const external = externalAddress();
  if (!external && process.env.CI === 'true') throw new Error('CI needs a non-loopback IPv4 address for this test');

  it.skipIf(!external)(
    'without --metrics_token: 403 from a non-loopback peer, even with a forged X-Forwarded-For',
    async () => {
      const b = await broker({ host: external, trust_proxy: true });
      const remote = b.url;
      const res = await get(remote, '/metrics', { 'x-forwarded-for': '127.0.0.1' });
      expect(res.status, res.text).toBe(403);
      expect(res.body.error).toMatch(/loopback/);
      expect((await get(remote, '/metrics')).status).toBe(403);
    },
  );

  it.skipIf(!external)(
    'with --metrics_token: 401 without it or with a wrong one (loopback too), 200 with it from anywhere',
    async () => {
      const b = await broker({ host: '0.0.0.0', metrics_token: TOKEN });
      const port = new URL(b.url).port;
      const remote = `http://${external}:${port}`;
      const local = `http://127.0.0.1:${port}`;
      for (const base of [remote, local]) {
        expect((await get(base, '/metrics')).status).toBe(401);
        expect((await get(base, '/metrics', bearer(`${TOKEN}x`))).status).toBe(401);
        expect((await get(base, '/metrics', { authorization: `Basic ${TOKEN}` })).status).toBe(401);
        const ok = await get(base, '/metrics', bearer(TOKEN));
        expect(ok.status).toBe(200);
        expect(ok.text).toContain('broker_inserts_total');
      }
    },
  );

  it('loopback without a token is served', async () => {
    const b = await broker();
    expect((await get(b.url, '/metrics')).status).toBe(200);
  });
});

describe('--metrics_token', () => {
  it('is read from --metrics_token_file, refused next to --metrics_token, and refused if weak with --secure', () => {
    const dir = testDir();
    const file = join(dir, 'metrics-token');
    writeFileSync(file, `${TOKEN}\n`);
    expect(resolveConfig({ metrics_token_file: file }).metrics_token).toBe(TOKEN);
    expect(() => resolveConfig({ metrics_token_file: file, metrics_token: TOKEN })).toThrow(/both set/);
    const secure = { secure: true, auto_cert: false, admin_token: ADMIN, jwt_secret: TOKEN };
    expect(() => resolveConfig({ ...secure, metrics_token: 'short' })).toThrow(/--secure: --metrics_token is 5 bytes/);
    expect(() => resolveConfig({ ...secure, metrics_token: 'secret' })).toThrow(/public default/);
    expect(resolveConfig({ ...secure, metrics_token: TOKEN }).metrics_token).toBe(TOKEN);
  });
});

describe('broker_tls_certificate_expiry_timestamp_seconds', () => {
  it('is the notAfter of the certificate in service, and follows a reload (SIGHUP)', async () => {
    const dir = testDir();
    const notAfter = new Date(Math.floor(Date.now() / 1000) * 1000 + 30 * 86400_000);
    const ca = issue({ cn: 'Metrics Test CA', ca: true });
    const first = issue({ cn: '127.0.0.1', names: ['127.0.0.1'], notAfter, issuer: ca });
    mkdirSync(join(dir, 'tls'));
    const certPath = join(dir, 'tls', 'cert.pem');
    const keyPath = join(dir, 'tls', 'key.pem');
    writeFileSync(certPath, first.certPem);
    writeFileSync(keyPath, first.keyPem, { mode: 0o600 });
    const b = await startBroker(
      {
        ...{ secure: true, auto_cert: false, cert_path: certPath, key_path: keyPath, https_port: 0, http_port: 0 },
        ...{ host: '127.0.0.1', jwt_secret: TOKEN },
      },
      { dir },
    );
    brokers.push(b);
    const expiry = async () => {
      const res = await httpsRequest(`${b.url}/metrics`, { ca: ca.certPem });
      expect(res.status).toBe(200);
      const line = res.text.split('\n').find((l) => l.startsWith('broker_tls_certificate_expiry_timestamp_seconds '));
      return Number(line?.split(' ')[1]);
    };
    const later = issue({
      ...{ cn: '127.0.0.1', names: ['127.0.0.1'], issuer: ca },
      notAfter: new Date(notAfter.getTime() + 86400_000),
    });
    expect(await expiry()).toBe(notAfter.getTime() / 1000);
    writeFileSync(certPath, later.certPem);
    writeFileSync(keyPath, later.keyPem, { mode: 0o600 });
    await b.reload?.();
    expect(await expiry()).toBe(notAfter.getTime() / 1000 + 86400);
  });
});
