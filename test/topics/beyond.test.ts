// Past notiflux, against the real server: Broker-issued tokens verified through the JWKS, broker.v1 resume
// under a concurrent publish load, one id sequence across topics, SSE topic streams, token expiry,
// presence across transports, the 101st topic, and a WebSocket reader that never reads.
import { createLocalJWKSet, jwtVerify } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { ADMIN, startBroker, type TestBroker, testDir } from '../helpers/broker.js';
import { get, post } from '../helpers/http.js';
import { openSse, type SseReader } from '../helpers/sse.js';
import { waitUntil } from '../helpers/wait.js';
import { type BackendKey, WsClient, backendKey, sign } from './support.js';

let broker: TestBroker | undefined;
const closers: (() => void)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) close();
  await broker?.stop();
  broker = undefined;
});

async function setup(overrides: Record<string, unknown> = {}): Promise<{ url: string; key: BackendKey }> {
  const key = await backendKey();
  broker = await startBroker({ topic_public_key: key.pem, ...overrides });
  return { url: broker.url, key };
}

async function client(url: string, protocol?: string): Promise<WsClient> {
  const c = new WsClient(url, protocol);
  closers.push(() => c.close());
  await c.open();
  return c;
}

function sse(url: string, token: string, query: string, lastEventId?: number): SseReader {
  const reader = openSse(url, token, { query, lastEventId });
  closers.push(() => reader.close());
  return reader;
}

const presence = async (url: string, topic: string, token: string) =>
  (await get(url, `/presence?topic=${encodeURIComponent(topic)}&token=${token}`)).body;

describe('Broker-issued tokens', () => {
  it('POST /create_topic_token signs with a key the JWKS serves; the token subscribes and broadcasts', async () => {
    const { url } = await setup();
    const refused = await post(url, '/create_topic_token', {
      admin_token: 'wrong',
      topics: ['t'],
      scope: 'subscribe',
      expires_in: 60,
    });
    expect(refused.status).toBe(401);
    const tooLong = { admin_token: ADMIN, topics: ['t'], scope: 'subscribe', expires_in: 31 * 24 * 3600 };
    expect((await post(url, '/create_topic_token', tooLong)).status).toBe(400);
    const made = await post(url, '/create_topic_token', { ...tooLong, expires_in: 600 });
    expect(made.status).toBe(200);
    expect(made.body.expiry).toBeGreaterThan(Date.now() / 1000 + 590);
    const jwks = (await get(url, '/.well-known/jwks.json')).body;
    expect(jwks.keys[0].kid).toEqual(expect.any(String));
    expect(jwks.keys[0].d).toBeUndefined();
    const { payload, protectedHeader } = await jwtVerify(made.body.token, createLocalJWKSet(jwks));
    expect(protectedHeader).toMatchObject({ alg: 'ES256', kid: jwks.keys[0].kid });
    expect(payload).toMatchObject({ topics: ['t'], scope: 'subscribe' });
    const pub = (await post(url, '/create_topic_token', { ...tooLong, scope: 'broadcast', expires_in: 600 })).body
      .token;
    const c = await client(url);
    c.send(`/subscribe t ${made.body.token}`);
    await waitUntil(async () => (await presence(url, 't', pub)).connections === 1);
    expect((await post(url, '/broadcast', { topic: 't', message: 'mine', token: pub })).status).toBe(200);
    await c.waitFor(1);
    expect(c.frames).toEqual(['mine']);
  });

  it('the key pair is kept: the JWKS is the same after a restart', async () => {
    const dir = testDir();
    broker = await startBroker({}, { dir });
    const before = (await get(broker.url, '/.well-known/jwks.json')).body;
    await broker.stop();
    broker = await startBroker({}, { dir });
    expect((await get(broker.url, '/.well-known/jwks.json')).body).toEqual(before);
  });

  it("JWT_PUBLIC_KEY_B64 (notiflux's env) is trusted when --topic_public_key is unset", async () => {
    const key = await backendKey();
    process.env.JWT_PUBLIC_KEY_B64 = Buffer.from(key.pem).toString('base64');
    try {
      broker = await startBroker();
    } finally {
      delete process.env.JWT_PUBLIC_KEY_B64;
    }
    const pub = await sign(key, { topics: ['t'], scope: 'broadcast' });
    expect((await post(broker.url, '/broadcast', { topic: 't', message: 'm', token: pub })).status).toBe(200);
  });
});

