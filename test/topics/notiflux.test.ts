// notiflux parity against the real server with real `ws` clients: the text commands and their exact
// replies, one text frame per message holding exactly it, and every refusal of /broadcast.
import { afterEach, describe, expect, it } from 'vitest';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { get, post } from '../helpers/http.js';
import { waitUntil } from '../helpers/wait.js';
import { type BackendKey, WsClient, backendKey, sign } from './support.js';

let broker: TestBroker | undefined;
const clients: WsClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await broker?.stop();
  broker = undefined;
});

async function setup(): Promise<{ url: string; key: BackendKey }> {
  const key = await backendKey();
  broker = await startBroker({ topic_public_key: key.pem });
  return { url: broker.url, key };
}

async function client(url: string, protocol?: string): Promise<WsClient> {
  const c = new WsClient(url, protocol);
  clients.push(c);
  await c.open();
  return c;
}

/** Subscribed once the server has registered it: presence counts it. */
async function subscribed(url: string, topic: string, token: string, n = 1): Promise<void> {
  await waitUntil(
    async () => (await get(url, `/presence?topic=${encodeURIComponent(topic)}&token=${token}`)).body?.connections >= n,
    5000,
    'subscription registered',
  );
}

describe('the notiflux protocol', () => {
  it('/subscribe, broadcast as exact text frames, /unsubscribe and /unsubscribe-all', async () => {
    const { url, key } = await setup();
    const sub = await sign(key, { topics: ['campaign:42', 'campaigns'], scope: 'subscribe' });
    const pub = await sign(key, { topics: ['campaign:42', 'campaigns'], scope: 'broadcast' });
    const c = await client(url);
    c.send(`/subscribe campaign:42 ${sub}`);
    c.send(`/subscribe campaigns ${sub}`);
    await subscribed(url, 'campaigns', sub);
    await subscribed(url, 'campaign:42', sub);
    const message = 'héllo "world"\n{not json}';
    const a = await post(url, '/broadcast', { topic: 'campaign:42', message, token: pub });
    expect(a.status).toBe(200);
    expect(typeof a.body.id).toBe('number');
    await c.waitFor(1);
    expect(c.frames).toEqual([message]);
    c.send('/unsubscribe campaign:42');
    await waitUntil(async () => (await get(url, `/presence?topic=campaign:42&token=${sub}`)).body.connections === 0);
    await post(url, '/broadcast', { topic: 'campaign:42', message: 'gone', token: pub });
    await post(url, '/broadcast', { topic: 'campaigns', message: 'still', token: pub });
    await c.waitFor(2);
    expect(c.frames).toEqual([message, 'still']);
    c.send('/unsubscribe-all');
    await waitUntil(async () => (await get(url, `/presence?topic=campaigns&token=${sub}`)).body.connections === 0);
  });

  it("answers malformed commands with notiflux's exact replies and ignores plain text", async () => {
    const { url, key } = await setup();
    const sub = await sign(key, { topics: ['t'], scope: 'subscribe' });
    const c = await client(url);
    c.send('hello there');
    c.send('/subscribe');
    c.send('/subscribe t');
    c.send(`/subscribe t ${sub} extra`);
    c.send('/frobnicate');
    await c.waitFor(4);
    expect(c.frames).toEqual([
      'Unknown command',
      'Invalid subscribe command, it should be: /subscribe <topic> <token>',
      'Invalid subscribe command, it should be: /subscribe <topic> <token>',
      'Unknown command',
    ]);
  });

  it('/health answers 200', async () => {
    const { url } = await setup();
    expect((await get(url, '/health')).status).toBe(200);
  });
});

