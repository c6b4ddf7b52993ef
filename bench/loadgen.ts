// The load generator, in its own process: SSE subscribers on raw sockets, a publisher, insert and login
// load. Driven over IPC by run.ts / soak.ts. Every loop is bounded in count and in time.
//
// Each published event's data is {"r":<run>,"n":<seq>,"t":<µs on this process's clock>,"p":<pad>}.
// A subscriber marks n in a bitset (a second mark is a duplicate, a missing one a loss) and records
// now - t as the latency (insert sent → frame parsed here; publisher and readers share this clock).
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { connect, type Socket } from 'node:net';
import { Histogram, sleep, type LatencySummary } from './lib/stats.js';
import { serve } from './lib/ipc.js';

const nowUs = () => Math.round(performance.now() * 1000);
/** The load generator's own event-loop delay: it is part of every latency measured here. */
const eld = monitorEventLoopDelay({ resolution: 1 });
eld.enable();

interface Target {
  host: string;
  port: number;
}

function parseUrl(url: string): Target {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port) };
}

// ---------------------------------------------------------------------------------------------------
// Subscribers

class Conn {
  sock!: Socket;
  buf = '';
  headerDone = false;
  status = 0;
  closed = false;
  bits = new Uint8Array(0);
  count = 0;
  dup = 0;
}

/** Subscribers by group (one group per server under test, so that several can stay connected). */
const groups = new Map<string, Conn[]>();
const groupOf = (name: string | undefined) => {
  const key = name ?? 'default';
  let g = groups.get(key);
  if (!g) groups.set(key, (g = []));
  return g;
};
let run = 0;
let lat = new Histogram();
let received = 0;
let stale = 0;
let lastRecvUs = 0;
let cut = 0;

/** Parses a non-negative integer at s[i...]; returns [value, index after]. */
function intAt(s: string, i: number): number {
  let v = 0;
  for (;;) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) break;
    v = v * 10 + (c - 48);
    i++;
  }
  parsedEnd = i;
  return v;
}
let parsedEnd = 0;

function onFrames(c: Conn, s: string, end: number): void {
  let pos = 0;
  let now = 0;
  for (;;) {
    pos = s.indexOf('data:', pos);
    if (pos < 0 || pos >= end) return;
    const r = s.indexOf('"r":', pos);
    if (r < 0 || r > end) return;
    const runId = intAt(s, r + 4);
    const n = intAt(s, parsedEnd + 5); // ,"n":
    const t = intAt(s, parsedEnd + 5); // ,"t":
    pos = parsedEnd;
    if (runId !== run) {
      stale++;
      continue;
    }
    const byte = n >> 3;
    const bit = 1 << (n & 7);
    if (byte >= c.bits.length) continue;
    if (c.bits[byte] & bit) {
      c.dup++;
      continue;
    }
    c.bits[byte] |= bit;
    c.count++;
    received++;
    if (now === 0) now = nowUs();
    lat.record(now - t);
  }
}

function onData(c: Conn, chunk: Buffer, onHeaders: (c: Conn) => void): void {
  let s = c.buf.length > 0 ? c.buf + chunk.toString('latin1') : chunk.toString('latin1');
  if (!c.headerDone) {
    const i = s.indexOf('\r\n\r\n');
    if (i < 0) {
      c.buf = s;
      return;
    }
    c.status = Number(s.slice(9, 12));
    c.headerDone = true;
    s = s.slice(i + 4);
    onHeaders(c);
  }
  const end = s.lastIndexOf('\n\n');
  if (end < 0) {
    c.buf = s;
    return;
  }
  c.buf = s.length > end + 2 ? s.slice(end + 2) : '';
  onFrames(c, s, end);
  if (received > 0) lastRecvUs = nowUs();
}

interface ConnectArgs {
  group?: string;
  url: string;
  path: string;
  headers: Record<string, string>;
  n: number;
  /** Source addresses to spread ephemeral ports over (127.0.0.x). */
  localAddresses: string[];
  concurrency: number;
  timeoutMs: number;
}