describe('broker.v1', () => {
  it('resume with `after` under a concurrent publish load: no gap, no duplicate, ids increasing', async () => {
    const { url, key } = await setup();
    const pub = await sign(key, { topics: ['a', 'b'], scope: 'broadcast' });
    const sub = await sign(key, { topics: ['a', 'b'], scope: 'subscribe' });
    const ids: Record<string, number[]> = { a: [], b: [] };
    let publishing = true;
    const publisher = async (topic: string) => {
      while (publishing) {
        const res = await post(url, '/broadcast', { topic, message: `${topic}`, token: pub });
        expect(res.status).toBe(200);
        ids[topic].push(res.body.id);
      }
    };
    const publishers = [publisher('a'), publisher('b'), publisher('a'), publisher('b')];
    await waitUntil(() => ids.a.length > 50 && ids.b.length > 50, 10_000, 'history');
    const from = Math.min(...ids.a.slice(10, 20));
    const c = await client(url, 'broker.v1');
    expect(c.ws.protocol).toBe('broker.v1');
    c.send(JSON.stringify({ type: 'subscribe', topic: 'a', token: sub, after: from }));
    await waitUntil(() => ids.a.length > 200, 20_000, 'more publishing while resuming');
    publishing = false;
    await Promise.all(publishers);
    const all = [...ids.a, ...ids.b];
    expect(new Set(all).size).toBe(all.length);
    const expected = ids.a.filter((id) => id > from).sort((x, y) => x - y);
    await waitUntil(() => c.json().filter((f) => f.type === 'message').length >= expected.length, 10_000, 'all');
    const frames = c.json();
    expect(frames[0]).toEqual({ type: 'subscribed', topic: 'a' });
    const got = frames.filter((f) => f.type === 'message');
    expect(got.every((f) => f.topic === 'a' && f.message === 'a')).toBe(true);
    expect(got.map((f) => f.id)).toEqual(expected);
  }, 60_000);

  it('a refused subscription gets an error naming the topic; the others stay; the 101st topic is refused', async () => {
    const { url, key } = await setup();
    const topics = Array.from({ length: 101 }, (_, i) => `t${i}`);
    const sub = await sign(key, { topics, scope: 'subscribe' });
    const pub = await sign(key, { topics, scope: 'broadcast' });
    const c = await client(url, 'broker.v1');
    for (const topic of topics.slice(0, 100)) c.send(JSON.stringify({ type: 'subscribe', topic, token: sub }));
    await c.waitFor(100);
    c.send(JSON.stringify({ type: 'subscribe', topic: 't100', token: sub }));
    c.send(JSON.stringify({ type: 'subscribe', topic: 'x', token: sub }));
    c.send(JSON.stringify({ type: 'subscribe', topic: 'bad topic', token: sub }));
    c.send('not json');
    await c.waitFor(104);
    expect(c.json().slice(0, 100)).toEqual(topics.slice(0, 100).map((topic) => ({ type: 'subscribed', topic })));
    // Answered in the order their token checks end: compared as a set.
    const errors = c.json().slice(100);
    expect(errors).toHaveLength(4);
    expect(errors).toContainEqual(expect.objectContaining({ type: 'error', topic: 't100', code: 'too_many_topics' }));
    expect(errors).toContainEqual(expect.objectContaining({ type: 'error', topic: 'x', code: 'forbidden' }));
    expect(errors).toContainEqual(
      expect.objectContaining({ type: 'error', topic: 'bad topic', code: 'invalid_topic' }),
    );
    expect(errors).toContainEqual(expect.objectContaining({ type: 'error', code: 'bad_frame' }));
    const { body } = await post(url, '/broadcast', { topic: 't99', message: 'still here', token: pub });
    await c.waitFor(105);
    expect(c.json()[104]).toEqual({ type: 'message', topic: 't99', id: body.id, message: 'still here' });
  });

  it('a subscription ends when its token expires (broker.v1 is told; the connection stays)', async () => {
    const { url, key } = await setup();
    const c = await client(url, 'broker.v1');
    const short = await sign(key, { topics: ['t'], scope: 'subscribe' }, { exp: Math.floor(Date.now() / 1000) + 2 });
    c.send(JSON.stringify({ type: 'subscribe', topic: 't', token: short }));
    await c.waitFor(2, 'subscribed, then token_expired', 6000);
    expect(c.json()[1]).toMatchObject({ type: 'error', topic: 't', code: 'token_expired' });
    expect(c.closed).toBe(false);
    const pub = await sign(key, { topics: ['t'], scope: 'broadcast' });
    expect((await presence(url, 't', pub)).connections).toBe(0);
  });
});

