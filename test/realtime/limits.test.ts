// One user must not be able to exhaust the server for everyone: /events answers and stream replays
// are bounded by bytes, a replay to a socket that never reads queues about one page (--max_buffer is
// respected while replaying), and a filter that matches nothing does not hold the event loop.
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { singleNodeOnly } from '../helpers/nats-mode.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { bearer, get, makeUser, post } from '../helpers/http.js';
import { waitUntil } from '../helpers/wait.js';

let broker: TestBroker | undefined;
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await broker?.stop();
  broker = undefined;
});

/** A subscriber that sends its request and never reads a byte. */
function stalledStream(url: string, jwt: string, extra = ''): Socket {
  const u = new URL(url);
  const socket = connect(Number(u.port), u.hostname);
  socket.write(`GET /sse HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${jwt}\r\n${extra}\r\n`);
  socket.pause();
  sockets.push(socket);
  return socket;
}

describe('GET /events', () => {
  it('bounds an answer by bytes, and says where to continue (next) until the history is read', async () => {
    broker = await startBroker({ tenant_insert_rate: 0 });
    const { jwt } = await makeUser(broker.url, { tenant_name: 'big-events' });
    const blob = 'x'.repeat(600_000);
    for (let i = 1; i <= 16; i++)
      expect((await post(broker.url, '/insert', { event: 'big', data: { i, blob } }, bearer(jwt))).status).toBe(200);
    const seen: number[] = [];
    let after = 0;
    for (let round = 0; round < 20; round++) {
      const page = await get(broker.url, `/events?after=${after}&limit=1000`, bearer(jwt));
      expect(page.status).toBe(200);
      // About 4 MiB of data at most (one event may overshoot it), never the whole 9.6 MB history.
      expect(page.text.length).toBeLessThan(5 * 1024 * 1024);
      for (const e of page.body.events) {
        expect(e.data).toEqual({ i: e.id, blob });
        seen.push(e.id);
      }
      if (page.body.next === undefined) break;
      after = page.body.next;
    }
    expect(seen).toEqual(Array.from({ length: 16 }, (_, i) => i + 1));
  });

  it('accepts event= and events=, before= and order=desc ("the last N" in one request)', async () => {
    broker = await startBroker();
    const { jwt } = await makeUser(broker.url, { tenant_name: 'history-q' });
    for (let i = 1; i <= 10; i++)
      await post(broker.url, '/insert', { event: ['a', 'b', 'c'][i % 3], data: i }, bearer(jwt));
    const ids = async (q: string) => {
      const res = await get(broker!.url, `/events?${q}`, bearer(jwt));
      expect(res.status, res.text).toBe(200);
      return res.body.events.map((e: { id: number }) => e.id);
    };
    expect(await ids('event=a')).toEqual([3, 6, 9]);
    expect(await ids('events=a,b')).toEqual([1, 3, 4, 6, 7, 9, 10]);
    expect(await ids('order=desc&limit=3')).toEqual([10, 9, 8]);
    expect(await ids('before=8&limit=3')).toEqual([7, 6, 5]);
    expect(await ids('after=2&before=6')).toEqual([3, 4, 5]);
    expect(await ids('order=desc&events=b&limit=2')).toEqual([10, 7]);
    const limited = await get(broker.url, '/events?order=desc&limit=3', bearer(jwt));
    expect(limited.body.next).toBe(8);
    expect((await get(broker.url, '/events?order=sideways', bearer(jwt))).status).toBe(400);
    expect((await get(broker.url, '/events?before=x', bearer(jwt))).status).toBe(400);
  });
});

describe('/sse accepts event= too', () => {
  it('event=<name> filters a stream like events=<name>', async () => {
    broker = await startBroker();
    const { jwt } = await makeUser(broker.url, { tenant_name: 'sse-event-q' });
    await post(broker.url, '/insert', { event: 'a', data: 1 }, bearer(jwt));
    await post(broker.url, '/insert', { event: 'b', data: 2 }, bearer(jwt));
    const res = await fetch(`${broker.url}/sse?event=b`, { headers: { ...bearer(jwt), 'last-event-id': '0' } });
    const reader = res.body!.getReader();
    let text = '';
    while (!text.includes('id:2')) text += new TextDecoder().decode((await reader.read()).value);
    await reader.cancel();
    expect(text).not.toContain('event:a');
  });
});

