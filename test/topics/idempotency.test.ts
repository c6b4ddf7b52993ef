// Idempotency-Key on /broadcast and /insert: a repeat answers the first id and stores nothing, before and
// after a restart; other content under the key → 409; a malformed key → 400. And SIGKILL under a
// broadcast load loses no acknowledged message.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ADMIN, killAfterTest, spawnBroker, startBroker, testDir } from '../helpers/broker.js';
import { bearer, get, post } from '../helpers/http.js';
import { openSse } from '../helpers/sse.js';
import { waitUntil } from '../helpers/wait.js';
import { backendKey, sign } from './support.js';

describe('Idempotency-Key', () => {
  it('/broadcast and /insert: a repeat gets the first id and stores nothing, also after a restart', async () => {
    const dir = testDir();
    const key = await backendKey();
    let broker = await startBroker({ topic_public_key: key.pem }, { dir });
    const pub = () => sign(key, { topics: ['t', 'u'], scope: 'broadcast' });
    const idem = (k: string) => ({ 'content-type': 'application/json', 'idempotency-key': k });
    try {
      const first = await post(broker.url, '/broadcast', { topic: 't', message: 'm', token: await pub() }, idem('k1'));
      expect(first.status).toBe(200);
      // A retry with a fresh token is the same request.
      const again = await post(broker.url, '/broadcast', { topic: 't', message: 'm', token: await pub() }, idem('k1'));
      expect(again.body).toEqual(first.body);
      const other = await post(broker.url, '/broadcast', { topic: 'u', message: 'm', token: await pub() }, idem('k1'));
      expect(other.status).toBe(409);
      for (const bad of ['', 'x'.repeat(129), 'tab\there', 'é']) {
        const res = await post(broker.url, '/broadcast', { topic: 't', message: 'm', token: await pub() }, idem(bad));
        expect(res.status, JSON.stringify(bad)).toBe(400);
      }
      // Concurrent repeats: one append.
      const racing = await Promise.all(
        Array.from({ length: 10 }, async () =>
          post(broker.url, '/broadcast', { topic: 't', message: 'r', token: await pub() }, idem('k2')),
        ),
      );
      expect(new Set(racing.map((r) => r.body.id)).size).toBe(1);

      await post(broker.url, '/create_user', {
        admin_token: ADMIN,
        username: 'w',
        password: 'pw-writer',
        tenant_name: 'x',
      });
      const jwt = (await post(broker.url, '/login', { username: 'w', password: 'pw-writer' })).body.jwt;
      const h = { ...bearer(jwt), ...idem('i1') };
      const insert = await post(broker.url, '/insert', { event: 'e', data: { a: 1 } }, h);
      expect((await post(broker.url, '/insert', { event: 'e', data: { a: 1 } }, h)).body).toEqual(insert.body);
      expect((await post(broker.url, '/insert', { event: 'e', data: { a: 2 } }, h)).status).toBe(409);
      await broker.stop();

      broker = await startBroker({ topic_public_key: key.pem }, { dir });
      const after = await post(broker.url, '/broadcast', { topic: 't', message: 'm', token: await pub() }, idem('k1'));
      expect(after.body).toEqual(first.body);
      expect((await post(broker.url, '/insert', { event: 'e', data: { a: 1 } }, h)).body).toEqual(insert.body);
      const events = await get(broker.url, '/events', bearer(jwt));
      expect(events.body.events).toHaveLength(1);
      // The topics' log holds two messages: k1's and k2's.
      const sub = await sign(key, { topics: ['t'], scope: 'subscribe' });
      const reader = openSse(broker.url, sub, { query: 'topics=t', lastEventId: 0 });
      await waitUntil(() => reader.frames.filter((f) => f.event).length >= 2);
      await new Promise((r) => setTimeout(r, 200));
      reader.close();
      expect(reader.frames.filter((f) => f.event).map((f) => f.data)).toEqual(['"m"', '"r"']);
    } finally {
      await broker.stop();
    }
  });
});

describe('durability of broadcasts', () => {
  it('every broadcast answered 200 is in the topics log after SIGKILL under load (3 rounds)', async () => {
    const db = join(testDir(), 'db');
    const key = await backendKey();
    const args = ['--db', db, '--admin_token', ADMIN, '--topic_public_key', Buffer.from(key.pem).toString('base64')];
    const pub = await sign(key, { topics: ['a', 'b'], scope: 'broadcast' });
    const sub = await sign(key, { topics: ['a', 'b'], scope: 'subscribe' });
    const acked = new Map<number, string>();
    for (let round = 0; round <= 3; round++) {
      const broker = killAfterTest(await spawnBroker(args));
      // Everything acknowledged so far is there, with its message.
      const reader = openSse(broker.url, sub, { query: 'topics=a,b', lastEventId: 0 });
      const maxAcked = Math.max(0, ...acked.keys());
      if (maxAcked > 0) await waitUntil(() => reader.frames.some((f) => Number(f.id) >= maxAcked), 10_000, 'history');
      const got = new Map(reader.frames.filter((f) => f.event).map((f) => [Number(f.id), JSON.parse(f.data)]));
      reader.close();
      for (const [id, message] of acked) expect(got.get(id), `round ${round}: id ${id}`).toBe(message);
      if (round === 3) {
        await broker.kill();
        break;
      }
      let stop = false;
      const writer = async (w: number) => {
        for (let n = 0; !stop; n++) {
          const message = `${round}/${w}/${n}`;
          let res;
          try {
            res = await post(broker.url, '/broadcast', { topic: w % 2 ? 'a' : 'b', message, token: pub });
          } catch {
            return;
          }
          expect(res.status).toBe(200);
          expect(res.body.id).toBeGreaterThan(maxAcked);
          acked.set(res.body.id, message);
        }
      };
      const writers = Array.from({ length: 16 }, (_, w) => writer(w));
      await new Promise((r) => setTimeout(r, 300 + Math.random() * 400));
      await broker.kill('SIGKILL');
      stop = true;
      await Promise.all(writers);
    }
    expect(acked.size).toBeGreaterThan(30);
  }, 120_000);
});
