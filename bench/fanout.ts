// SSE fan-out (issue 3): the broker against a plain node:http broadcast hub (baseline) and nginx+nchan
// (peer, when installed), with the same load generator on the same machine in the same run.
import type { Peer } from './lib/ipc.js';
import { LOCAL_ADDRESSES } from './lib/constants.js';
import { fmtInt, fmtNum, kib, machineCpu, ms, sleep, table, type ServerStats } from './lib/stats.js';
import { startNchanTarget, startNodeTarget, type Target } from './lib/targets.js';
import type { RunResult } from './loadgen.js';

export interface FanoutOptions {
  subs: number[];
  /** events/s offered; 0 = the maximum (closed loop, bounded by the flow window) */
  rates: number[];
  durationMs: number;
  /** server specs: baseline, broker, broker@shm (database on tmpfs), nchan */
  targets: string[];
  /** publisher requests in flight at most */
  concurrency: number;
  /** at most this many events per subscriber published but not yet received */
  window: number;
  padBytes: number;
  maxEvents: number;
  insertClients: number;
  insertMs: number;
  /** each row (and the inserts) measured this many times, targets in alternating order */
  repeat: number;
  log: (line: string) => void;
}

export interface FanoutRow {
  target: string;
  /** which of the --repeat runs, from 0 */
  rep: number;
  subs: number;
  rate: number;
  r: RunResult;
  serverCpuUs: number;
  wallMs: number;
  eldP99?: number;
  rssEnd: number;
  otherPct: number;
}

export interface ConnectRow {
  target: string;
  subs: number;
  ms: number;
  ok: number;
  failed: number;
  rssPerStream: number;
  rssBefore: number;
  rssAfter: number;
  /** JS heap per stream after a full GC (the rest of the RSS is native: sockets, parsers, buffers) */
  heapPerStream: number;
  /** server CPU spent per stream opened (auth, routing, headers) */
  cpuUsPerConnect: number;
}

export interface InsertRow {
  target: string;
  rep: number;
  perSec: number;
  p50: number;
  p99: number;
  serverUsPerInsert: number;
  statuses: Record<string, number>;
}

async function startTarget(spec: string): Promise<Target> {
  if (spec === 'nchan') return startNchanTarget();
  return startNodeTarget(spec);
}

const rateName = (r: number) => (r > 0 ? `${r}/s` : 'max');

export async function fanout(options: FanoutOptions, loadgen: Peer) {
  const opts = { ...options, lastSubs: options.subs[options.subs.length - 1] };
  const rows: FanoutRow[] = [];
  const connects: ConnectRow[] = [];
  const inserts: InsertRow[] = [];
  const fdLimit = await loadgen.call<number>('fdLimit');
  for (const subs of opts.subs) {
    // Every server under test is up, with its own subscribers, at once; each rate is then run against
    // each server in turn, seconds apart, so that load from the rest of the machine drifts less between
    // the rows that are compared. Idle streams cost nothing but a heartbeat. The load generator holds one
    // fd per subscriber: when all servers' subscribers do not fit under its limit, go in groups.
    const perGroup = Math.max(1, Math.floor((fdLimit - 1000) / subs));
    for (let g = 0; g < opts.targets.length; g += perGroup) {
      const specs = opts.targets.slice(g, g + perGroup);
      if (perGroup < opts.targets.length)
        opts.log(
          `  · ${subs} subscribers: fd limit ${fdLimit}, servers measured in groups of ${perGroup}: ` +
            `${specs.join(', ')}`,
        );
      await fanoutGroup({ ...opts, targets: specs }, subs, loadgen, rows, connects, inserts);
    }
  }
  return { rows, connects, inserts, fdLimit };
}

