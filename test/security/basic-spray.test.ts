// Basic credentials under attack: parallel guesses against one account, and guesses spread over every
// route that accepts Basic, are held to the same budgets as /login.
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { basic, get, makeUser } from '../helpers/http.js';

const LOGIN_LIMIT = 4;
let broker: TestBroker;

beforeAll(async () => {
  broker = await startBroker({ login_rate_limit: LOGIN_LIMIT });
});
afterAll(() => broker.stop());

function getFrom(localAddress: string, path: string, headers: Record<string, string>): Promise<number> {
  const { hostname, port } = new URL(broker.url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: hostname, port, path, method: 'GET', localAddress, headers }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('Basic auth under a spray', () => {
  // A per-route limit would give each route that takes Basic its own budget: they share one.
  it('Basic guesses spread over /verify, /events and /sse share one login limit', async () => {
    const paths = ['/events', '/sse', '/verify', '/events', '/sse'];
    const statuses: number[] = [];
    for (let i = 0; i <= LOGIN_LIMIT; i++)
      statuses.push(await getFrom('127.0.0.21', paths[i], basic(`spray${i}`, 'Winter2026!')));
    expect(statuses).toEqual([...Array(LOGIN_LIMIT).fill(401), 429]);
  });

  // Checks in flight count toward the lock: a burst cannot race past it.
  it('a burst of concurrent wrong Basic guesses gets at most 3 password checks before the lock', async () => {
    const roomy = await startBroker();
    try {
      const user = await makeUser(roomy.url);
      const burst = await Promise.all(
        Array.from({ length: 20 }, (_, i) => get(roomy.url, '/verify', basic(user.username, `guess${i}`))),
      );
      const statuses = burst.map((a) => a.status);
      // Every guess is refused, as a wrong password (401) or as locked (429): none passes, none errors...
      for (const s of statuses) expect([401, 429], statuses.join(',')).toContain(s);
      // ...and the lock really engaged: of 20 guesses at most 3 were checked, the rest were 429.
      expect(statuses.filter((s) => s === 401).length, statuses.join(',')).toBeLessThanOrEqual(3);
      expect(statuses.filter((s) => s === 429).length, statuses.join(',')).toBeGreaterThanOrEqual(17);
    } finally {
      await roomy.stop();
    }
  });
});
