// The database full: lmdb-js grows its map by itself, so storage/lmdb/map-limit.ts makes --map_size the limit
// of live data. Past it a write answers 507 with a clear error and writes nothing; reads keep working;
// every acknowledged insert survives; and writes resume once space is freed (retention) or the map
// grows (a restart with a larger --map_size). Events stop a reserve short of the limit, so identity
// writes (logins, user administration) keep working when events fill the map.
import { afterEach, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { ADMIN, startBroker, tempDir, type TestBroker } from '../helpers/broker.js';
import { bearer, get, makeUser, post } from '../helpers/http.js';
import { openSse } from '../helpers/sse.js';
import { identityReserve } from '../../src/storage/lmdb/map-limit.js';

const MiB = 1024 * 1024;
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Inserts 40 KB events until the first 507; returns the ids acknowledged before it and the 507 answer. */
async function fill(broker: TestBroker, jwt: string) {
  const acknowledged: number[] = [];
  for (let i = 0; i < 200; i++) {
    const answer = await post(
      broker.url,
      '/insert',
      { event: `e${i % 4}`, data: { i, pad: 'x'.repeat(40_000) } },
      bearer(jwt),
    );
    if (answer.status === 200) {
      acknowledged.push(answer.body.id);
      continue;
    }
    return { acknowledged, full: answer };
  }
  throw new Error(`never full after ${acknowledged.length} inserts`);
}

/** The whole history, following `next` (an /events answer is bounded by bytes). */
async function eventsAt(url: string, jwt: string): Promise<Array<{ id: number; data: { i: number } }>> {
  const all = [];
  let after = 0;
  for (;;) {
    const answer = await get(url, `/events?after=${after}&limit=1000`, bearer(jwt));
    expect(answer.status).toBe(200);
    all.push(...answer.body.events);
    if (answer.body.next === undefined) return all;
    after = answer.body.next;
  }
}

const allEvents = (broker: TestBroker, jwt: string) => eventsAt(broker.url, jwt);

describe('the database full', () => {
  it('answers 507 with a clear error, keeps reads, loses nothing, and recovers when the map grows', async () => {
    const dir = tempDir();
    dirs.push(dir);
    let broker = await startBroker({ map_size: 2 * MiB }, { dir });
    const user = await makeUser(broker.url);
    const sse = openSse(broker.url, user.jwt, { lastEventId: 0 });
    try {
      const { acknowledged, full } = await fill(broker, user.jwt);
      // It filled near the limit, not at some unrelated size (lmdb-js alone would grow past it).
      expect(acknowledged.length).toBeGreaterThan(20);
      expect(acknowledged.length * 40_000).toBeLessThan(2.5 * MiB);
      // Events stop short of the limit: the rest is kept for identity writes.
      expect(broker.services.storage.usedBytes()).toBeGreaterThanOrEqual(2 * MiB - identityReserve(2 * MiB));

      expect(full.status).toBe(507);
      expect(full.body.error).toMatch(/database is full.*--map_size/);
      // Every event write answers the same, and writes nothing.
      expect((await post(broker.url, '/insert', { event: 'small', data: 1 }, bearer(user.jwt))).status).toBe(507);
      // Identity writes use the reserve: logins and user administration keep working for every tenant.
      const created = await post(broker.url, '/create_user', {
        admin_token: ADMIN,
        username: 'late',
        password: 'a long enough password',
        tenant_name: 't',
      });
      expect(created.status, created.text).toBe(200);
      // A login with nothing to clear writes nothing; a wrong password is still counted
      // (test/identity/login-writes.test.ts).
      expect((await post(broker.url, '/login', { username: user.username, password: user.password })).status).toBe(200);
      expect((await post(broker.url, '/login', { username: user.username, password: 'wrong' })).status).toBe(401);

      // Reads keep working: token checks, users, history, a new stream's replay, health.
      expect((await get(broker.url, '/')).status).toBe(200);
      expect((await get(broker.url, '/verify', bearer(user.jwt))).status).toBe(200);
      expect((await post(broker.url, '/list_users', { admin_token: ADMIN })).status).toBe(200);
      const events = await allEvents(broker, user.jwt);
      expect(events.map((e) => e.id)).toEqual(acknowledged);
      await sse.waitForEvents(acknowledged.length);
      const replay = openSse(broker.url, user.jwt, { lastEventId: 0 });
      await replay.waitForEvents(acknowledged.length);
      replay.close();

      // The map grows: a restart with a larger --map_size takes writes again, with everything intact.
      sse.close();
      await broker.stop();
      broker = await startBroker({ map_size: 8 * MiB }, { dir });
      const relogged = await post(broker.url, '/login', { username: user.username, password: user.password });
      expect(relogged.status).toBe(200);
      const jwt = relogged.body.jwt;
      const after = await post(broker.url, '/insert', { event: 'after', data: 1 }, bearer(jwt));
      expect(after.status).toBe(200);
      expect(after.body.id).toBeGreaterThan(acknowledged[acknowledged.length - 1]);
      expect((await allEvents(broker, jwt)).map((e) => e.id)).toEqual([...acknowledged, after.body.id]);
    } finally {
      sse.close();
      await broker.stop();
    }
  });

  it('recovers when retention frees space, without a restart of the writer', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const broker = await startBroker({ map_size: 2 * MiB }, { dir });
    try {
      const user = await makeUser(broker.url);
      const { acknowledged, full } = await fill(broker, user.jwt);
      expect(full.status).toBe(507);
      // Retention as its timer runs it (services.ts): keep 5 events of history per tenant.
      const removed = await broker.services.log.prune({ maxAgeMs: 0, maxEvents: 5 }, Date.now());
      expect(removed).toBeGreaterThan(0);
      expect(broker.services.storage.usedBytes()).toBeLessThan(2 * MiB);
      const again = await post(broker.url, '/insert', { event: 'again', data: 1 }, bearer(user.jwt));
      expect(again.status).toBe(200);
      expect(again.body.id).toBeGreaterThan(acknowledged[acknowledged.length - 1]);
      // What was kept is intact and in order.
      const kept = await allEvents(broker, user.jwt);
      expect(kept.map((e) => e.id)).toEqual([...kept.map((e) => e.id)].sort((a, b) => a - b));
      expect(kept[kept.length - 1].id).toBe(again.body.id);
      for (const e of kept.slice(0, -1)) expect(acknowledged).toContain(e.id);
    } finally {
      await broker.stop();
    }
  });

  it('starting on a database already over a smaller --map_size serves reads and refuses writes', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const filling = await startBroker({ map_size: 4 * MiB }, { dir });
    let user;
    try {
      user = await makeUser(filling.url);
      for (let i = 0; i < 40; i++)
        expect(
          (await post(filling.url, '/insert', { event: 'e', data: 'x'.repeat(40_000) }, bearer(user.jwt))).status,
        ).toBe(200);
    } finally {
      await filling.stop();
    }
    const broker = await startBroker({ map_size: 1 * MiB }, { dir });
    try {
      expect((await get(broker.url, '/verify', bearer(user.jwt))).status).toBe(200);
      expect((await allEvents(broker, user.jwt)).length).toBe(40);
      expect((await post(broker.url, '/insert', { event: 'e', data: 1 }, bearer(user.jwt))).status).toBe(507);
    } finally {
      await broker.stop();
    }
  });
});

