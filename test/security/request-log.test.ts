// The request log of the real binary at the default level: one line per request (an SSE stream's when
// it ends), and no secret in the URL however the query string spells its name.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ADMIN, killAfterTest, spawnBroker, testDir } from '../helpers/broker.js';
import { get, makeUser } from '../helpers/http.js';
import { waitUntil } from '../helpers/wait.js';

interface Line {
  msg: string;
  method?: string;
  url?: string;
  status?: number;
  ms?: number;
  reqId?: string;
}

describe('request log', () => {
  it(
    'one line per request, with method, redacted URL, status and ' + 'time; a percent-encoded "token" is redacted too',
    async () => {
      const broker = killAfterTest(await spawnBroker(['--db', join(testDir(), 'db'), '--admin_token', ADMIN]));
      const user = await makeUser(broker.url);
      const lines = () => broker.stdout.map((l) => JSON.parse(l) as Line).filter((l) => l.reqId !== undefined);
      await waitUntil(() => lines().length === 2, 5000, 'create_user and login logged');
      const secret = user.jwt;
      const paths = [
        `/verify?token=${secret}`,
        `/events?%74oken=${secret}&after=3`,
        `/events?TOK%45N=${secret}`,
        `/events?to%6Ben=${secret}&limit=2`,
        `/events?x=1;token=${secret}`,
        `/events?${secret}`,
        `/events?%zz=${secret}`,
        `/no-such-route?admin_token=${secret}`,
      ];
      for (const path of paths) await get(broker.url, path);
      // A stream is logged when it ends, here when the client closes it.
      const sse = new AbortController();
      const stream = await fetch(`${broker.url}/sse?%74oken=${secret}`, { signal: sse.signal });
      expect(stream.status).toBe(200);
      sse.abort();
      await waitUntil(() => lines().length === 3 + paths.length, 5000, 'every request logged');
      await broker.kill('SIGTERM');

      const logs = broker.stdout.join('\n') + broker.stderr.join('\n');
      expect(logs).not.toContain(secret);
      expect(logs).not.toContain(secret.split('.')[2]);
      expect(logs).not.toContain('incoming request');
      const requests = lines();
      expect(requests.map((l) => l.url)).toEqual([
        '/create_user',
        '/login',
        '/verify?token=***',
        '/events?%74oken=***&after=3',
        '/events?TOK%45N=***',
        '/events?to%6Ben=***&limit=2',
        '/events?x=***',
        '/events?***',
        '/events?%zz=***',
        '/no-such-route?admin_token=***',
        '/sse?%74oken=***',
      ]);
      expect(requests.map((l) => l.status)).toEqual([200, 200, 401, 401, 401, 401, 401, 401, 401, 404, 200]);
      for (const line of requests) {
        expect(line.method).toMatch(/^(GET|POST)$/);
        expect(line.ms).toEqual(expect.any(Number));
      }
      // One line per request: every request id appears once.
      expect(new Set(requests.map((l) => l.reqId)).size).toBe(requests.length);
    },
  );
});
