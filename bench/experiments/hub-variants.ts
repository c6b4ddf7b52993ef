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

/**
 * sliced: the fan-out of a commit to S subscribers is one synchronous loop of S socket writes (5,000
 * subscribers: tens of ms during which no insert, connect or heartbeat runs). Here the hub queues
 * committed batches and a pump writes to SLICE subscribers per macrotask; batches that pile up while a
 * fan-out is in progress are MERGED into one buffer per subscriber (one write for several commits), so
 * the loop stays responsive and a saturated hub writes fewer, larger buffers. Per-subscriber order is kept
 * (batches are fanned out strictly one after the other), and the live/lastId rules are the stock ones.
 */
function applySliced(h: HubInternals & { tenants: Map<string, Set<Subscriber>>; publish(batch: EventRecord[]): void }, slice: number): void {
  const queue: EventRecord[][] = [];
  let pumping = false;
  interface Job {
    records: EventRecord[];
    frames: Buffer[];
    all: Buffer;
    subs: Subscriber[];
    i: number;
  }
  let jobs: Job[] = [];
  const deliver = (sub: Subscriber, job: Job) => {
    if (!sub.live || sub.closed) return;
    const { records, frames, all } = job;
    const firstId = records[0].id;
    const lastId = records[records.length - 1].id;
    if (!sub.init.names && sub.lastId < firstId) {
      if (h.write(sub, all)) h.deliveries += records.length;
    } else {
      const mine: Buffer[] = [];
      for (let i = 0; i < records.length; i++) {
        if (records[i].id > sub.lastId && (!sub.init.names || sub.init.names.has(records[i].event))) mine.push(frames[i]);
      }
      if (mine.length > 0 && h.write(sub, mine.length === 1 ? mine[0] : Buffer.concat(mine))) h.deliveries += mine.length;
    }
    if (lastId > sub.lastId) sub.lastId = lastId;
  };
  const start = () => {
    // Everything queued since the last fan-out began, merged; per tenant, ids stay in commit order.
    const merged = queue.length === 1 ? queue[0] : queue.flat();
    queue.length = 0;
    const byTenant = new Map<string, EventRecord[]>();
    for (const r of merged) {
      let list = byTenant.get(r.tenant);
      if (!list) byTenant.set(r.tenant, (list = []));
      list.push(r);
    }
    jobs = [];
    for (const [tenant, records] of byTenant) {
      const set = h.tenants.get(tenant);
      if (!set || set.size === 0) continue;
      const frames = records.map((r) => Buffer.from(frame(r)));
      jobs.push({ records, frames, all: frames.length === 1 ? frames[0] : Buffer.concat(frames), subs: [...set], i: 0 });
    }
  };
  const step = () => {
    let budget = slice;
    while (budget > 0 && jobs.length > 0) {
      const job = jobs[0];
      const end = Math.min(job.subs.length, job.i + budget);
      for (let k = job.i; k < end; k++) deliver(job.subs[k], job);
      budget -= end - job.i;
      job.i = end;
      if (job.i >= job.subs.length) jobs.shift();
    }
    if (jobs.length === 0 && queue.length > 0) start();
    if (jobs.length > 0) setImmediate(step);
    else pumping = false;
  };
  h.publish = (batch) => {
    if (batch.length === 0) return;
    queue.push(batch);
    if (pumping) return;
    pumping = true;
    start();
    step();
  };
}

export function applyHubVariant(hub: Hub, name: string): void {
  const sliced = /^sliced(\d*)$/.exec(name);
  if (sliced) return applySliced(hub as unknown as Parameters<typeof applySliced>[0], Number(sliced[1] || 500));
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
