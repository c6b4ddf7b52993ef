// The subscription's reconnect logic against a real HTTP server that injects faults on cue.
import { afterEach, describe, expect, it } from 'vitest';
import { BrokerClient, EPOCH_HEADER, backoffDelay, type BrokerEvent, type ErrorInfo } from '../../client/index.js';
import { FaultServer, fakeJwt, frame, lastEventId, queryParam, startSse, until, type Ev } from './fault-server.js';

const servers: FaultServer[] = [];
const closers: Array<() => void> = [];
afterEach(async () => {
  for (const close of closers.splice(0)) close();
  for (const s of servers.splice(0)) await s.stop();
});

async function serve(handler: ConstructorParameters<typeof FaultServer>[0]): Promise<FaultServer> {
  const server = await new FaultServer(handler).start();
  servers.push(server);
  return server;
}

const fast = { initialDelayMs: 20, maxDelayMs: 200 };

function collect(client: BrokerClient, options: Parameters<BrokerClient['subscribe']>[0] = {}) {
  const events: BrokerEvent[] = [];
  const errors: Array<{ error: Error; info: ErrorInfo }> = [];
  const sub = client.subscribe({
    onEvent: (e) => events.push(e),
    onError: (error, info) => errors.push({ error, info }),
    ...options,
  });
  closers.push(() => sub.close());
  return { sub, events, errors };
}

const log = (n: number, from = 1): Ev[] =>
  Array.from({ length: n }, (_, i) => ({ id: from + i, event: `e${(from + i) % 3}`, data: { n: from + i } }));

describe('backoffDelay', () => {
  it('grows exponentially from the initial delay, capped, with jitter in [cap/2, cap]', () => {
    const low = () => 0;
    const high = () => 0.999999;
    expect([0, 1, 2, 3].map((a) => backoffDelay(a, 100, {}, high))).toEqual([100, 200, 400, 800]);
    expect([0, 1, 2, 3].map((a) => backoffDelay(a, 100, {}, low))).toEqual([50, 100, 200, 400]);
    expect(backoffDelay(20, 100, { maxDelayMs: 5000 }, high)).toBe(5000);
    expect(backoffDelay(1000, 100, {}, high)).toBe(30_000);
    expect(backoffDelay(2, 100, { factor: 3 }, high)).toBe(900);
    const spread = new Set(Array.from({ length: 50 }, () => backoffDelay(3, 100)));
    expect(spread.size).toBeGreaterThan(10);
    for (const d of spread) {
      expect(d).toBeGreaterThanOrEqual(400);
      expect(d).toBeLessThanOrEqual(800);
    }
  });
});

