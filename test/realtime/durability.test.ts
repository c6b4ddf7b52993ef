// An acknowledged insert survives kill -9, and SIGTERM shuts down cleanly: the real binary, a real LMDB.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { killAfterTest, spawnBroker, testDir } from '../helpers/broker.js';
import { bearer, get, post } from '../helpers/http.js';
import { openSse } from '../helpers/sse.js';

const ADMIN = 'durability-admin-token';

async function allEvents(url: string, jwt: string): Promise<Array<{ id: number; event: string; data: unknown }>> {
  const out: Array<{ id: number; event: string; data: unknown }> = [];
  for (;;) {
    const page = await get(url, `/events?after=${out.length ? out[out.length - 1].id : 0}&limit=1000`, bearer(jwt));
    expect(page.status).toBe(200);
    out.push(...page.body.events);
    if (page.body.events.length < 1000) return out;
  }
}

describe('durability', () => {
  it('every insert answered 200 is in the history after SIGKILL during an insert load (5 rounds)', async () => {
    const db = join(testDir(), 'db');
    const acked = new Map<number, string>();
    let jwt = '';
    for (let round = 0; round < 5; round++) {
      const broker = killAfterTest(await spawnBroker(['--db', db, '--admin_token', ADMIN]));
      if (round === 0) {
        await post(broker.url, '/create_user', {
          admin_token: ADMIN,
          username: 'writer',
          password: 'pw-writer',
          tenant_name: 'crash',
        });
        jwt = (await post(broker.url, '/login', { username: 'writer', password: 'pw-writer' })).body.jwt;
      }
      // Everything acknowledged in earlier rounds is still there, with the same data.
      const history = await allEvents(broker.url, jwt);
      const byId = new Map(history.map((e) => [e.id, JSON.stringify(e.data)]));
      for (const [id, data] of acked) expect(byId.get(id), `round ${round}: id ${id}`).toBe(data);
      // Ids keep increasing after a crash: none is handed out twice.
      const maxBefore = Math.max(0, ...history.map((e) => e.id));

      let stop = false;
      const writer = async (w: number) => {
        let n = 0;
        while (!stop) {
          const data = { round, w, n: n++ };
          let res;
          try {
            res = await post(broker.url, '/insert', { event: `w${w}`, data }, bearer(jwt));
          } catch {
            return; // the connection died with the process: that insert was never acknowledged
          }
          // Outside the try: a refused insert or a reused id must fail the test, not end the writer.
          expect(res.status, res.text).toBe(200);
          expect(res.body.id).toBeGreaterThan(maxBefore);
          acked.set(res.body.id, JSON.stringify(data));
        }
      };
      const writers = Array.from({ length: 16 }, (_, w) => writer(w));
      await new Promise((r) => setTimeout(r, 300 + Math.random() * 500));
      await broker.kill('SIGKILL');
      stop = true;
      await Promise.all(writers);
    }
    expect(acked.size).toBeGreaterThan(50);
    const final = killAfterTest(await spawnBroker(['--db', db, '--admin_token', ADMIN]));
    try {
      const byId = new Map((await allEvents(final.url, jwt)).map((e) => [e.id, JSON.stringify(e.data)]));
      for (const [id, data] of acked) expect(byId.get(id), `id ${id}`).toBe(data);
    } finally {
      await final.kill();
    }
  }, 120_000);

  it('SIGTERM ends open streams, finishes, and exits 0 within 5 s', async () => {
    const db = join(testDir(), 'db');
    const broker = killAfterTest(await spawnBroker(['--db', db, '--admin_token', ADMIN]));
    await post(broker.url, '/create_user', {
      admin_token: ADMIN,
      username: 'u',
      password: 'password-u',
      tenant_name: 't',
    });
    const { jwt } = (await post(broker.url, '/login', { username: 'u', password: 'password-u' })).body;
    const streams = Array.from({ length: 3 }, () => openSse(broker.url, jwt));
    await Promise.all(streams.map((s) => s.waitFor((x) => x.frames.length >= 1)));
    const inflight = Array.from({ length: 20 }, (_, i) =>
      post(broker.url, '/insert', { event: 'e', data: i }, bearer(jwt)).catch(() => undefined),
    );
    const started = Date.now();
    const code = await broker.kill('SIGTERM');
    expect(code).toBe(0);
    expect(Date.now() - started).toBeLessThan(5000);
    await Promise.all(streams.map((s) => s.waitFor((x) => x.ended, 2000)));
    // Inserts that were answered 200 are in the log after a restart.
    const answered = (await Promise.all(inflight)).filter((r) => r?.status === 200).map((r) => r!.body.id as number);
    const again = killAfterTest(await spawnBroker(['--db', db, '--admin_token', ADMIN]));
    try {
      const ids = (await allEvents(again.url, jwt)).map((e) => e.id);
      for (const id of answered) expect(ids).toContain(id);
    } finally {
      await again.kill();
    }
  });
});
