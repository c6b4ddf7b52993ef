// Experiments on COPIES of the hub's write path, applied to a running Hub instance in the bench server
// child only (src/ is untouched): `npm run bench -- --variants direct` measures them beside the stock hub.
//
//   direct  For a hub that writes through ServerResponse (chunked encoding): frame each committed batch
//           ONCE as a complete HTTP/1.1 chunk (hex length, CRLF, frames, CRLF) and write that same Buffer
//           straight to every subscriber's socket. res.write() in chunked mode costs, per subscriber, a
//           cork + nextTick uncork + a 4-buffer writev (length, CRLF, data, CRLF) and OutgoingMessage
//           bookkeeping; the socket write is one uv_try_write of one buffer. Same bytes on the wire.
//           (A hub whose subscribers already hold the raw socket, init.sink, is left as it is.)
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

const resOf = (sub: Subscriber) => (sub.init as unknown as { res?: ServerResponse }).res;

/** The socket, when writing to it directly keeps the HTTP framing valid; else undefined. */
function directSocket(res: ServerResponse): Socket | undefined {
  const r = res as ResInternals;
  const socket = res.socket;
  if (!socket || !r.chunkedEncoding || !res.headersSent || res.writableEnded) return undefined;
  if (r.outputData && r.outputData.length > 0) return undefined;
  return socket;
}

export function applyHubVariant(hub: Hub, name: string): void {
  if (name !== 'direct') throw new Error(`unknown hub variant ${name}`);
  const h = hub as unknown as HubInternals;
  const original = h.write.bind(h);
  const originalPublish = h.publishTenant.bind(h);

  const writeChunk = (sub: Subscriber, payload: Buffer, framed: Buffer | undefined): boolean => {
    const res = resOf(sub);
    if (sub.closed || !res) return original(sub, payload);
    const socket = directSocket(res);
    if (!socket) return original(sub, payload);
    if (socket.writableLength + res.writableLength > h.options.maxBuffer) {
      h.remove(sub);
      res.destroy();
      return false;
    }
    socket.write(framed ?? chunk(payload));
    return true;
  };

  h.write = (sub, bytes) => (resOf(sub) ? writeChunk(sub, typeof bytes === 'string' ? Buffer.from(bytes) : bytes, undefined) : original(sub, bytes));

  h.publishTenant = (subs, records) => {
    const first = subs.values().next().value as Subscriber | undefined;
    if (!first || !resOf(first)) return originalPublish(subs, records);
    const frames = records.map((r) => Buffer.from(frame(r)));
    const all = frames.length === 1 ? frames[0] : Buffer.concat(frames);
    const framedAll = chunk(all);
    const firstId = records[0].id;
    const lastId = records[records.length - 1].id;
    for (const sub of subs) {
      if (!sub.live) continue;
      if (!sub.init.names && sub.lastId < firstId) {
        if (writeChunk(sub, all, framedAll)) h.deliveries += records.length;
      } else {
        const mine: Buffer[] = [];
        for (let i = 0; i < records.length; i++) {
          if (records[i].id > sub.lastId && (!sub.init.names || sub.init.names.has(records[i].event))) mine.push(frames[i]);
        }
        if (mine.length > 0 && writeChunk(sub, mine.length === 1 ? mine[0] : Buffer.concat(mine), undefined)) h.deliveries += mine.length;
      }
      if (lastId > sub.lastId) sub.lastId = lastId;
    }
  };
}
