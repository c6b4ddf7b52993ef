// Three Broker nodes on one 3-server JetStream cluster are one Broker: a write acknowledged on any node is
// what every other node decides on next (logins, lockouts, unique names, the stream limit), and the
// realtime log is the same on all of them (fan-out in id order, once; Last-Event-ID resumes anywhere;
// a revoke, a password change, a deletion or a logout on one node ends the user's streams on the others).
import { createHash } from 'node:crypto';
import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN } from '../helpers/broker.js';
import { startCluster, type BrokerCluster } from '../helpers/cluster.js';
import { basic, bearer, get, makeUser, post } from '../helpers/http.js';
import { SKIP_NATS } from '../helpers/nats.js';
import { openSse } from '../helpers/sse.js';
import { waitUntil } from '../helpers/wait.js';
import { type BackendKey, WsClient, backendKey, sign } from '../topics/support.js';
import { appWithKey, call, uniqueId } from '../apps/support.js';

describe.skipIf(SKIP_NATS)('a cluster of 3 Broker nodes', () => {
  let c: BrokerCluster;
  let A: string;
  let B: string;
  let C: string;
  let key: BackendKey;
  beforeAll(async () => {
    key = await backendKey();
    c = await startCluster({ args: ['--max_streams_per_user', '4', '--topic_public_key', key.pem] });
    [A, B, C] = c.urls as [string, string, string];
  }, 120_000);
  afterAll(async () => {
    await c?.stop();
  }, 60_000);

  it('a user created on A logs in on C at once', async () => {
    const created = await post(A, '/create_user', {
      admin_token: ADMIN,
      username: 'carol',
      password: 'correct horse battery staple',
      tenant_name: 't-login',
    });
    expect(created.status).toBe(200);
    const login = await post(C, '/login', { username: 'carol', password: 'correct horse battery staple' });
    expect(login.status).toBe(200);
    expect(typeof login.body.jwt).toBe('string');
  });

  it('3 failed logins spread over 3 nodes lock the account on every node', async () => {
    const u = await makeUser(A, { tenant_name: 't-lock' });
    for (const node of [A, B, C]) {
      const bad = await post(node, '/login', { username: u.username, password: 'wrong password' });
      expect(bad.status).toBe(401);
    }
    for (const node of [A, B, C]) {
      const locked = await post(node, '/login', { username: u.username, password: u.password });
      expect(locked.status).toBe(429);
      expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0);
    }
  });

  it('an insert on A reaches B and C in id order, once; Last-Event-ID from A resumes on B', async () => {
    const u = await makeUser(A, { tenant_name: 't-fanout' });
    const onA = openSse(A, u.jwt);
    const onB = openSse(B, u.jwt);
    const onC = openSse(C, u.jwt);
    try {
      await Promise.all([onA, onB, onC].map((s) => s.waitFor((r) => r.status === 200)));
      const ids: number[] = [];
      for (let i = 0; i < 20; i++) {
        const node = [A, B, C][i % 3]!;
        const r = await post(node, '/insert', { event: 'tick', data: { i } }, bearer(u.jwt));
        expect(r.status).toBe(200);
        ids.push(r.body.id);
      }
      expect([...ids].sort((x, y) => x - y)).toEqual(ids);
      for (const s of [onA, onB, onC]) {
        await s.waitForEvents(20);
        // A moment more: a duplicate would arrive right after the last one.
        await new Promise((r) => setTimeout(r, 300));
        expect(s.events.map((f) => Number(f.id))).toEqual(ids);
        expect(s.events.map((f) => JSON.parse(f.data).i)).toEqual([...Array(20).keys()]);
      }
      expect(onB.epoch).toBe(onA.epoch);
      expect(onC.epoch).toBe(onA.epoch);

      // Resume across nodes: the 10th id seen on A, given to B, replays exactly the 10 after it.
      const resumed = openSse(B, u.jwt, { lastEventId: onA.events[9]!.id });
      try {
        await resumed.waitForEvents(10);
        await new Promise((r) => setTimeout(r, 300));
        expect(resumed.events.map((f) => Number(f.id))).toEqual(ids.slice(10));
      } finally {
        resumed.close();
      }
    } finally {
      for (const s of [onA, onB, onC]) s.close();
    }
  });

  it('a revoke on B closes a stream open on C within 2 s', async () => {
    const u = await makeUser(A, { tenant_name: 't-revoke' });
    const onC = openSse(C, u.jwt);
    await onC.waitFor((r) => r.status === 200);
    const revoked = await post(B, '/revoke_user', { admin_token: ADMIN, username: u.username });
    expect(revoked.status).toBe(200);
    const t0 = Date.now();
    await onC.waitFor((r) => r.ended, 2000);
    expect(Date.now() - t0).toBeLessThan(2000);
    const login = await post(C, '/login', { username: u.username, password: u.password });
    expect(login.status).not.toBe(200);
  });

  it("a password change on A and a deletion on B close the user's streams on C in 2 s; keys are shared", async () => {
    const u = await makeUser(A, { tenant_name: 't-password' });
    const onC = openSse(C, u.jwt);
    try {
      await onC.waitFor((r) => r.status === 200);
      const changed = await post(A, '/update_user', {
        admin_token: ADMIN,
        username: u.username,
        password: 'a new and long password',
      });
      expect(changed.status).toBe(200);
      const t0 = Date.now();
      await onC.waitFor((r) => r.ended, 2000);
      expect(Date.now() - t0).toBeLessThan(2000);
    } finally {
      onC.close();
    }
    // A user of an app, deleted through the app's key on B.
    const app = await appWithKey(A);
    const username = uniqueId('gone');
    const made = await call(A, 'POST', '/user/create', app.key, {
      username,
      password: 'a long enough password',
      email: `${username}@x.example`,
    });
    expect(made.status).toBe(201);
    const { id } = (await post(A, '/get_user', { admin_token: ADMIN, username })).body;
    const stream = openSse(C, made.body.token as string);
    try {
      await stream.waitFor((r) => r.status === 200);
      const deleted = await call(B, 'DELETE', `/user/${id}`, app.key);
      expect(deleted.status, deleted.text).toBe(200);
      const t1 = Date.now();
      await stream.waitFor((r) => r.ended, 2000);
      expect(Date.now() - t1).toBeLessThan(2000);
      expect((await get(C, '/verify', bearer(made.body.token as string))).status).toBe(401);
    } finally {
      stream.close();
    }
    // The key itself, deleted on B, is refused on C from the next request on.
    expect((await post(B, '/delete_api_key', { admin_token: ADMIN, key_id: app.key_id })).status).toBe(200);
    expect((await call(C, 'POST', '/count', app.key, { id: '', platform: 'ios' })).status).toBe(401);
  });

  it("/logout on A closes the user's stream open on B within 2 s, and B refuses the token", async () => {
    const u = await makeUser(A, { tenant_name: 't-logout' });
    const onB = openSse(B, u.jwt);
    try {
      await onB.waitFor((r) => r.status === 200);
      const out = await post(A, '/logout', {}, bearer(u.jwt));
      expect(out.status).toBe(200);
      const t0 = Date.now();
      await onB.waitFor((r) => r.ended, 2000);
      expect(Date.now() - t0).toBeLessThan(2000);
      expect((await post(B, '/insert', { event: 'x', data: 1 }, bearer(u.jwt))).status).toBe(401);
    } finally {
      onB.close();
    }
  });

  it('a deny entry of an older node (no username in the message) still denies the token on every node', async () => {
    const u = await makeUser(A, { tenant_name: 't-old-deny' });
    // The entry as the deny list keys it: the token's own exp and its sha256.
    const { exp } = JSON.parse(Buffer.from(u.jwt.split('.')[1]!, 'base64url').toString());
    const hash = createHash('sha256').update(u.jwt).digest('base64url');
    const nc = await connect({ servers: c.nats.nodes.map((n) => n.url) });
    try {
      const old = { op: 'denied.add', hash, exp, v: 1, from: 'older-node:1' };
      await jetstream(nc, { timeout: 5000 }).publish('BROKER.w', JSON.stringify(old));
    } finally {
      await nc.close();
    }
    for (const node of [A, B, C]) {
      await waitUntil(
        async () => (await post(node, '/insert', { event: 'x', data: 1 }, bearer(u.jwt))).status === 401,
        5_000,
        `the token denied on ${node}`,
      );
    }
  });

  it('presence asked on C counts a WebSocket subscriber on A and an SSE subscriber on B', async () => {
    const token = (sub: string) => sign(key, { topics: ['lobby'], scope: 'subscribe', sub });
    const ask = async (node: string) =>
      (await get(node, `/presence?topic=lobby&token=${await token('asker')}`)).body as {
        connections: number;
        subscribers: string[];
      };
    const ws = new WsClient(A);
    const sse = openSse(B, undefined, { query: `topics=lobby&token=${await token('bob')}` });
    try {
      await ws.open();
      ws.send(`/subscribe lobby ${await token('alice')}`);
      await sse.waitFor((r) => r.status === 200);
      await waitUntil(async () => (await ask(C)).connections === 2, 10_000, 'presence on C counts A and B');
      expect(await ask(C)).toEqual({ topic: 'lobby', connections: 2, subscribers: ['alice', 'bob'] });
      // Every node answers the same.
      for (const node of [A, B]) expect(await ask(node)).toEqual(await ask(C));
      ws.close();
      await waitUntil(async () => (await ask(C)).connections === 1, 10_000, 'the WebSocket on A gone');
      expect((await ask(C)).subscribers).toEqual(['bob']);
    } finally {
      ws.close();
      sse.close();
    }
  });

  it('presence lists the same bounded cut of sub claims on every node: the sorted first within 256 KB', async () => {
    // 48 subscribers of 6 KB claims, half on A and half on B: 288 KB of claims, more than one answer lists.
    const names = Array.from({ length: 48 }, (_, i) => `s${String(i).padStart(2, '0')}${'x'.repeat(6000)}`);
    const streams = await Promise.all(
      names.map(async (sub, i) =>
        openSse(i % 2 ? B : A, await sign(key, { topics: ['crowd'], scope: 'subscribe', sub }), {
          query: 'topics=crowd',
        }),
      ),
    );
    const asker = await sign(key, { topics: ['crowd'], scope: 'broadcast' });
    const ask = async (node: string) => (await get(node, `/presence?topic=crowd&token=${asker}`)).body;
    try {
      await Promise.all(streams.map((s) => s.waitFor((r) => r.status === 200)));
      await waitUntil(async () => (await ask(C)).connections === 48, 15_000, 'presence on C counts all 48');
      const listed: string[] = (await ask(C)).subscribers;
      const LIMIT = 256 * 1024;
      expect(listed.length).toBeGreaterThan(30);
      expect(listed).toEqual(names.slice(0, listed.length));
      expect(JSON.stringify(listed).length).toBeLessThanOrEqual(LIMIT);
      expect(JSON.stringify(names.slice(0, listed.length + 1)).length).toBeGreaterThan(LIMIT);
      for (const node of [A, B])
        expect(await ask(node)).toEqual({ topic: 'crowd', connections: 48, subscribers: listed });
    } finally {
      for (const s of streams) s.close();
    }
  });

  it('concurrent create_user of one name on 3 nodes creates exactly one', async () => {
    for (let round = 0; round < 3; round++) {
      const username = `same${round}`;
      const answers = await Promise.all(
        [A, B, C].map((node, i) =>
          post(node, '/create_user', {
            admin_token: ADMIN,
            username,
            password: `password number ${i} here`,
            tenant_name: `t-same-${i}`,
          }),
        ),
      );
      const statuses = answers.map((a) => a.status).sort();
      expect(statuses.filter((s) => s === 200)).toHaveLength(1);
      expect(statuses.filter((s) => s >= 500)).toEqual([]);
      const winner = answers.findIndex((a) => a.status === 200);
      // Every node holds the winner's user, with the winner's password.
      for (const node of [A, B, C]) {
        const login = await post(node, '/login', { username, password: `password number ${winner} here` });
        expect(login.status).toBe(200);
        const listed = await post(node, '/get_user', { admin_token: ADMIN, username });
        expect(listed.body.tenant_name).toBe(`t-same-${winner}`);
      }
    }
  });

  it('the per-user stream limit counts the streams open on every node', async () => {
    const u = await makeUser(A, { tenant_name: 't-limit' });
    // 4 allowed: one on A, two on B, one on C; the 5th, wherever it opens, is refused.
    const open = [openSse(A, u.jwt), openSse(B, u.jwt), openSse(B, u.jwt), openSse(C, u.jwt)];
    try {
      await Promise.all(open.map((s) => s.waitFor((r) => r.status === 200)));
      await waitUntil(
        async () => {
          const fifth = openSse(C, u.jwt);
          await fifth.waitFor((r) => r.status !== 0);
          fifth.close();
          return fifth.status === 429;
        },
        5_000,
        'a 5th stream refused on C',
      );
      // One closed on A frees a place, wherever the next one opens.
      open[0]!.close();
      await waitUntil(
        async () => {
          const next = openSse(C, u.jwt);
          await next.waitFor((r) => r.status !== 0);
          next.close();
          return next.status === 200;
        },
        10_000,
        'a stream on C after one closed on A',
      );
    } finally {
      for (const s of open) s.close();
    }
  });

  it('Basic auth on any node sees a password changed on another', async () => {
    const u = await makeUser(B, { tenant_name: 't-basic' });
    const changed = await post(B, '/update_user', {
      admin_token: ADMIN,
      username: u.username,
      password: 'new pass phrase here',
    });
    expect(changed.status).toBe(200);
    const r = await post(C, '/insert', { event: 'x', data: 1 }, basic(u.username, 'new pass phrase here'));
    expect(r.status).toBe(200);
  });
});