describe('/broadcast refusals deliver nothing', () => {
  it('bad signature, HS256, alg none, expired, no exp, wrong scope, unlisted topic, malformed body', async () => {
    const { url, key } = await setup();
    const other = await backendKey();
    const sub = await sign(key, { topics: ['t'], scope: 'subscribe' });
    const c = await client(url);
    c.send(`/subscribe t ${sub}`);
    await subscribed(url, 't', sub);
    const now = Math.floor(Date.now() / 1000);
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const claims = { topics: ['t'], scope: 'broadcast', sub: 'x', exp: now + 600 };
    const { createHmac } = await import('node:crypto');
    const hsInput = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
    const hs256 = `${hsInput}.${createHmac('sha256', key.pem).update(hsInput).digest('base64url')}`;
    const none = `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`;
    const cases: [string, string, number][] = [
      ['bad signature', await sign(other, { topics: ['t'], scope: 'broadcast' }), 401],
      ['HS256 with the public key', hs256, 401],
      ['alg none', none, 401],
      ['expired', await sign(key, { topics: ['t'], scope: 'broadcast' }, { exp: now - 10 }), 401],
      ['no exp', await sign(key, { topics: ['t'], scope: 'broadcast' }, { exp: null }), 401],
      ['garbage', 'not.a.jwt', 401],
      ['subscribe scope', sub, 403],
      ['unlisted topic', await sign(key, { topics: ['u'], scope: 'broadcast' }), 403],
    ];
    for (const [what, token, status] of cases) {
      const answer = await post(url, '/broadcast', { topic: 't', message: what, token });
      expect(answer.status, what).toBe(status);
    }
    for (const body of ['{', '{"topic":"t"}', JSON.stringify({ topic: 't', message: 5, token: sub })]) {
      expect((await post(url, '/broadcast', body, { 'content-type': 'application/json' })).status).toBe(400);
    }
    // Within 2 s of skew an expired token still passes; this one proves the subscription works.
    const pub = await sign(key, { topics: ['t'], scope: 'broadcast' }, { exp: Math.floor(Date.now() / 1000) - 1 });
    expect((await post(url, '/broadcast', { topic: 't', message: 'ok', token: pub })).status).toBe(200);
    await c.waitFor(1);
    expect(c.frames).toEqual(['ok']);
  });

  it('a subscription with a bad token gets nothing', async () => {
    const { url, key } = await setup();
    const other = await backendKey();
    const c = await client(url);
    c.send(`/subscribe t ${await sign(other, { topics: ['t'], scope: 'subscribe' })}`);
    c.send(`/subscribe t ${await sign(key, { topics: ['t'], scope: 'broadcast' })}`);
    c.send(`/subscribe t ${await sign(key, { topics: ['u'], scope: 'subscribe' })}`);
    const good = await client(url);
    const sub = await sign(key, { topics: ['t'], scope: 'subscribe' });
    good.send(`/subscribe t ${sub}`);
    await subscribed(url, 't', sub);
    const pub = await sign(key, { topics: ['t'], scope: 'broadcast' });
    await post(url, '/broadcast', { topic: 't', message: 'm', token: pub });
    await good.waitFor(1);
    expect((await get(url, `/presence?topic=t&token=${sub}`)).body.connections).toBe(1);
    expect(c.frames).toEqual([]);
  });
});

describe('keep-alive', () => {
  it('pings; a client that answers stays, one that does not is closed after the timeout', async () => {
    const { KEEPALIVE } = await import('../../src/realtime/topics/ws.js');
    const saved = { ...KEEPALIVE };
    // Short, so that the test is quick, but a timeout long enough that a loaded machine's late pong of the
    // client that answers does not count as silence.
    Object.assign(KEEPALIVE, { pingMs: 100, pongTimeoutMs: 1000 });
    try {
      const { url } = await setup();
      const alive = await client(url);
      let pings = 0;
      alive.ws.on('ping', () => pings++);
      const WebSocket = (await import('ws')).default;
      const silent = new WebSocket(`${url.replace(/^http/, 'ws')}/ws`, { autoPong: false });
      let silentClosed = false;
      silent.on('close', () => {
        silentClosed = true;
      });
      await new Promise((r) => silent.once('open', r));
      await waitUntil(() => silentClosed, 8000, 'the silent client closed');
      // Past several timeouts, the client that answers is still connected.
      await waitUntil(() => pings >= 30, 15_000, 'pings');
      expect(alive.closed).toBe(false);
    } finally {
      Object.assign(KEEPALIVE, saved);
    }
  });
});
