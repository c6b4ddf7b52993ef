// /insert and /sse against a real server: replay, live, resume, isolation, filters, stream health.
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, startBroker, type TestBroker } from '../helpers/broker.js';
import { bearer, get, makeUser, post } from '../helpers/http.js';
import { openSse, type SseReader } from '../helpers/sse.js';
import { waitUntil } from '../helpers/wait.js';

let broker: TestBroker;
let base: string;
const readers: SseReader[] = [];
const sse = (...args: Parameters<typeof openSse>) => {
  const r = openSse(...args);
  readers.push(r);
  return r;
};

beforeAll(async () => {
  broker = await startBroker({ max_streams_per_user: 64 });
  base = broker.url;
});
afterAll(async () => {
  for (const r of readers) r.close();
  await broker.stop();
});

async function insert(jwt: string, event: string, data: unknown): Promise<number> {
  const res = await post(base, '/insert', { event, data }, bearer(jwt));
  expect(res.status, res.text).toBe(200);
  return res.body.id as number;
}

const ids = (r: SseReader) => r.events.map((f) => Number(f.id));
const payloads = (r: SseReader) => r.events.map((f) => `${f.event}=${f.data}`);

describe('insert', () => {
  it('answers {id} with ids increasing from 1 within the tenant', async () => {
    const { jwt } = await makeUser(base, { tenant_name: 'ids-tenant' });
    const got = [];
    for (let i = 0; i < 5; i++) got.push(await insert(jwt, 'e', i));
    expect(got).toEqual([1, 2, 3, 4, 5]);
    const other = await makeUser(base, { tenant_name: 'ids-tenant-2' });
    expect(await insert(other.jwt, 'e', 0)).toBe(1);
  });

  it('an unauthenticated insert → 401 and nothing is stored', async () => {
    const { jwt } = await makeUser(base, { tenant_name: 'anon-tenant' });
    expect((await post(base, '/insert', { event: 'e', data: 1 })).status).toBe(401);
    expect((await post(base, '/insert', { event: 'e', data: 1 }, bearer(`${jwt}x`))).status).toBe(401);
    expect((await get(base, '/events', bearer(jwt))).body.events).toEqual([]);
  });
});

