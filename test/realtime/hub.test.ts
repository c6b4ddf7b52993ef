// hub.attach's handoff with a log whose reads answer later (as an async engine's would): the real log
// of a real broker, behind a wrapper that awaits a macrotask before each read, a real Hub on it, and a
// slow Node stream as the sink. Live appends land throughout a multi-page replay; the sink must get
// every event exactly once, in id order, with no gap.
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { SseParser } from '../../client/sse-parser.js';
import { Hub } from '../../src/realtime/hub.js';
import type { ReplayReads } from '../../src/realtime/replay.js';
import { Subscriber } from '../../src/realtime/subscriber.js';
import type { EventLog } from '../../src/storage/event-log.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { waitUntil } from '../helpers/wait.js';

let broker: TestBroker | undefined;
let hub: Hub | undefined;
afterEach(async () => {
  hub?.closeAll();
  hub = undefined;
  await broker?.stop();
  broker = undefined;
});

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * The real log's reads, each made a macrotask after it is asked and answered a few ms after it is made
 * (a remote engine's answer reflects the state when it was read, and travels): commits and their fan-out
 * slip in between the read and the use of its answer.
 */
function asyncReads(log: EventLog): ReplayReads & Pick<EventLog, 'committed'> {
  const later =
    <A extends unknown[], R>(read: (...args: A) => R) =>
    async (...args: A): Promise<R> => {
      await turn();
      const answer = read(...args);
      await new Promise((resolve) => setTimeout(resolve, 3));
      return answer;
    };
  return {
    epoch: log.epoch,
    committed: log.committed,
    latestIds: later((t, n) => log.latestIds(t, n)),
    getMany: later((t, ids, max) => log.getMany(t, ids, max)),
    scan: later((t, q) => log.scan(t, q)),
    prunedThrough: later((t) => log.prunedThrough(t)),
    lastId: later((t) => log.lastId(t)),
    committedId: later((t) => log.committedId(t)),
  };
}

/** A sink that reads slowly (about 4 KiB a millisecond), so the replay waits for 'drain' between pages. */
function slowSink() {
  const ids: number[] = [];
  let drains = 0;
  const parser = new SseParser({ onMessage: (m) => ids.push(Number(m.lastEventId)) });
  const sink = new Writable({
    highWaterMark: 16 * 1024,
    write(chunk: Buffer, _encoding, done) {
      parser.feed(chunk);
      setTimeout(done, Math.ceil(chunk.length / 4096));
    },
  });
  sink.on('drain', () => drains++);
  return { sink, ids, drains: () => drains };
}

describe('hub.attach with async log reads', () => {
  for (const [what, from] of [
    ['a full replay (after 0)', { after: 0 }],
    ['the latest-per-name snapshot', undefined],
  ] as const) {
    it(`${what}: live appends during a multi-page replay arrive once, in order, no gap`, async () => {
      broker = await startBroker({ tenant_insert_rate: 0 });
      const { log } = broker.services;
      const stream = 'handoff';
      // 1,200 events of distinct names (so the snapshot holds them all), ~600 KB: pages of 500 events and
      // 128 KiB (pageBytes of a 256 KiB --max_buffer), so five pages or more.
      const history = 1200;
      const blob = 'h'.repeat(500);
      await Promise.all(Array.from({ length: history }, (_, i) => log.append(stream, `n${i}`, JSON.stringify(blob))));
      // The history's last commit reaches the log's listeners a macrotask later: not this hub's business.
      await turn();
      hub = new Hub(asyncReads(log), {
        maxBuffer: 256 * 1024,
        maxStreamsPerUser: 100,
        heartbeatMs: 60_000,
        now: Date.now,
      });
      // Subscribers attached one after another, while live appends go on (one per macrotask, so over many
      // commits), until every one has gone live and 100 more: each handoff happens amid commits.
      const readers: { sub: Subscriber; reader: ReturnType<typeof slowSink>; attached: Promise<void> }[] = [];
      const appends: Promise<unknown>[] = [];
      let liveDuringReplay = 0;
      let afterLive = 0;
      while (afterLive < 100) {
        if (appends.length % 40 === 0 && readers.length < 6) {
          const reader = slowSink();
          const sub = new Subscriber({
            stream,
            username: 'u',
            sink: reader.sink,
            names: undefined,
            expiresAt: undefined,
          });
          readers.push({ sub, reader, attached: hub.attach(sub, from) });
        }
        appends.push(log.append(stream, `live${appends.length}`, String(appends.length)));
        if (readers.length === 6 && readers.every((r) => r.sub.live)) afterLive++;
        else if (readers.some((r) => !r.sub.live)) liveDuringReplay++;
        await turn();
      }
      await Promise.all(appends);
      const total = history + appends.length;
      for (const { sub, reader, attached } of readers) {
        await attached;
        await waitUntil(() => reader.ids.length >= total, 20_000, 'every event delivered');
        expect(reader.ids).toEqual(Array.from({ length: total }, (_, i) => i + 1));
        // The handoff was exercised: the replay waited for a slow reader while commits landed.
        expect(reader.drains()).toBeGreaterThan(1);
        expect(sub.closed).toBe(false);
      }
      expect(liveDuringReplay).toBeGreaterThan(100);
    });
  }
});

describe('a replaying subscriber and --max_buffer', () => {
  const options = { maxBuffer: 64 * 1024, maxStreamsPerUser: 10, heartbeatMs: 60_000, now: Date.now };

  it('an overfull live queue is dropped, not the stream: the replay reads on, no gap, no cut', async () => {
    broker = await startBroker({ tenant_insert_rate: 0 });
    const { log } = broker.services;
    const blob = JSON.stringify('q'.repeat(1000));
    await Promise.all(Array.from({ length: 2000 }, (_, i) => log.append('stuck', `n${i}`, blob)));
    await turn();
    hub = new Hub(log, options);
    // A sink that takes nothing more in until released: the replay waits for its 'drain' meanwhile.
    const ids: number[] = [];
    const parser = new SseParser({ onMessage: (m) => ids.push(Number(m.lastEventId)) });
    let pending: (() => void) | undefined;
    let held = true;
    const stuck = new Writable({
      highWaterMark: 16 * 1024,
      write(chunk: Buffer, _encoding, done) {
        parser.feed(chunk);
        if (held) pending = done;
        else setImmediate(done);
      },
    });
    const sub = new Subscriber({ stream: 'stuck', username: 'u', sink: stuck, names: undefined, expiresAt: undefined });
    const attached = hub.attach(sub, { after: 0 });
    await waitUntil(() => pending !== undefined, 5000, 'the first page written');
    // 200 KB of live commits while it waits: three times --max_buffer.
    let most = 0;
    for (let i = 0; i < 200; i++) {
      await log.append('stuck', `live${i}`, blob);
      most = Math.max(most, sub.queuedBytes);
    }
    expect(sub.closed).toBe(false);
    expect(most).toBeLessThanOrEqual(options.maxBuffer + 64 * 1024);
    held = false;
    pending?.();
    await attached;
    expect(sub.live).toBe(true);
    await log.append('stuck', 'after', blob);
    await waitUntil(() => ids.length >= 2201, 10_000, 'every event delivered');
    expect(ids).toEqual(Array.from({ length: 2201 }, (_, i) => i + 1));
    expect(sub.closed).toBe(false);
  });

  it("commits that overfill the queue between the replay's last read and going live are read, not lost", async () => {
    broker = await startBroker({ tenant_insert_rate: 0 });
    const { log } = broker.services;
    const blob = JSON.stringify('q'.repeat(1000));
    await Promise.all(Array.from({ length: 50 }, (_, i) => log.append('gap', `n${i}`, blob)));
    await turn();
    // The first read that reaches the log's end answers only after 100 KB more were committed and fanned
    // out: more than --max_buffer lands in the live queue before the replay can go live.
    let injected = false;
    const reads = asyncReads(log);
    const scan = reads.scan;
    reads.scan = async (t, q) => {
      const page = await scan(t, q);
      if (page.end && !injected) {
        injected = true;
        for (let i = 0; i < 100; i++) await log.append('gap', `late${i}`, blob);
        await turn();
      }
      return page;
    };
    hub = new Hub(reads, options);
    const ids: number[] = [];
    const parser = new SseParser({ onMessage: (m) => ids.push(Number(m.lastEventId)) });
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        parser.feed(chunk);
        setImmediate(done);
      },
    });
    const sub = new Subscriber({ stream: 'gap', username: 'u', sink, names: undefined, expiresAt: undefined });
    await hub.attach(sub, { after: 0 });
    expect(injected).toBe(true);
    await waitUntil(() => ids.length >= 150, 10_000, 'every event delivered');
    expect(ids).toEqual(Array.from({ length: 150 }, (_, i) => i + 1));
    expect(sub.closed).toBe(false);
  });

  it('a live sink that never reads is cut at --max_buffer while commits pile up, nobody waits', async () => {
    broker = await startBroker({ tenant_insert_rate: 0 });
    const { log } = broker.services;
    const blob = JSON.stringify('q'.repeat(1000));
    hub = new Hub(log, options);
    const stuck = new Writable({ highWaterMark: 16 * 1024, write() {} });
    const sub = new Subscriber({ stream: 'stuck', username: 'u', sink: stuck, names: undefined, expiresAt: undefined });
    await hub.attach(sub, { after: 0 });
    expect(sub.live).toBe(true);
    for (let i = 0; i < 200 && !sub.closed; i++) await log.append('stuck', `live${i}`, blob);
    expect(sub.closed).toBe(true);
    expect(stuck.destroyed).toBe(true);
    expect(hub.streamsOf('u')).toBe(0);
  });

  it('what its replay has overtaken leaves the queue: a reader that keeps up is not cut', async () => {
    broker = await startBroker({ tenant_insert_rate: 0 });
    const { log } = broker.services;
    const data = JSON.stringify('t'.repeat(100));
    const append = (n: number) => Promise.all(Array.from({ length: n }, (_, i) => log.append('held', `e${i}`, data)));
    await append(600);
    await turn();
    hub = new Hub(log, { ...options, maxBuffer: 256 * 1024 });
    // A sink that takes one chunk at a time when told to: the replay waits for its 'drain' between pages.
    const ids: number[] = [];
    const parser = new SseParser({ onMessage: (m) => ids.push(Number(m.lastEventId)) });
    let pending: (() => void) | undefined;
    let held = true;
    const sink = new Writable({
      highWaterMark: 16 * 1024,
      write(chunk: Buffer, _encoding, done) {
        parser.feed(chunk);
        if (held) pending = done;
        else setImmediate(done);
      },
    });
    const sub = new Subscriber({ stream: 'held', username: 'u', sink, names: undefined, expiresAt: undefined });
    const attached = hub.attach(sub, { after: 0 });
    // Five rounds of 600 events in six commits (more than a page of 500) while a page waits: ~400 KB
    // queued in all, more than --max_buffer, but each next page overtakes most of what is queued.
    for (let round = 0; round < 5; round++) {
      await waitUntil(() => pending !== undefined, 5000, 'a page waiting for drain');
      const before = sub.queuedBytes;
      for (let i = 0; i < 6; i++) await append(100);
      await waitUntil(() => sub.queuedBytes > before || sub.closed, 5000, 'the commits queued');
      expect(sub.live).toBe(false);
      expect(sub.closed).toBe(false);
      const done = pending!;
      pending = undefined;
      done();
    }
    held = false;
    pending?.();
    await attached;
    expect(sub.closed).toBe(false);
    await waitUntil(() => ids.length >= 3600, 10_000, 'every event delivered');
    expect(ids).toEqual(Array.from({ length: 3600 }, (_, i) => i + 1));
  });
});
