// Experiments on COPIES of the hub's write path, applied to a running Hub instance in the bench server
// child only (src/ is untouched). `node dist/bench/run.js --variants direct,coalesce` measures them
// beside the stock hub and the baseline.
//
//   direct    Frame each committed batch ONCE as a complete HTTP/1.1 chunk (hex length, CRLF, frames,
//             CRLF) and write that same Buffer straight to every subscriber's socket. res.write() in
//             chunked mode costs, per subscriber, a cork + nextTick uncork + a 4-buffer writev
//             (length, CRLF, data, CRLF) and OutgoingMessage bookkeeping; the socket write is one
//             uv_try_write of one buffer. The wire bytes are identical.
//   coalesce  direct, plus: a subscriber whose socket still holds unsent bytes (a lagging reader) does
//             not get a write per batch; its batches are queued and written as ONE chunk on 'drain'.
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Hub, Subscriber } from '../../src/realtime/hub.js';
import type { EventRecord } from '../../src/storage/event-log.js';
import { frame } from '../../src/realtime/sse.js';

interface HubInternals {
  options: { maxBuffer: number };
  deliveries: number;
  write(sub: Subscriber, bytes: Buffer | string): boolean;
  publishTenant(subs: Set<Subscriber>, records: EventRecord[]): void;
  remove(sub: Subscriber): void;
}

interface ResInternals extends ServerResponse {
  chunkedEncoding: boolean;
  outputData?: unknown[];
}

const CRLF = Buffer.from('\r\n');

/** One complete chunk of chunked transfer-encoding around the payload. */
export function chunk(payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${payload.length.toString(16)}\r\n`, 'latin1'), payload, CRLF]);
}

/** The socket, when writing to it directly keeps the HTTP framing valid; else undefined. */
function directSocket(res: ServerResponse): Socket | undefined {
  const r = res as ResInternals;
  const socket = res.socket;
  if (!socket || !r.chunkedEncoding || !res.headersSent || res.writableEnded) return undefined;
  if (r.outputData && r.outputData.length > 0) return undefined;
  return socket;
}

interface Pending {
  parts: Buffer[];
  frames: number;
}

export function applyHubVariant(hub: Hub, name: string): void {
  const h = hub as unknown as HubInternals;
  const original = h.write.bind(h);
  const coalesce = name === 'coalesce';
  if (name !== 'direct' && name !== 'coalesce') throw new Error(`unknown hub variant ${name}`);
  const pending = new WeakMap<Subscriber, Pending>();

  /** Writes a pre-framed chunk; falls back to res.write with the raw payload when not safe. */
  const writeChunk = (sub: Subscriber, payload: Buffer, framed: Buffer | undefined, frames: number): boolean => {
    if (sub.closed) return false;
    const res = sub.init.res;
    const socket = directSocket(res);
    if (!socket) return original(sub, payload);
    const lag = socket.writableLength + res.writableLength;
    if (lag > h.options.maxBuffer) {
      h.remove(sub);
      res.destroy();
      return false;
    }
    if (coalesce && socket.writableLength > 0) {
      let p = pending.get(sub);
      if (!p) {
        pending.set(sub, (p = { parts: [], frames: 0 }));
        socket.once('drain', () => {
          const q = pending.get(sub);
          pending.delete(sub);
          if (!q || sub.closed || q.parts.length === 0) return;
          const s = directSocket(res);
          const body = q.parts.length === 1 ? q.parts[0] : Buffer.concat(q.parts);
          if (s) s.write(chunk(body));
          else res.write(body);
        });
      }
      p.parts.push(payload);
      p.frames += frames;
      return true;
    }
    socket.write(framed ?? chunk(payload));
    return true;
  };

  h.write = (sub, bytes) => {
    const payload = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
    return writeChunk(sub, payload, undefined, 0);
  };

  h.publishTenant = (subs, records) => {
    const frames = records.map((r) => Buffer.from(frame(r)));
    const all = frames.length === 1 ? frames[0] : Buffer.concat(frames);
    const framedAll = chunk(all);
    const firstId = records[0].id;
    const lastId = records[records.length - 1].id;
    for (const sub of subs) {
      if (!sub.live) continue;
      if (!sub.init.names && sub.lastId < firstId) {
        if (writeChunk(sub, all, framedAll, records.length)) h.deliveries += records.length;
      } else {
        const mine: Buffer[] = [];
        for (let i = 0; i < records.length; i++) {
          if (records[i].id > sub.lastId && (!sub.init.names || sub.init.names.has(records[i].event))) mine.push(frames[i]);
        }
        if (mine.length > 0) {
          const payload = mine.length === 1 ? mine[0] : Buffer.concat(mine);
          if (writeChunk(sub, payload, undefined, mine.length)) h.deliveries += mine.length;
        }
      }
      sub.lastId = lastId;
    }
  };
}