describe('subscribe', () => {
  it('streams text/event-stream with no-cache and X-Accel-Buffering: no, retry first', async () => {
    const { jwt } = await makeUser(base, { tenant_name: 'headers-tenant' });
    const r = sse(base, jwt);
    await r.waitFor((x) => x.frames.length >= 1);
    expect(r.status).toBe(200);
    expect(r.headers!.get('content-type')).toMatch(/^text\/event-stream/);
    expect(r.headers!.get('cache-control')).toBe('no-cache');
    expect(r.headers!.get('x-accel-buffering')).toBe('no');
    expect(r.frames[0].retry).toMatch(/^\d+$/);
  });

  it('answers 401, not a stream, when auth fails', async () => {
    for (const headers of [{}, bearer('bad.token.here'), { authorization: 'Basic Zm9vOmJhcg==' }]) {
      const res = await fetch(`${base}/sse`, { headers });
      expect(res.status).toBe(401);
      expect(res.headers.get('content-type')).toMatch(/json/);
      expect((await res.json()).error).toBeTypeOf('string');
    }
  });

  it('replays only the latest event of every name, in id order, frames without a space after the colon', async () => {
    const { jwt } = await makeUser(base, { tenant_name: 'replay-tenant' });
    await insert(jwt, 'profile', { v: 1 });
    await insert(jwt, 'settings', { dark: false });
    await insert(jwt, 'profile', { v: 2 });
    await insert(jwt, 'cart', []);
    await insert(jwt, 'settings', { dark: true });
    const raw = await fetch(`${base}/sse`, { headers: bearer(jwt) });
    const reader = raw.body!.getReader();
    let text = '';
    while (!text.includes('event:settings')) text += new TextDecoder().decode((await reader.read()).value);
    await reader.cancel();
    expect(text).toContain('event:profile\nid:3\ndata:{"v":2}\n\n');
    expect(text).toContain('event:cart\nid:4\ndata:[]\n\n');
    expect(text).toContain('event:settings\nid:5\ndata:{"dark":true}\n\n');
    expect(text.indexOf('id:3')).toBeLessThan(text.indexOf('id:4'));
    expect(text).not.toContain('"v":1');
    expect(text).not.toContain('"dark":false');
  });

  it('delivers live inserts, and identical data inserted again is a new event', async () => {
    const { jwt } = await makeUser(base, { tenant_name: 'live-tenant' });
    const r = sse(base, jwt);
    await r.waitFor((x) => x.frames.length >= 1);
    await insert(jwt, 'ping', { same: true });
    await insert(jwt, 'ping', { same: true });
    await insert(jwt, 'ping', { same: true });
    await r.waitForEvents(3);
    expect(payloads(r)).toEqual(['ping={"same":true}', 'ping={"same":true}', 'ping={"same":true}']);
    expect(ids(r)).toEqual([1, 2, 3]);
  });

  it('keeps tenants apart in replay and live, including a tenant whose name is a prefix of another', async () => {
    const a = await makeUser(base, { tenant_name: 'acme' });
    const b = await makeUser(base, { tenant_name: 'acme-corp' });
    const c = await makeUser(base, { tenant_name: 'acm' });
    await insert(a.jwt, 'secret', 'of acme');
    await insert(b.jwt, 'secret', 'of acme-corp');
    const ra = sse(base, a.jwt, { lastEventId: 0 });
    const rb = sse(base, b.jwt, { lastEventId: 0 });
    const rc = sse(base, c.jwt);
    await ra.waitForEvents(1);
    await rb.waitForEvents(1);
    await insert(a.jwt, 'live', 'a2');
    await insert(b.jwt, 'live', 'b2');
    await insert(c.jwt, 'live', 'c1');
    await ra.waitForEvents(2);
    await rb.waitForEvents(2);
    await rc.waitForEvents(1);
    await new Promise((r) => setTimeout(r, 200));
    expect(payloads(ra)).toEqual(['secret="of acme"', 'live="a2"']);
    expect(payloads(rb)).toEqual(['secret="of acme-corp"', 'live="b2"']);
    expect(payloads(rc)).toEqual(['live="c1"']);
    expect((await get(base, '/events', bearer(c.jwt))).body.events).toHaveLength(1);
  });

  it('1,000 concurrent inserts reach 50 subscribers exactly once, in id order, even those joining midway', async () => {
    const users = await Promise.all(Array.from({ length: 5 }, () => makeUser(base, { tenant_name: 'storm' })));
    const early = Array.from({ length: 25 }, (_, i) => sse(base, users[i % 5].jwt, { lastEventId: 0 }));
    await Promise.all(early.map((r) => r.waitFor((x) => x.frames.length >= 1)));
    const late: SseReader[] = [];
    const acked: number[] = [];
    let sent = 0;
    const worker = async (w: number) => {
      while (sent < 1000) {
        const n = sent++;
        if (n % 40 === 0 && late.length < 25) late.push(sse(base, users[w % 5].jwt, { lastEventId: 0 }));
        const res = await post(base, '/insert', { event: `e${n % 7}`, data: { n } }, bearer(users[w % 5].jwt));
        expect(res.status).toBe(200);
        acked.push(res.body.id);
      }
    };
    await Promise.all(Array.from({ length: 32 }, (_, w) => worker(w)));
    while (late.length < 25) late.push(sse(base, users[0].jwt, { lastEventId: 0 }));
    expect(acked.sort((x, y) => x - y)).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
    const expected = Array.from({ length: 1000 }, (_, i) => i + 1);
    for (const r of [...early, ...late]) {
      await r.waitForEvents(1000, 20_000);
      expect(ids(r)).toEqual(expected);
    }
    // The data each id carries is the same for every subscriber.
    const reference = payloads(early[0]);
    for (const r of [...early, ...late]) expect(payloads(r)).toEqual(reference);
    for (const r of [...early, ...late]) r.close();
  });
});

describe('fan-out across slices', () => {
  it('more subscribers than one fan-out slice (500) each get every event exactly once, in order', async () => {
    const big = await startBroker({ max_streams_per_user: 1000 });
    const readers: SseReader[] = [];
    try {
      const { jwt } = await makeUser(big.url, { tenant_name: 'wide' });
      for (let i = 0; i < 520; i++) readers.push(openSse(big.url, jwt));
      await Promise.all(readers.map((r) => r.waitFor((x) => x.frames.length >= 1, 20_000)));
      // Concurrent inserts: commits pile up while a round is still being written, and get merged.
      let n = 0;
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          while (n < 200) await post(big.url, '/insert', { event: 'tick', data: n++ }, bearer(jwt));
        }),
      );
      const expected = Array.from({ length: 200 }, (_, i) => i + 1);
      for (const r of readers) {
        await r.waitForEvents(200, 30_000);
        expect(ids(r)).toEqual(expected);
      }
    } finally {
      for (const r of readers) r.close();
      await big.stop();
    }
  }, 90_000);
});