describe('replay to a subscriber that never reads', () => {
  for (const [what, header] of [
    ['a full replay (Last-Event-ID: 0)', 'Last-Event-ID: 0\r\n'],
    ['the latest-per-name snapshot', ''],
  ] as const) {
    it(`${what} queues about one page, not the history`, async () => {
      const maxBuffer = 64 * 1024;
      broker = await startBroker({ max_buffer: maxBuffer, tenant_insert_rate: 0 });
      const user = await makeUser(broker.url, { tenant_name: 'stalled' });
      const blob = 'y'.repeat(100_000);
      // Distinct names, so that the snapshot holds all of them too: 6 MB of history.
      for (let i = 0; i < 60; i++)
        expect((await post(broker.url, '/insert', { event: `e${i}`, data: blob }, bearer(user.jwt))).status).toBe(200);
      stalledStream(broker.url, user.jwt, header);
      await waitUntil(() => broker!.services.hub.streamsOf(user.username) === 1, 5000, 'the stalled stream subscribed');
      // Let the replay run as far as it can: it must stop at about one page plus one event.
      await new Promise((r) => setTimeout(r, 1000));
      expect(broker.services.hub.queuedBytes(user.username)).toBeLessThan(maxBuffer + 2 * blob.length);
      // The server answers others meanwhile.
      expect((await get(broker.url, '/')).status).toBe(200);
    });
  }
});

describe('a filter that matches nothing', () => {
  // 100k events: minutes to publish through a cluster; the scan it measures is the local read in both modes.
  it.skipIf(singleNodeOnly)(
    'does not hold the event loop while it scans a long history (/events and /sse)',
    { timeout: 60_000 },
    async () => {
      broker = await startBroker({ tenant_insert_rate: 0 });
      const { jwt } = await makeUser(broker.url, { tenant_name: 'long-history' });
      const { log } = broker.services;
      // 100k events through the log itself: concurrent appends share commits, so this takes a few seconds.
      for (let batch = 0; batch < 20; batch++)
        await Promise.all(Array.from({ length: 5000 }, (_, i) => log.append('long-history', `n${i % 10}`, String(i))));
      const scan = async (start: () => Promise<unknown>) => {
        let worst = 0;
        let done = false;
        const pinger = (async () => {
          while (!done) {
            const t0 = performance.now();
            await get(broker!.url, '/');
            worst = Math.max(worst, performance.now() - t0);
          }
        })();
        const t0 = performance.now();
        await start();
        const took = performance.now() - t0;
        done = true;
        await pinger;
        return { took, worst };
      };
      const events = await scan(async () => {
        const res = await get(broker!.url, '/events?event=nope&limit=10', bearer(jwt));
        expect(res.status).toBe(200);
        expect(res.body.events).toEqual([]);
      });
      // The scan took its time, but a bystander's request was answered between chunks of it.
      expect(events.worst).toBeLessThan(events.took / 3);

      const stream = await scan(async () => {
        const res = await fetch(`${broker!.url}/sse?events=nope`, {
          headers: { ...bearer(jwt), 'last-event-id': '0' },
        });
        const reader = res.body!.getReader();
        let text = '';
        while (!text.includes('retry:')) text += new TextDecoder().decode((await reader.read()).value);
        // Live once the scan is done: a new matching event arrives after the whole history was looked at.
        await post(broker!.url, '/insert', { event: 'nope', data: 'found' }, bearer(jwt));
        while (!text.includes('"found"')) text += new TextDecoder().decode((await reader.read()).value);
        await reader.cancel();
      });
      expect(stream.worst).toBeLessThan(stream.took / 3);
    },
  );
});