async function connectAll(a: ConnectArgs) {
  const target = parseUrl(a.url);
  const conns = groupOf(a.group);
  const head =
    `GET ${a.path} HTTP/1.1\r\nHost: ${target.host}:${target.port}\r\nAccept: ` +
    `text/event-stream\r\n${Object.entries(a.headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('')}\r\n`;
  const t0 = performance.now();
  let started = 0;
  let ok = 0;
  let failed = 0;
  const statuses: Record<string, number> = {};
  const deadline = t0 + a.timeoutMs;
  await new Promise<void>((resolve) => {
    let inFlight = 0;
    const finish = () => {
      if (ok + failed === a.n) resolve();
      else launch();
    };
    const launch = () => {
      while (inFlight < a.concurrency && started < a.n && performance.now() < deadline) {
        const c = new Conn();
        const localAddress = a.localAddresses[started % a.localAddresses.length];
        started++;
        inFlight++;
        let settled = false;
        const settle = (good: boolean) => {
          if (settled) return;
          settled = true;
          inFlight--;
          if (good) ok++;
          else failed++;
          finish();
        };
        c.sock = connect({ host: target.host, port: target.port, localAddress, noDelay: true });
        c.sock.on('connect', () => c.sock.write(head));
        c.sock.on('data', (chunk: Buffer) =>
          onData(c, chunk, (cc) => {
            statuses[cc.status] = (statuses[cc.status] ?? 0) + 1;
            if (cc.status === 200) conns.push(cc);
            settle(cc.status === 200);
          }),
        );
        c.sock.on('error', () => settle(false));
        c.sock.on('close', () => {
          if (!c.closed && c.headerDone && c.status === 200) cut++;
          c.closed = true;
          settle(false);
        });
      }
      if (started < a.n && performance.now() >= deadline) {
        failed += a.n - started;
        started = a.n;
        if (inFlight === 0) resolve();
      }
    };
    launch();
    setTimeout(() => resolve(), a.timeoutMs + 1000).unref();
  });
  return { ms: performance.now() - t0, ok, failed, statuses, open: conns.filter((c) => !c.closed).length };
}

async function disconnect(group?: string): Promise<number> {
  let n = 0;
  for (const [name, conns] of groups) {
    if (group !== undefined && name !== group) continue;
    n += conns.length;
    for (const c of conns) {
      c.closed = true;
      c.sock.destroy();
    }
    groups.delete(name);
  }
  await sleep(200);
  return n;
}

// ---------------------------------------------------------------------------------------------------
// Publisher

interface RunArgs {
  group?: string;
  url: string;
  headers: Record<string, string>;
  /** events/s; 0 = as fast as the window allows */
  rate: number;
  durationMs: number;
  maxEvents: number;
  /** requests in flight at most */
  concurrency: number;
  /** at most this many events per subscriber published but not yet received (flow control) */
  window: number;
  padBytes: number;
  drainTimeoutMs: number;
  /** print progress lines (soak) */
  progressMs?: number;
}

export interface RunResult {
  subscribers: number;
  offeredRate: number;
  sent: number;
  acked: number;
  errors: number;
  /** publish duration (first send → last ack), ms */
  publishMs: number;
  /** first send → last frame received, ms */
  deliverMs: number;
  received: number;
  expected: number;
  lost: number;
  dup: number;
  stale: number;
  cut: number;
  windowWaits: number;
  latency: LatencySummary;
  insertLatency: LatencySummary;
  loadgenCpuUs: number;
  /** ms */
  loadgenEldP99: number;
}

function postOnce(
  agent: Agent,
  target: Target,
  path: string,
  headers: Record<string, string>,
  body: string,
): Promise<number> {
  return new Promise((resolve) => {
    const req = request(
      {
        host: target.host,
        port: target.port,
        method: 'POST',
        path,
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', () => resolve(0));
      },
    );
    req.on('error', () => resolve(0));
    req.end(body);
  });
}