describe('resume', () => {
  it('after a disconnect with N events missed, Last-Event-ID gives exactly those N, then live', async () => {
    const { jwt } = await makeUser(base, { tenant_name: 'resume-tenant' });
    for (let i = 1; i <= 3; i++) await insert(jwt, 'x', i);
    const first = sse(base, jwt, { lastEventId: 0 });
    await first.waitForEvents(3);
    first.close();
    const last = first.events[2].id!;
    for (let i = 4; i <= 10; i++) await insert(jwt, i % 2 ? 'x' : 'y', i);
    const second = sse(base, jwt, { lastEventId: last });
    await second.waitForEvents(7);
    expect(ids(second)).toEqual([4, 5, 6, 7, 8, 9, 10]);
    await insert(jwt, 'x', 11);
    await second.waitForEvents(8);
    expect(ids(second)).toEqual([4, 5, 6, 7, 8, 9, 10, 11]);
    // ?last_event_id= works the same, for clients that cannot set headers.
    const third = sse(base, jwt, { query: 'last_event_id=9' });
    await third.waitForEvents(2);
    expect(ids(third)).toEqual([10, 11]);
  });

  it('Last-Event-ID: 0 replays the whole history in order', async () => {
    const { jwt } = await makeUser(base, { tenant_name: 'full-history' });
    for (let i = 1; i <= 1200; i++) await post(base, '/insert', { event: `n${i % 3}`, data: i }, bearer(jwt));
    const r = sse(base, jwt, { lastEventId: 0 });
    await r.waitForEvents(1200);
    expect(ids(r)).toEqual(Array.from({ length: 1200 }, (_, i) => i + 1));
    expect(r.events.map((f) => Number(f.data))).toEqual(Array.from({ length: 1200 }, (_, i) => i + 1));
  });

  it('a Last-Event-ID beyond the log (an older backup restored): event:reset, the snapshot, live', async () => {
    const { jwt } = await makeUser(base, { tenant_name: 'future-resume' });
    await insert(jwt, 'x', 1);
    await insert(jwt, 'y', 2);
    const r = sse(base, jwt, { lastEventId: 50 });
    await r.waitForEvents(3);
    expect(r.events.map((f) => f.event)).toEqual(['reset', 'x', 'y']);
    await insert(jwt, 'x', 3);
    await r.waitForEvents(4);
    expect(r.events[3]).toMatchObject({ event: 'x', id: '3', data: '3' });
  });

  it('a malformed Last-Event-ID → 400', async () => {
    const { jwt } = await makeUser(base, { tenant_name: 'bad-resume' });
    expect((await fetch(`${base}/sse`, { headers: { ...bearer(jwt), 'last-event-id': 'abc' } })).status).toBe(400);
    expect((await fetch(`${base}/sse?last_event_id=-1`, { headers: bearer(jwt) })).status).toBe(400);
  });
});

describe('filters', () => {
  it('?events=a,b streams only those names, in replay and live', async () => {
    const { jwt } = await makeUser(base, { tenant_name: 'filter-tenant' });
    await insert(jwt, 'a', 1);
    await insert(jwt, 'b', 1);
    await insert(jwt, 'c', 1);
    const r = sse(base, jwt, { query: 'events=a,b' });
    const all = sse(base, jwt, { lastEventId: 0, query: 'events=c' });
    await r.waitForEvents(2);
    await insert(jwt, 'c', 2);
    await insert(jwt, 'b', 2);
    await insert(jwt, 'a', 2);
    await r.waitForEvents(4);
    await all.waitForEvents(2);
    await new Promise((res) => setTimeout(res, 200));
    expect(payloads(r)).toEqual(['a=1', 'b=1', 'b=2', 'a=2']);
    expect(payloads(all)).toEqual(['c=1', 'c=2']);
  });
});

describe('history', () => {
  it('GET /events pages through the tenant log with after, limit and event', async () => {
    const { jwt } = await makeUser(base, { tenant_name: 'history-tenant' });
    for (let i = 1; i <= 10; i++) await insert(jwt, i % 2 ? 'odd' : 'even', { i });
    const page1 = await get(base, '/events?after=0&limit=4', bearer(jwt));
    expect(page1.status).toBe(200);
    expect(page1.body.events.map((e: { id: number }) => e.id)).toEqual([1, 2, 3, 4]);
    expect(page1.body.events[0]).toMatchObject({ id: 1, event: 'odd', data: { i: 1 } });
    expect(typeof page1.body.events[0].timestamp).toBe('number');
    const page2 = await get(base, '/events?after=4&limit=4', bearer(jwt));
    expect(page2.body.events.map((e: { id: number }) => e.id)).toEqual([5, 6, 7, 8]);
    const even = await get(base, '/events?event=even', bearer(jwt));
    expect(even.body.events.map((e: { id: number }) => e.id)).toEqual([2, 4, 6, 8, 10]);
    expect((await get(base, '/events?after=x', bearer(jwt))).status).toBe(400);
    expect((await get(base, '/events')).status).toBe(401);
  });
});