async function fanoutGroup(
  opts: FanoutOptions & { lastSubs: number },
  subs: number,
  loadgen: Peer,
  rows: FanoutRow[],
  connects: ConnectRow[],
  inserts: InsertRow[],
) {
  const targets: Target[] = [];
  try {
    for (const spec of opts.targets) {
      const target = await startTarget(spec);
      targets.push(target);
      const rssBefore = await target.gc();
      const heapBefore = await target.heap();
      const cpu0 = (await target.stats()).cpuUs;
      const c = await loadgen.call<{ ms: number; ok: number; failed: number; statuses: Record<string, number> }>(
        'connect',
        {
          group: spec,
          url: target.url,
          path: '/sse',
          headers: target.headers,
          n: subs,
          localAddresses: LOCAL_ADDRESSES,
          concurrency: 256,
          timeoutMs: 30_000,
        },
        60_000,
      );
      const cpuUs = (await target.stats()).cpuUs - cpu0;
      await sleep(300);
      const rssAfter = await target.gc();
      const heapAfter = await target.heap();
      const heapPerStream =
        heapBefore !== undefined && heapAfter !== undefined ? (heapAfter - heapBefore) / Math.max(1, c.ok) : NaN;
      const row: ConnectRow = {
        target: spec,
        subs,
        ms: c.ms,
        ok: c.ok,
        failed: c.failed,
        rssBefore,
        rssAfter,
        rssPerStream: (rssAfter - rssBefore) / Math.max(1, c.ok),
        heapPerStream,
        cpuUsPerConnect: cpuUs / Math.max(1, c.ok),
      };
      connects.push(row);
      opts.log(
        `  · ${spec} ${subs} streams: connected ${c.ok} in ${fmtNum(c.ms / 1000, 2)} s (${c.failed} failed ` +
          `${JSON.stringify(c.statuses)}), ${kib(row.rssPerStream)} KiB RSS each`,
      );
    }
    // Repeats alternate the order (A B, B A) so that neither target always runs right after the other.
    const order = (rep: number) => (rep % 2 ? [...opts.targets.entries()].reverse() : [...opts.targets.entries()]);
    for (const rate of opts.rates) {
      for (let rep = 0; rep < opts.repeat; rep++) {
        for (const [i, spec] of order(rep)) {
          const target = targets[i];
          const s0 = await target.stats(true);
          const m0 = machineCpu();
          const w0 = performance.now();
          // Bounded: never more events than 3M deliveries/s could carry (bitsets are per subscriber).
          const maxEvents =
            rate > 0
              ? Math.round((rate * opts.durationMs) / 1000)
              : Math.min(opts.maxEvents, Math.ceil((3e6 * opts.durationMs) / 1000 / subs));
          const r = await loadgen.call<RunResult>(
            'run',
            {
              group: spec,
              url: target.url,
              headers: target.headers,
              rate,
              durationMs: opts.durationMs,
              maxEvents,
              concurrency: rate > 0 ? 64 : opts.concurrency,
              window: opts.window,
              padBytes: opts.padBytes,
              drainTimeoutMs: 15_000,
            },
            opts.durationMs * 4 + 90_000,
          );
          const s1: ServerStats = await target.stats();
          const m1 = machineCpu();
          const serverCpuUs = s1.cpuUs - s0.cpuUs;
          const wallMs = performance.now() - w0;
          // CPU the rest of the machine (other people's tests) used meanwhile: our figures are noisier when high.
          const otherPct = ((m1.busyUs - m0.busyUs - serverCpuUs - r.loadgenCpuUs) / 1000 / wallMs) * 100;
          const fr: FanoutRow = {
            target: spec,
            rep,
            subs,
            rate,
            r,
            serverCpuUs,
            wallMs,
            eldP99: s1.eld?.p99,
            rssEnd: s1.rss,
            otherPct,
          };
          rows.push(fr);
          opts.log(
            `  · ${spec} ${subs} subs ${rateName(rate)}: ${fmtInt(r.received / (r.deliverMs / 1000))} ` +
              `deliveries/s, p99 ${ms(r.latency.p99)} ms, ` +
              `${fmtNum(fr.serverCpuUs / Math.max(1, r.received), 2)} µs/delivery, lost ${r.lost}, dup ` +
              `${r.dup}, cut ${r.cut}`,
          );
        }
      }
    }
    await loadgen.call('disconnect');
    if (subs === opts.lastSubs && opts.insertClients > 0) {
      await sleep(300);
      for (let rep = 0; rep < opts.repeat; rep++) {
        for (const [i, spec] of order(rep)) {
          // Inserts/s with C concurrent clients, no subscribers.
          const target = targets[i];
          const s0 = await target.stats();
          const body = (n: number) =>
            `{"event":"bench","data":{"r":0,"n":${n},"t":0,"p":"${'x'.repeat(opts.padBytes)}"}}`;
          const l = await loadgen.call<{
            perSec: number;
            done: number;
            statuses: Record<string, number>;
            latency: { p50: number; p99: number };
          }>(
            'loop',
            {
              url: target.url,
              path: '/insert',
              headers: target.headers,
              bodies: Array.from({ length: 64 }, (_, n) => body(n)),
              concurrency: opts.insertClients,
              durationMs: opts.insertMs,
              maxRequests: 2_000_000,
              probeMs: 0,
            },
            opts.insertMs + 60_000,
          );
          const s1 = await target.stats();
          inserts.push({
            target: spec,
            rep,
            perSec: l.perSec,
            p50: l.latency.p50,
            p99: l.latency.p99,
            serverUsPerInsert: (s1.cpuUs - s0.cpuUs) / Math.max(1, l.done),
            statuses: l.statuses,
          });
          opts.log(
            `  · ${spec} inserts with ${opts.insertClients} clients: ${fmtInt(l.perSec)}/s ` +
              `${JSON.stringify(l.statuses)}`,
          );
        }
      }
    }
  } finally {
    await loadgen.call('disconnect').catch(() => {});
    for (const t of targets) await t.stop();
  }
}