async function runPublish(a: RunArgs): Promise<RunResult> {
  const target = parseUrl(a.url);
  run++;
  lat = new Histogram();
  const insertLat = new Histogram();
  received = 0;
  stale = 0;
  const cut0 = cut;
  const live = groupOf(a.group).filter((c) => !c.closed);
  const bytes = Math.ceil((a.maxEvents + 2) / 8);
  for (const c of live) {
    if (c.bits.length !== bytes) c.bits = new Uint8Array(bytes);
    else c.bits.fill(0);
    c.count = 0;
    c.dup = 0;
  }
  const N = live.length;
  const agent = new Agent({ keepAlive: true, maxSockets: a.concurrency });
  const pad = 'x'.repeat(a.padBytes);
  const ackedSeq = new Uint8Array(a.maxEvents + 2);
  let sent = 0;
  let acked = 0;
  let errors = 0;
  let inFlight = 0;
  let windowWaits = 0;
  let lastAck = 0;
  const cpu0 = process.cpuUsage();
  eld.reset();
  const t0 = performance.now();
  lastRecvUs = 0;
  const deadline = t0 + a.durationMs;
  const hardDeadline = t0 + a.durationMs * 3 + 5000;
  const total = a.rate > 0 ? Math.min(a.maxEvents, Math.round((a.rate * a.durationMs) / 1000)) : a.maxEvents;
  const overWindow = () => N > 0 && sent * N - received > N * a.window;
  let progressAt = t0 + (a.progressMs ?? Infinity);

  const sendOne = () => {
    const n = ++sent;
    inFlight++;
    const t = nowUs();
    const body = `{"event":"bench","data":{"r":${run},"n":${n},"t":${t},"p":"${pad}"}}`;
    void postOnce(agent, target, '/insert', a.headers, body).then((status) => {
      inFlight--;
      insertLat.record(nowUs() - t);
      if (status >= 200 && status < 300) {
        acked++;
        ackedSeq[n] = 1;
      } else errors++;
      lastAck = performance.now();
    });
  };

  // Open loop at the offered rate (bounded by concurrency and the window), or closed loop at max.
  while (sent < total) {
    const now = performance.now();
    if (now >= (a.rate > 0 ? hardDeadline : deadline)) break;
    if (now >= progressAt) {
      progressAt = now + a.progressMs!;
      process.send?.({ progress: true, sent, acked, errors, received, subscribers: N, lost: 0 });
    }
    const due = a.rate > 0 ? Math.min(total, Math.floor(((now - t0) * a.rate) / 1000) + 1) : total;
    let budget = Math.min(due - sent, a.concurrency - inFlight);
    if (budget > 0 && overWindow()) {
      windowWaits++;
      budget = 0;
    }
    for (let i = 0; i < budget; i++) sendOne();
    // Yield so responses and frames are processed; sleep (not spin) when nothing could be sent.
    await (budget <= 0 || a.rate > 0 ? sleep(1) : new Promise<void>((r) => setImmediate(r)));
  }
  // In-flight inserts.
  const ackDeadline = performance.now() + 30_000;
  while (inFlight > 0 && performance.now() < ackDeadline) await sleep(2);
  const publishMs = (lastAck || performance.now()) - t0;
  // Drain: wait for every acknowledged event at every live subscriber, or no progress.
  const drainDeadline = performance.now() + a.drainTimeoutMs;
  let lastSeen = -1;
  let stillSince = performance.now();
  while (performance.now() < drainDeadline) {
    const alive = live.filter((c) => !c.closed).length;
    if (received >= acked * alive) break;
    if (received !== lastSeen) {
      lastSeen = received;
      stillSince = performance.now();
    } else if (performance.now() - stillSince > 3000) break;
    await sleep(5);
  }
  const cpu = process.cpuUsage(cpu0);
  agent.destroy();
  let lost = 0;
  let dup = 0;
  for (const c of live) {
    dup += c.dup;
    if (errors === 0 && sent === acked) lost += acked - Math.min(acked, c.count);
    else {
      for (let n = 1; n <= sent; n++) if (ackedSeq[n] && !(c.bits[n >> 3] & (1 << (n & 7)))) lost++;
    }
  }
  return {
    subscribers: N,
    offeredRate: a.rate,
    sent,
    acked,
    errors,
    publishMs,
    deliverMs: lastRecvUs > 0 ? lastRecvUs / 1000 - t0 : NaN,
    received,
    expected: acked * N,
    lost,
    dup,
    stale,
    cut: cut - cut0,
    windowWaits,
    latency: lat.summary(),
    insertLatency: insertLat.summary(),
    loadgenCpuUs: cpu.user + cpu.system,
    loadgenEldP99: eld.percentile(99) / 1e6,
  };
}