describe('stream health and auth', () => {
  it('sends heartbeat comments on idle streams', async () => {
    const quick = await startBroker({ heartbeat: 1 });
    try {
      const { jwt } = await makeUser(quick.url);
      const r = openSse(quick.url, jwt);
      await r.waitFor((x) => x.comments >= 2, 5000);
      r.close();
    } finally {
      await quick.stop();
    }
  });

  it('cuts off a subscriber that stops reading while the others keep receiving', async () => {
    const small = await startBroker({ max_buffer: 64 * 1024 });
    try {
      const slow = await makeUser(small.url, { tenant_name: 'flood' });
      const fast = await makeUser(small.url, { tenant_name: 'flood' });
      // A raw socket that sends the request and then never reads a byte.
      const url = new URL(small.url);
      const socket = connect(Number(url.port), url.hostname);
      socket.write(`GET /sse HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${slow.jwt}\r\n\r\n`);
      socket.pause();
      const good = openSse(small.url, fast.jwt);
      await good.waitFor((x) => x.frames.length >= 1);
      await waitUntil(() => small.services.hub.streamsOf(slow.username) === 1, 5000, 'the raw socket subscribed');
      const blob = 'x'.repeat(200_000);
      // Each event is 3× --max_buffer: the next insert waits for the reading stream to have the last one, so
      // that a loaded machine cannot make it, too, a reader still holding one when the next comes.
      for (let i = 0; i < 120; i++) {
        await post(small.url, '/insert', { event: 'big', data: { i, blob } }, bearer(fast.jwt));
        await good.waitForEvents(i + 1, 20_000);
      }
      expect(ids(good)).toEqual(Array.from({ length: 120 }, (_, i) => i + 1));
      expect(small.services.hub.streamsOf(slow.username)).toBe(0);
      socket.destroy();
      good.close();
    } finally {
      await small.stop();
    }
  });

  it('revoking a user closes their open streams at once', async () => {
    const u = await makeUser(base, { tenant_name: 'revoke-stream' });
    const r = sse(base, u.jwt);
    await r.waitFor((x) => x.frames.length >= 1);
    const started = Date.now();
    await post(base, '/revoke_user', { admin_token: ADMIN, username: u.username });
    await r.waitFor((x) => x.ended, 2000);
    expect(Date.now() - started).toBeLessThan(1000);
    expect((await fetch(`${base}/sse`, { headers: bearer(u.jwt) })).status).toBe(401);
  });

  it('a password change closes the streams opened with older tokens', async () => {
    const u = await makeUser(base, { tenant_name: 'pw-stream' });
    const r = sse(base, u.jwt);
    await r.waitFor((x) => x.frames.length >= 1);
    await post(base, '/update_user', { admin_token: ADMIN, username: u.username, password: 'rotated-password' });
    await r.waitFor((x) => x.ended, 2000);
  });

  it('a stream ends when its token expires', async () => {
    const short = await startBroker({ jwt_expiry: 2 });
    try {
      const { jwt } = await makeUser(short.url);
      const { exp } = JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString()) as { exp: number };
      const r = openSse(short.url, jwt);
      await r.waitFor((x) => x.frames.length >= 1);
      await r.waitFor((x) => x.ended, 5000);
      // Ended by the expiry, not before it (exp is in whole seconds; allow the clock's rounding).
      expect(Date.now()).toBeGreaterThanOrEqual(exp * 1000 - 50);
    } finally {
      await short.stop();
    }
  });

  it('accepts ?token= for EventSource, and limits open streams per user with 429', async () => {
    const limited = await startBroker({ max_streams_per_user: 2 });
    try {
      const { jwt, username } = await makeUser(limited.url);
      const a = openSse(limited.url, undefined, { query: `token=${jwt}` });
      const b = openSse(limited.url, jwt);
      await a.waitFor((x) => x.frames.length >= 1);
      await b.waitFor((x) => x.frames.length >= 1);
      const third = await fetch(`${limited.url}/sse`, { headers: bearer(jwt) });
      expect(third.status).toBe(429);
      expect(third.headers.get('retry-after')).toMatch(/^\d+$/);
      a.close();
      await waitUntil(() => limited.services.hub.streamsOf(username) < 2, 5000, 'the closed stream released');
      const again = openSse(limited.url, jwt);
      await again.waitFor((x) => x.frames.length >= 1);
      expect(again.status).toBe(200);
      b.close();
      again.close();
      expect((await fetch(`${limited.url}/sse?token=garbage`)).status).toBe(401);
    } finally {
      await limited.stop();
    }
  });
});
