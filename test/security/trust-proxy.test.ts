// --trust_proxy against a real server: the per-IP login limit keys on the address the proxies vouch
// for, never on what the client wrote itself. Requests carry nginx's `$proxy_add_x_forwarded_for`
// shape: `X-Forwarded-For: <whatever the client sent>, <the client's address as nginx saw it>`.
import http from 'node:http';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config.js';
import { killAfterTest, runCli, spawnBroker, startBroker, testDir, type TestBroker } from '../helpers/broker.js';

const LIMIT = 3;
let broker: TestBroker | undefined;
afterEach(async () => {
  await broker?.stop();
  broker = undefined;
});

/** A failed login from a chosen loopback source address with a chosen X-Forwarded-For. */
function loginFrom(url: string, localAddress: string, forwardedFor?: string): Promise<number> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (forwardedFor !== undefined) headers['x-forwarded-for'] = forwardedFor;
    const req = http.request({ host: hostname, port, path: '/login', method: 'POST', localAddress, headers }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end(JSON.stringify({ username: `nobody-${Math.random()}`, password: 'x' }));
  });
}

/** LIMIT+1 logins: the client forges a new left-most entry every time; the limit must still hold. */
async function forgingBurst(url: string, from: string, vouched: (i: number) => string): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i <= LIMIT; i++) statuses.push(await loginFrom(url, from, vouched(i)));
  return statuses;
}
const limited = [...Array(LIMIT).fill(401), 429];

describe('--trust_proxy', () => {
  it('true is one proxy: the right-most entry is the client; a forged left-most one buys nothing', async () => {
    broker = await startBroker({ login_rate_limit: LIMIT, trust_proxy: true });
    expect(await forgingBurst(broker.url, '127.0.0.1', (i) => `198.18.0.${i}, 203.0.113.7`)).toEqual(limited);
    // Another client behind the same proxy has its own budget (trusting no hop would merge them all).
    expect(await loginFrom(broker.url, '127.0.0.1', '198.18.0.1, 203.0.113.8')).toBe(401);
    expect(await loginFrom(broker.url, '127.0.0.1', '203.0.113.9')).toBe(401);
    // A request without the header is the peer's own.
    expect(await loginFrom(broker.url, '127.0.0.1')).toBe(401);
  });

  it("a number is that many proxies in front: the entry before the last proxy's", async () => {
    broker = await startBroker({ login_rate_limit: LIMIT, trust_proxy: '2' });
    // client -> proxy A (appends the client's address) -> proxy B (appends A's) -> broker
    expect(await forgingBurst(broker.url, '127.0.0.1', (i) => `198.18.0.${i}, 203.0.113.20, 10.0.0.1`)).toEqual(
      limited,
    );
    expect(await loginFrom(broker.url, '127.0.0.1', '198.18.0.1, 203.0.113.21, 10.0.0.1')).toBe(401);
  });

  it(
    'a list names the proxies: entries count from the right while ' +
      'they are listed; other peers are their own client',
    async () => {
      broker = await startBroker({ login_rate_limit: LIMIT, trust_proxy: '127.0.0.2, 10.0.0.0/8' });
      expect(await forgingBurst(broker.url, '127.0.0.2', (i) => `198.18.0.${i}, 203.0.113.30, 10.1.2.3`)).toEqual(
        limited,
      );
      expect(await loginFrom(broker.url, '127.0.0.2', '203.0.113.31')).toBe(401);
      // A peer that is not a listed proxy: its X-Forwarded-For is ignored, whatever it says.
      expect(await forgingBurst(broker.url, '127.0.0.3', (i) => `203.0.113.${40 + i}`)).toEqual(limited);
    },
  );

  it('parses true/false/1/0, counts and address lists; refuses anything else', () => {
    const parse = (value: unknown) => resolveConfig({ trust_proxy: value }).trust_proxy;
    expect(resolveConfig({}).trust_proxy).toBe(0);
    for (const value of [true, 'true', '', '1', 'yes', '"true"']) expect(parse(value), String(value)).toBe(1);
    for (const value of [false, 'false', '0', 'off']) expect(parse(value), String(value)).toBe(0);
    expect(parse('3')).toBe(3);
    expect(parse('127.0.0.1, ::1,10.0.0.0/8, fd00::/8')).toEqual(['127.0.0.1', '::1', '10.0.0.0/8', 'fd00::/8']);
    for (const value of ['maybe', '10.0.0.0/33', '300.1.1.1', '127.0.0.1,', 'fd00::/129', '99']) {
      expect(() => parse(value), value).toThrow(/--trust_proxy/);
    }
  });
});

describe('the --trust_proxy flag', () => {
  it('alone, or =true, means one proxy in the built binary', async () => {
    for (const flag of [['--trust_proxy'], ['--trust_proxy=true']]) {
      const child = killAfterTest(
        await spawnBroker(['--db', join(testDir(), 'db'), '--login_rate_limit', String(LIMIT), ...flag]),
      );
      expect(await forgingBurst(child.url, '127.0.0.1', (i) => `198.18.0.${i}, 203.0.113.50`), flag[0]).toEqual(
        limited,
      );
      expect(await loginFrom(child.url, '127.0.0.1', '198.18.0.9, 203.0.113.51')).toBe(401);
      await child.kill();
    }
  });

  it('a bad value exits 2 with one line naming the flag', async () => {
    const { code, stderr } = await runCli(['--db', join(testDir(), 'db'), '--trust_proxy', 'nginx']);
    expect(code).toBe(2);
    expect(stderr.trim()).toMatch(/^broker: --trust_proxy must be .*"nginx"$/);
  });
});