describe('subscription reconnects', () => {
  it('resumes after a frame cut in half: the half frame is not delivered, then replayed once', async () => {
    const all = log(6);
    const server = await serve((req, res, n) => {
      startSse(res, 2000);
      const after = lastEventId(req) ?? 0;
      const rest = all.filter((e) => e.id > after);
      if (n === 1) {
        // Three whole frames, then half of the fourth, then the connection dies.
        res.write(rest.slice(0, 3).map(frame).join('') + frame(rest[3]).slice(0, 14));
        setTimeout(() => res.destroy(), 30);
      } else res.write(rest.map(frame).join(''));
    });
    const client = new BrokerClient({ url: server.url, token: 't', reconnect: fast });
    const { events, errors } = collect(client);
    await until(() => events.length >= 6, 'all six events');
    expect(events.map((e) => e.id)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(events[3]).toEqual({ id: 4, event: 'e1', data: { n: 4 } });
    expect(server.streams.map((s) => s.headers['last-event-id'])).toEqual([undefined, '3']);
    expect(errors).toHaveLength(1);
    expect(errors[0].info.retrying).toBe(true);
  });

  it('drops frames it already delivered when a replay overlaps', async () => {
    const all = log(5);
    const server = await serve((_req, res, n) => {
      startSse(res);
      // The second stream (wrongly) replays from the start: ids 1-3 must not be delivered twice.
      if (n === 1) {
        res.end(all.slice(0, 3).map(frame).join(''));
      } else res.write(all.map(frame).join(''));
    });
    const client = new BrokerClient({ url: server.url, token: 't', reconnect: fast });
    const { events } = collect(client);
    await until(() => events.length >= 5, 'five events');
    await new Promise((r) => setTimeout(r, 50));
    expect(events.map((e) => e.id)).toEqual([1, 2, 3, 4, 5]);
  });

  it('backs off exponentially with jitter while the server fails, and reports each failure', async () => {
    const server = await serve((_req, res, n) => {
      if (n <= 5) {
        res.writeHead(503, { 'content-type': 'application/json' });
        res.end('{"error":"busy"}');
        return;
      }
      startSse(res);
      res.write(frame({ id: 1, event: 'ok', data: true }));
    });
    const client = new BrokerClient({
      url: server.url,
      token: 't',
      reconnect: { initialDelayMs: 40, maxDelayMs: 10_000 },
    });
    const { events, errors } = collect(client);
    await until(() => events.length === 1, 'the event after five failures');
    expect(errors.map((e) => e.info.retrying)).toEqual([true, true, true, true, true]);
    expect(errors[0].error.message).toMatch(/busy.*503/);
    const delays = errors.map((e) => e.info.delayMs!);
    delays.forEach((d, i) => {
      expect(d).toBeGreaterThanOrEqual((40 * 2 ** i) / 2);
      expect(d).toBeLessThanOrEqual(40 * 2 ** i);
    });
    // The attempts really waited that long (timers never fire early).
    const at = server.seen.map((s) => s.at);
    for (let i = 1; i < at.length; i++) expect(at[i] - at[i - 1]).toBeGreaterThanOrEqual(delays[i - 1] - 2);
  });

  it('uses the server retry: value as the base delay after a clean end', async () => {
    const server = await serve((_req, res, n) => {
      startSse(res, 2000);
      if (n === 1) res.end(frame({ id: 1, event: 'a', data: 1 }));
    });
    // No initialDelayMs: the server's retry:2000 applies (in [1000, 2000] with jitter), where the
    // default would be 1000 (in [500, 1000]).
    const client = new BrokerClient({ url: server.url, token: 't' });
    const { events } = collect(client);
    await until(() => events.length === 1, 'the first event');
    await until(() => server.streams.length === 2, 'the reconnection after retry', 5000);
    const gap = server.seen[1].at - server.seen[0].at;
    expect(gap).toBeGreaterThanOrEqual(1000);
  });

  it('comes back when the server restarts on the same port, resuming after the last id', async () => {
    const all: Ev[] = log(3);
    const handler = (
      req: Parameters<ConstructorParameters<typeof FaultServer>[0]>[0],
      res: Parameters<ConstructorParameters<typeof FaultServer>[0]>[1],
    ) => {
      startSse(res);
      res.write(
        all
          .filter((e) => e.id > (lastEventId(req) ?? 0))
          .map(frame)
          .join(''),
      );
    };
    const server = await serve(handler);
    const client = new BrokerClient({ url: server.url, token: 't', reconnect: fast });
    const { events, errors, sub } = collect(client);
    await until(() => events.length === 3, 'three events');
    await server.stop();
    all.push(...log(2, 4));
    await until(() => errors.length >= 2, 'failed attempts while down');
    expect(sub.connected).toBe(false);
    await server.start();
    await until(() => events.length === 5, 'the two events inserted while down');
    expect(events.map((e) => e.id)).toEqual([1, 2, 3, 4, 5]);
    expect(server.streams.at(-1)!.headers['last-event-id']).toBe('3');
    expect(sub.connected).toBe(true);
  });

  it('reconnects a stream that goes silent (half-open connection) after idleTimeoutMs', async () => {
    const server = await serve((_req, res, n) => {
      startSse(res);
      if (n === 1)
        res.write(frame({ id: 1, event: 'a', data: 1 })); // then silence, connection kept open
      else res.write(frame({ id: 2, event: 'a', data: 2 }));
    });
    const client = new BrokerClient({ url: server.url, token: 't', reconnect: fast, idleTimeoutMs: 300 });
    const { events, errors } = collect(client);
    await until(() => events.length === 2, 'the event on the second stream');
    expect(errors[0].error.message).toMatch(/no data for 300 ms/);
    expect(server.streams[1].headers['last-event-id']).toBe('1');
  });

  it('gives up on a server that accepts the connection but never answers, and tries again', async () => {
    const server = await serve((_req, res, n) => {
      if (n === 1) return; // headers never come
      startSse(res);
      res.write(frame({ id: 1, event: 'a', data: 1 }));
    });
    const client = new BrokerClient({ url: server.url, token: 't', reconnect: fast, idleTimeoutMs: 300 });
    const { events, errors } = collect(client);
    await until(() => events.length === 1, 'the event from the second attempt');
    expect(errors.map((e) => e.error.name)).toEqual(['IdleTimeout']);
  });

  it('heartbeat comments keep a quiet stream alive', async () => {
    let beats = 0;
    const server = await serve((_req, res) => {
      startSse(res);
      const t = setInterval(() => {
        res.write(':\n\n');
        beats++;
      }, 200);
      res.once('close', () => clearInterval(t));
    });
    // Idle timeout 3 heartbeats long, so one late timer on a loaded machine does not decide the result.
    const client = new BrokerClient({ url: server.url, token: 't', reconnect: fast, idleTimeoutMs: 600 });
    const { errors } = collect(client);
    // 12 heartbeats: 2.4 s, four idle timeouts. Without heartbeats counting, the client would have
    // given up (an error, a second stream) long before; stop early if it does.
    await until(() => beats >= 12 || errors.length > 0 || server.streams.length > 1, '12 heartbeats');
    expect(errors).toEqual([]);
    expect(server.streams).toHaveLength(1);
  });

  it('renews the token through the hook after a 401 and misses nothing', async () => {
    const all = log(4);
    let reloginCalls = 0;
    const server = await serve((req, res) => {
      if (req.headers.authorization !== 'Bearer fresh') {
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end('{"error":"invalid or expired token"}');
        return;
      }
      startSse(res);
      res.write(
        all
          .filter((e) => e.id > (lastEventId(req) ?? 0))
          .map(frame)
          .join(''),
      );
    });
    const client = new BrokerClient({
      url: server.url,
      token: 'stale',
      reconnect: { initialDelayMs: 5000 },
      relogin: async () => {
        reloginCalls++;
        return 'fresh';
      },
    });
    const { events, errors } = collect(client, { lastEventId: 1 });
    await until(() => events.length === 3, 'events after id 1');
    expect(events.map((e) => e.id)).toEqual([2, 3, 4]);
    expect(reloginCalls).toBe(1);
    expect(client.token).toBe('fresh');
    // Renewed and reconnected at once (the 5 s backoff did not apply), with the same position.
    expect(errors).toEqual([]);
    expect(server.streams.map((s) => [s.headers.authorization, s.headers['last-event-id']])).toEqual([
      ['Bearer stale', '1'],
      ['Bearer fresh', '1'],
    ]);
  });

  it('renews a JWT before it expires, so the reconnection at expiry carries a valid token', async () => {
    // Whole seconds (JWT times are), with room on a loaded machine: `now` may be up to 1 s in the past, and
    // the renewal (exp - 1.5 s) must still come after the first connection, well before the end at exp.
    const now = Math.floor(Date.now() / 1000);
    const expMs = (now + 4) * 1000;
    const first = fakeJwt({ iat: now, exp: now + 4 });
    const second = fakeJwt({ iat: now + 1, exp: now + 3600 });
    const reloginAt: number[] = [];
    const server = await serve((req, res, n) => {
      startSse(res);
      res.write(frame({ id: n, event: 'a', data: n }));
      // Like the broker: a stream ends when its token expires.
      if (req.headers.authorization === `Bearer ${first}`) setTimeout(() => res.end(), expMs - Date.now());
    });
    const client = new BrokerClient({
      url: server.url,
      token: first,
      refreshMarginMs: 1500,
      reconnect: { initialDelayMs: 5000 },
      relogin: async () => {
        reloginAt.push(Date.now());
        return second;
      },
    });
    const { events, errors } = collect(client);
    await until(() => events.length === 2, 'the event of the second stream', 12_000);
    // The first stream carried the first token; it was renewed ahead of exp, and the reconnection after the
    // end at exp came at once (not after the 5 s backoff) with the new token.
    expect(server.streams[0].headers.authorization).toBe(`Bearer ${first}`);
    expect(reloginAt).toHaveLength(1);
    expect(reloginAt[0]).toBeLessThan(expMs);
    expect(server.streams[1].headers.authorization).toBe(`Bearer ${second}`);
    expect(server.streams[1].at - expMs).toBeLessThan(1000);
    expect(errors).toEqual([]);
  });

  it('stops with a final error on a 401 when there is no relogin hook', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end('{"error":"invalid or expired token"}');
    });
    const client = new BrokerClient({ url: server.url, token: 'bad', reconnect: fast });
    const { sub, errors } = collect(client);
    await sub.done;
    expect(errors).toHaveLength(1);
    expect(errors[0].info).toEqual({ retrying: false });
    expect(errors[0].error).toMatchObject({ name: 'BrokerError', status: 401 });
    await new Promise((r) => setTimeout(r, 100));
    expect(server.seen).toHaveLength(1);
    expect(sub.closed).toBe(true);
  });

  it('stops when the relogin hook is refused (wrong password, revoked user)', async () => {
    const server = await serve((req, res) => {
      if (req.url === '/login') {
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end('{"error":"invalid credentials"}');
        return;
      }
      res.writeHead(401);
      res.end();
    });
    const client = new BrokerClient({
      url: server.url,
      token: 'stale',
      reconnect: fast,
      relogin: (c) => c.login('u', 'p'),
    });
    const { sub, errors } = collect(client);
    await sub.done;
    expect(errors).toHaveLength(1);
    expect(errors[0].info.retrying).toBe(false);
    expect(errors[0].error.message).toMatch(/login: invalid credentials/);
  });

  it('stops on a 400 (a request that will never succeed) but retries a 429', async () => {
    const bad = await serve((_req, res) => {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end('{"error":"Last-Event-ID must be a non-negative integer"}');
    });
    const a = collect(new BrokerClient({ url: bad.url, token: 't', reconnect: fast }));
    await a.sub.done;
    expect(a.errors.map((e) => e.info.retrying)).toEqual([false]);

    const busy = await serve((_req, res, n) => {
      if (n === 1) {
        res.writeHead(429, { 'retry-after': '1' });
        res.end('{"error":"too many"}');
      } else {
        startSse(res);
        res.write(frame({ id: 9, event: 'x', data: null }));
      }
    });
    const b = collect(new BrokerClient({ url: busy.url, token: 't', reconnect: fast }));
    await until(() => b.events.length === 1, 'the event after a 429');
    expect(b.errors.map((e) => e.info.retrying)).toEqual([true]);
  });

  it('handles event:reset: drops local state and accepts the snapshot with lower ids', async () => {
    const server = await serve((_req, res, n) => {
      startSse(res);
      if (n === 1)
        res.end(
          [
            { id: 10, event: 'title', data: 'old' },
            { id: 11, event: 'gone', data: 1 },
          ]
            .map(frame)
            .join(''),
        );
      else
        res.write(
          'event:reset\ndata:{}\n\n' +
            [
              { id: 8, event: 'keep', data: 'k' },
              { id: 20, event: 'title', data: 'new' },
            ]
              .map(frame)
              .join(''),
        );
    });
    let resets = 0;
    const client = new BrokerClient({ url: server.url, token: 't', reconnect: fast });
    const { events, sub } = collect(client, { onReset: () => resets++ });
    const changes: string[] = [];
    sub.latest.subscribe((c) => changes.push(c.type === 'set' ? `${c.name}=${JSON.stringify(c.data)}` : 'reset'));
    await until(() => events.length === 4, 'the snapshot after the reset');
    expect(resets).toBe(1);
    expect(events.map((e) => e.id)).toEqual([10, 11, 8, 20]);
    expect(sub.latest.toObject()).toEqual({ keep: 'k', title: 'new' });
    expect(changes).toEqual(['title="old"', 'gone=1', 'reset', 'keep="k"', 'title="new"']);
    expect(sub.lastEventId).toBe(20);
    expect(server.streams[1].headers['last-event-id']).toBe('11');
  });

  it('stops on AbortSignal: the stream is closed and no reconnection follows', async () => {
    const server = await serve((_req, res) => {
      startSse(res);
      res.write(frame({ id: 1, event: 'a', data: 1 }));
    });
    const controller = new AbortController();
    const client = new BrokerClient({ url: server.url, token: 't', reconnect: fast });
    const { events, errors, sub } = collect(client, { signal: controller.signal });
    await until(() => events.length === 1 && server.openStreams === 1, 'the open stream');
    controller.abort();
    await sub.done;
    await until(() => server.openStreams === 0, 'the server to see the stream closed');
    await new Promise((r) => setTimeout(r, 150));
    expect(server.streams).toHaveLength(1);
    expect(errors).toEqual([]);
    expect(sub.closed).toBe(true);
  });

  it('stops on close() while waiting to reconnect', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(503);
      res.end();
    });
    const client = new BrokerClient({ url: server.url, token: 't', reconnect: { initialDelayMs: 60_000 } });
    const { sub, errors } = collect(client);
    await until(() => errors.length === 1, 'the first failure');
    const started = Date.now();
    sub.close();
    await sub.done;
    // At once, not after the 60 s backoff (the margin is for a loaded machine).
    expect(Date.now() - started).toBeLessThan(5000);
    expect(server.seen).toHaveLength(1);
  });

  it('fails a request that gets no answer after timeoutMs, as a transient error', async () => {
    const server = await serve(() => {
      /* never answers */
    });
    const client = new BrokerClient({ url: server.url, token: 't', timeoutMs: 200 });
    const started = Date.now();
    await expect(client.insert('x', 1)).rejects.toMatchObject({ name: 'BrokerError', status: 0, transient: true });
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('sends the filter, the Authorization header and Accept on the stream request', async () => {
    const server = await serve((_req, res) => {
      startSse(res);
    });
    const client = new BrokerClient({ url: `${server.url}/`, token: 'abc', reconnect: fast });
    collect(client, { events: ['a b', 'c'] });
    await until(() => server.streams.length === 1, 'the request');
    expect(server.streams[0].url).toBe('/sse?events=a%20b,c');
    expect(server.streams[0].headers.authorization).toBe('Bearer abc');
    expect(server.streams[0].headers.accept).toBe('text/event-stream');
    expect(server.streams[0].headers['last-event-id']).toBeUndefined();
  });
});

