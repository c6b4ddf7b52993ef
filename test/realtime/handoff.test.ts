// Replay-then-live on a real server: a reader that stalls in the middle of a multi-page replay while
// inserts land (they queue in its subscriber), then reads on while more land. Every event exactly once,
// in id order, with no gap: the queued live batches drain after the replay, minus what it covered.
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { SseParser } from '../../client/sse-parser.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { bearer, makeUser, post } from '../helpers/http.js';
import { waitUntil } from '../helpers/wait.js';

let broker: TestBroker | undefined;
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await broker?.stop();
  broker = undefined;
});

/** A raw HTTP/1.1 stream reader that starts paused: the ids of the frames it has read so far. */
function pausedReader(url: string, jwt: string, extra: string) {
  const u = new URL(url);
  const socket = connect(Number(u.port), u.hostname);
  sockets.push(socket);
  socket.write(`GET /sse HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${jwt}\r\n${extra}\r\n`);
  socket.pause();
  const ids: number[] = [];
  const parser = new SseParser({ onMessage: (m) => ids.push(Number(m.lastEventId)) });
  let head = Buffer.alloc(0);
  let inBody = false;
  socket.on('data', (chunk: Buffer) => {
    if (inBody) return parser.feed(chunk);
    head = Buffer.concat([head, chunk]);
    const end = head.indexOf('\r\n\r\n');
    if (end < 0) return;
    inBody = true;
    parser.feed(head.subarray(end + 4));
  });
  return { socket, ids };
}

describe('live inserts during a replay to a slow reader', () => {
  for (const [what, header] of [
    ['a full replay (Last-Event-ID: 0)', 'Last-Event-ID: 0\r\n'],
    ['the latest-per-name snapshot', ''],
  ] as const) {
    it(`${what}: reach it exactly once, in order, with no gap`, async () => {
      broker = await startBroker({ max_buffer: 1024 * 1024, tenant_insert_rate: 0 });
      const user = await makeUser(broker.url, { tenant_name: 'handoff' });
      const insert = async (event: string, data: unknown) =>
        expect((await post(broker!.url, '/insert', { event, data }, bearer(user.jwt))).status).toBe(200);
      // 6 MB of distinct names (the snapshot holds all of them): far more than one page (256 KiB) and
      // than the kernel's socket buffers, so the replay stalls on the paused reader.
      const blob = 'z'.repeat(100_000);
      for (let i = 0; i < 60; i++) await insert(`history${i}`, blob);
      const reader = pausedReader(broker.url, user.jwt, header);
      const { hub } = broker.services;
      await waitUntil(() => hub.streamsOf(user.username) === 1 && hub.queuedBytes(user.username) > 0, 5000, 'stalled');
      // Inserts while the replay waits for the reader: they queue behind it.
      for (let i = 0; i < 30; i++) await insert(`stalled${i}`, i);
      expect(reader.ids).toEqual([]);
      reader.socket.resume();
      // And while it reads the rest of the history and goes live.
      for (let i = 0; i < 30; i++) await insert(`reading${i}`, i);
      await waitUntil(() => reader.ids.length >= 120, 20_000, 'every event read');
      expect(reader.ids).toEqual(Array.from({ length: 120 }, (_, i) => i + 1));
      // Still live, still once: one more after the handoff.
      await insert('after', 1);
      await waitUntil(() => reader.ids.length >= 121, 5000, 'the live event');
      expect(reader.ids.slice(118)).toEqual([119, 120, 121]);
      expect(hub.streamsOf(user.username)).toBe(1);
    });
  }
});