export function fanoutTables(res: Awaited<ReturnType<typeof fanout>>, opts: FanoutOptions): string {
  const out: string[] = [];
  const base = (subs: number, rate: number, rep: number) =>
    res.rows.find((x) => x.target === 'baseline' && x.subs === subs && x.rate === rate && x.rep === rep);
  const name = (x: { target: string; rep: number }) => (opts.repeat > 1 ? `${x.target} #${x.rep + 1}` : x.target);
  const perCore = (x: FanoutRow) => x.r.received / (x.serverCpuUs / 1e6);
  out.push(
    table(
      [
        'server',
        'subs',
        'offered',
        'pub ev/s',
        'deliveries/s',
        'p50 ms',
        'p99 ms',
        'ins p50',
        'ins p99',
        'lost',
        'dup',
        'cut',
        'srv CPU%',
        'µs/deliv',
        'deliv/core-s',
        '× base',
        'eld p99',
        'lg CPU%',
        'lg eld p99',
        'other CPU%',
      ],
      res.rows.map((x) => {
        const b = base(x.subs, x.rate, x.rep);
        const secs = x.r.deliverMs / 1000;
        if (x.r.received === 0)
          return [
            name(x),
            x.subs,
            rateName(x.rate),
            `no frames received (${x.r.subscribers} subscribers, ${x.r.acked} acked, ${x.r.errors} insert errors)`,
          ];
        return [
          name(x),
          x.subs,
          rateName(x.rate),
          fmtInt(x.r.acked / (x.r.publishMs / 1000)),
          fmtInt(x.r.received / secs),
          ms(x.r.latency.p50),
          ms(x.r.latency.p99),
          ms(x.r.insertLatency.p50),
          ms(x.r.insertLatency.p99),
          x.r.lost,
          x.r.dup,
          x.r.cut,
          fmtInt((x.serverCpuUs / 1000 / x.wallMs) * 100),
          fmtNum(x.serverCpuUs / Math.max(1, x.r.received), 2),
          fmtInt(perCore(x)),
          b ? fmtNum(perCore(x) / perCore(b), 2) : '-',
          x.eldP99 !== undefined ? fmtNum(x.eldP99, 1) : '-',
          fmtInt((x.r.loadgenCpuUs / 1000 / x.wallMs) * 100),
          fmtNum(x.r.loadgenEldP99, 1),
          fmtInt(Math.max(0, x.otherPct)),
        ];
      }),
    ),
  );
  out.push('');
  out.push(
    table(
      [
        'server',
        'streams',
        'connected',
        'failed',
        'connect s',
        'srv µs/connect',
        'RSS before MiB',
        'RSS after MiB',
        'RSS KiB/stream',
        'heap KiB/stream',
      ],
      res.connects.map((c) => [
        c.target,
        c.subs,
        c.ok,
        c.failed,
        fmtNum(c.ms / 1000, 2),
        fmtInt(c.cpuUsPerConnect),
        fmtNum(c.rssBefore / 1048576, 1),
        fmtNum(c.rssAfter / 1048576, 1),
        kib(c.rssPerStream),
        kib(c.heapPerStream),
      ]),
    ),
  );
  if (res.inserts.length > 0) {
    out.push('');
    out.push(
      table(
        ['server', `inserts/s (${opts.insertClients} clients)`, 'p50 ms', 'p99 ms', 'srv µs/insert', 'statuses'],
        res.inserts.map((i) => [
          name(i),
          fmtInt(i.perSec),
          ms(i.p50),
          ms(i.p99),
          fmtNum(i.serverUsPerInsert, 1),
          JSON.stringify(i.statuses),
        ]),
      ),
    );
  }
  return out.join('\n');
}