describe('subscription epochs', () => {
  it('keeps the epoch each stream names beside its last id, and sends it with every resume', async () => {
    const server = await serve((_req, res, n) => {
      if (n === 1) {
        startSse(res, undefined, { [EPOCH_HEADER]: 'E1' });
        res.end(log(2).map(frame).join(''));
      } else if (n === 2) {
        // The broker's log was restored meanwhile: a new epoch, a reset and the snapshot.
        startSse(res, undefined, { [EPOCH_HEADER]: 'E2' });
        res.end(`event:reset\ndata:{}\n\n${frame({ id: 1, event: 'e1', data: 'restored' })}`);
      } else startSse(res, undefined, { [EPOCH_HEADER]: 'E2' });
    });
    const client = new BrokerClient({ url: server.url, token: 't', reconnect: fast });
    const { events, sub } = collect(client, { events: ['e1', 'e2'] });
    await until(() => server.streams.length === 3, 'two resumes');
    // The first request has no position, so no epoch either.
    expect(server.streams[0].url).toBe('/sse?events=e1,e2');
    expect(server.streams[0].headers['last-event-id']).toBeUndefined();
    expect(server.streams[1].url).toBe('/sse?events=e1,e2&epoch=E1');
    expect(server.streams[1].headers['last-event-id']).toBe('2');
    expect(queryParam(server.streams[2], 'epoch')).toBe('E2');
    expect(server.streams[2].headers['last-event-id']).toBe('1');
    expect(events.map((e) => e.id)).toEqual([1, 2, 1]);
    expect(sub.lastEventId).toBe(1);
    expect(sub.epoch).toBe('E2');
  });

  it('an empty snapshot still takes the epoch of its stream (resuming from 0)', async () => {
    const server = await serve((_req, res, n) => {
      startSse(res, undefined, { [EPOCH_HEADER]: 'E1' });
      if (n === 1) res.end();
    });
    const client = new BrokerClient({ url: server.url, token: 't', reconnect: fast });
    collect(client);
    await until(() => server.streams.length === 2, 'the resume');
    expect(server.streams[1].url).toBe('/sse?epoch=E1');
    expect(server.streams[1].headers['last-event-id']).toBe('0');
  });

  it('a saved lastEventId goes out with its saved epoch on the first request', async () => {
    const server = await serve((_req, res) => {
      startSse(res, undefined, { [EPOCH_HEADER]: 'E7' });
    });
    const client = new BrokerClient({ url: server.url, token: 't', reconnect: fast });
    const { sub } = collect(client, { lastEventId: 41, epoch: 'E7' });
    await until(() => server.streams.length === 1, 'the request');
    expect(server.streams[0].url).toBe('/sse?epoch=E7');
    expect(server.streams[0].headers['last-event-id']).toBe('41');
    expect(sub.epoch).toBe('E7');
  });

  it('a broker that names no epoch gets none back', async () => {
    const server = await serve((_req, res, n) => {
      startSse(res);
      if (n === 1) res.end(frame({ id: 3, event: 'a', data: 1 }));
    });
    const client = new BrokerClient({ url: server.url, token: 't', reconnect: fast });
    const { sub } = collect(client);
    await until(() => server.streams.length === 2, 'the resume');
    expect(server.streams[1].url).toBe('/sse');
    expect(server.streams[1].headers['last-event-id']).toBe('3');
    expect(sub.epoch).toBeUndefined();
  });
});
