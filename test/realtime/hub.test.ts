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