// ---------------------------------------------------------------------------------------------------
// Inserts with C concurrent clients (no subscribers), and the login storm.

interface LoopArgs {
  url: string;
  path: string;
  headers: Record<string, string>;
  bodies: string[];
  concurrency: number;
  durationMs: number;
  maxRequests: number;
  /** GET / every probeMs to see whether the server still answers other requests (0 = none) */
  probeMs: number;
  /** worker w always sends bodies[w % length] (e.g. one user per concurrent client) */
  bodyPerWorker?: boolean;
}

async function loop(a: LoopArgs) {
  const target = parseUrl(a.url);
  const agent = new Agent({ keepAlive: true, maxSockets: a.concurrency });
  const hist = new Histogram();
  const probe = new Histogram();
  const statuses: Record<string, number> = {};
  let started = 0;
  let done = 0;
  const t0 = performance.now();
  const end = t0 + a.durationMs;
  let probing = a.probeMs > 0;
  const probeLoop = (async () => {
    const pAgent = new Agent({ keepAlive: true, maxSockets: 1 });
    for (let i = 0; probing && i < 100_000; i++) {
      const t = nowUs();
      await new Promise<void>((resolve) => {
        const req = request({ host: target.host, port: target.port, path: '/', agent: pAgent }, (res) => {
          res.resume();
          res.on('end', () => resolve());
        });
        req.on('error', () => resolve());
        req.end();
      });
      probe.record(nowUs() - t);
      await sleep(a.probeMs);
    }
    pAgent.destroy();
  })();
  await Promise.all(
    Array.from({ length: a.concurrency }, async (_, w) => {
      while (performance.now() < end && started < a.maxRequests) {
        const body = a.bodies[(a.bodyPerWorker ? w : started + w) % a.bodies.length];
        started++;
        const t = nowUs();
        const status = await postOnce(agent, target, a.path, a.headers, body);
        hist.record(nowUs() - t);
        statuses[status] = (statuses[status] ?? 0) + 1;
        done++;
      }
    }),
  );
  // maxRequests 0: only the probe runs, for the whole duration.
  if (a.maxRequests === 0) await sleep(Math.max(0, end - performance.now()));
  const elapsed = performance.now() - t0;
  probing = false;
  await probeLoop;
  agent.destroy();
  return {
    done,
    elapsedMs: elapsed,
    perSec: (done * 1000) / elapsed,
    statuses,
    latency: hist.summary(),
    probe: probe.summary(),
  };
}

serve({
  connect: (a: ConnectArgs) => connectAll(a),
  disconnect: (a?: { group?: string }) => disconnect(a?.group),
  open: (a?: { group?: string }) => groupOf(a?.group).filter((c) => !c.closed).length,
  run: (a: RunArgs) => runPublish(a),
  loop: (a: LoopArgs) => loop(a),
  /** The soft limit on open files (each subscriber holds one). */
  fdLimit: () => {
    const m = /Max open files\s+(\d+)/.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m ? Number(m[1]) : 1024;
  },
  cpu: () => {
    const c = process.cpuUsage();
    return c.user + c.system;
  },
  stop: async () => {
    await disconnect();
    setTimeout(() => process.exit(0), 50);
    return true;
  },
});
process.send?.({ ready: true, pid: process.pid });