describe('one sequence, SSE, presence', () => {
  it('ids strictly increase across topics; SSE streams several topics and resumes with Last-Event-ID', async () => {
    const { url, key } = await setup();
    const pub = await sign(key, { topics: ['a', 'b', 'c'], scope: 'broadcast' });
    const sub = await sign(key, { topics: ['a', 'b'], scope: 'subscribe' });
    const sent: { topic: string; id: number; message: string }[] = [];
    for (let i = 0; i < 30; i++) {
      const topic = ['a', 'b', 'c'][i % 3];
      const message = `m${i} "quoted"`;
      const { body } = await post(url, '/broadcast', { topic, message, token: pub });
      if (sent.length) expect(body.id).toBeGreaterThan(sent[sent.length - 1].id);
      sent.push({ topic, id: body.id, message });
    }
    // Not every topic of the stream is in the token: 403.
    expect((await get(url, '/sse?topics=a,c', { authorization: `Bearer ${sub}` })).status).toBe(403);
    const from = sent[10].id;
    const reader = sse(url, sub, 'topics=a,b', from);
    const expected = sent.filter((s) => s.id > from && s.topic !== 'c');
    const events = (r: SseReader) => r.frames.filter((f) => f.event !== undefined);
    await waitUntil(() => events(reader).length >= expected.length, 5000, 'the replay');
    // Live after the replay, through ?token= as well.
    const live = sse(url, '', `topics=b&token=${sub}`);
    await waitUntil(async () => (await presence(url, 'b', sub)).connections === 2);
    const { body } = await post(url, '/broadcast', { topic: 'b', message: 'live', token: pub });
    expected.push({ topic: 'b', id: body.id, message: 'live' });
    await waitUntil(() => events(reader).length >= expected.length && events(live).length >= 1, 5000, 'live');
    expect(events(reader).map((f) => ({ topic: f.event, id: Number(f.id), message: JSON.parse(f.data) }))).toEqual(
      expected,
    );
    expect(events(live).map((f) => [f.event, Number(f.id), f.data])).toEqual([['b', body.id, '"live"']]);
  });

  it('an SSE topic stream ends when its token expires', async () => {
    const { url, key } = await setup();
    const short = await sign(key, { topics: ['t'], scope: 'subscribe' }, { exp: Math.floor(Date.now() / 1000) + 2 });
    const reader = sse(url, short, 'topics=t');
    await waitUntil(() => reader.status === 200);
    await waitUntil(() => reader.ended, 6000, 'the stream ended');
  });

  it('presence counts WebSocket and SSE subscribers and distinct sub claims', async () => {
    const { url, key } = await setup();
    const token = (sub: string) => sign(key, { topics: ['room'], scope: 'subscribe', sub });
    const alice = await token('alice');
    const ws1 = await client(url);
    ws1.send(`/subscribe room ${alice}`);
    const ws2 = await client(url, 'broker.v1');
    ws2.send(JSON.stringify({ type: 'subscribe', topic: 'room', token: await token('bob') }));
    sse(url, await token('alice'), 'topics=room');
    const carol = await sign(key, { topics: ['room', 'other'], scope: 'subscribe', sub: 'carol' });
    sse(url, carol, 'topics=room,other');
    await waitUntil(async () => (await presence(url, 'room', alice)).connections === 4, 5000, 'four');
    expect(await presence(url, 'room', alice)).toEqual({
      topic: 'room',
      connections: 4,
      subscribers: ['alice', 'bob', 'carol'],
    });
    expect((await get(url, '/presence?topic=room')).status).toBe(401);
    const other = await sign(key, { topics: ['elsewhere'], scope: 'broadcast' });
    expect((await get(url, `/presence?topic=room&token=${other}`)).status).toBe(403);
    ws1.close();
    await waitUntil(async () => (await presence(url, 'room', alice)).connections === 3, 5000, 'three');
  });
});

describe('a WebSocket reader that never reads', () => {
  it('is cut at --max_buffer while the others receive everything', async () => {
    const { url, key } = await setup({ max_buffer: 256 * 1024 });
    const sub = await sign(key, { topics: ['t'], scope: 'subscribe' });
    const pub = await sign(key, { topics: ['t'], scope: 'broadcast' });
    const stuck = await client(url);
    const readers = [await client(url), await client(url, 'broker.v1')];
    stuck.send(`/subscribe t ${sub}`);
    readers[0].send(`/subscribe t ${sub}`);
    readers[1].send(JSON.stringify({ type: 'subscribe', topic: 't', token: sub }));
    await waitUntil(async () => (await presence(url, 't', sub)).connections === 3);
    // The client stops reading its socket: the server's writes pile up once the kernel buffers are full.
    (stuck.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const message = 'x'.repeat(60_000);
    const n = 400;
    for (let i = 0; i < n; i++) {
      expect((await post(url, '/broadcast', { topic: 't', message: `${i}${message}`, token: pub })).status).toBe(200);
    }
    await waitUntil(() => readers[0].frames.length >= n && readers[1].frames.length >= n + 1, 20_000, 'everything');
    expect(readers[0].frames.map((f) => Number.parseInt(f, 10))).toEqual(Array.from({ length: n }, (_, i) => i));
    await waitUntil(async () => (await presence(url, 't', sub)).connections === 2, 5000, 'the stuck reader cut');
    // Its connection is gone, not just its subscription: reading again, it finds the end.
    (stuck.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    await waitUntil(() => stuck.closed, 10_000, 'the stuck connection closed');
    expect(stuck.frames.length).toBeLessThan(n);
  }, 60_000);
});