describe('the disk full (a file size limit on the process)', () => {
  /**
   * RLIMIT_FSIZE (`ulimit -f`) makes writes past a size fail, as a full disk does, without filling the
   * machine's disk. Node ignores SIGXFSZ, so the write fails with an error instead of killing it. The
   * map is left large (8 GiB default), so it is the disk that fills, not --map_size.
   */
  it('answers 507, keeps serving reads, does not exit, and loses no acknowledged insert', {
    timeout: 60_000,
  }, async () => {
    const dir = tempDir();
    dirs.push(dir);
    const { spawn } = await import('node:child_process');
    const { CLI } = await import('../helpers/broker.js');
    const proc = spawn(
      'sh',
      [
        '-c',
        `ulimit -f 4096; exec "${process.execPath}" "${CLI}" --port 0 --host 127.0.0.1 ` +
          `--db "${dir}/db" --admin_token ${ADMIN}`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let exited: number | null | undefined;
    const gone = new Promise<void>((r) =>
      proc.once('exit', (code) => {
        exited = code;
        r();
      }),
    );
    try {
      let out = '';
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`broker did not listen within 15 s: ${out}`)), 15_000);
        proc.stdout!.on('data', (c: Buffer) => {
          out += c.toString();
          const m = /"url":"(http:[^"]+)"/.exec(out);
          if (m) {
            clearTimeout(timer);
            resolve(m[1]);
          }
        });
        proc.stderr!.on('data', (c: Buffer) => (out += c.toString()));
        proc.once('exit', () => {
          clearTimeout(timer);
          reject(new Error(`broker exited before listening: ${out}`));
        });
      });
      const user = await makeUser(url);
      const acknowledged: number[] = [];
      let full;
      for (let i = 0; i < 300 && !full; i++) {
        const answer = await post(
          url,
          '/insert',
          { event: `e${i % 4}`, data: { i, pad: 'x'.repeat(50_000) } },
          bearer(user.jwt),
        );
        if (answer.status === 200) acknowledged.push(answer.body.id);
        else full = answer;
      }
      expect(full?.status).toBe(507);
      expect(full?.body.error).toMatch(/could not write to its disk/);
      // Still alive and serving: more writes answer 507 too, reads work.
      await new Promise((r) => setTimeout(r, 200));
      expect(exited).toBeUndefined();
      expect((await post(url, '/insert', { event: 'x', data: 'y'.repeat(50_000) }, bearer(user.jwt))).status).toBe(507);
      expect((await get(url, '/verify', bearer(user.jwt))).status).toBe(200);
      expect((await eventsAt(url, user.jwt)).map((e) => e.id)).toEqual(acknowledged);
      expect(exited).toBeUndefined();
    } finally {
      // Dead before afterEach removes its database directory.
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await gone;
    }
  });
});
