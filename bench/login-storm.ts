// Login storm (issue 2): 200 concurrent logins, repeated for a few seconds, against a broker build in its
// own process. Beside it, in the same run: the server's idle event-loop delay, and the ceiling for logins
// (argon2.verify with that build's parameters, HASH_CONCURRENCY at a time, in the server process with no
// HTTP at all).
import type { Peer } from './lib/ipc.js';
import { fmtInt, fmtNum, ms, sleep, table, type ServerStats } from './lib/stats.js';
import { startNodeTarget } from './lib/targets.js';
import { createBenchUser } from './lib/users.js';

export interface LoginOptions {
  concurrency: number;
  durationMs: number;
  users: number;
  log: (line: string) => void;
}

interface LoopResult {
  done: number;
  perSec: number;
  elapsedMs: number;
  statuses: Record<string, number>;
  latency: { p50: number; p99: number; max: number };
  probe: { p50: number; p99: number; max: number; count: number };
}

type Raw = { verifies: number; perSec: number; cpuUs: number; eldP99: number };

export interface LoginResult {
  target: string;
  argon2: Record<string, unknown>;
  hashConcurrency: number;
  idle: LoopResult;
  idleStats: ServerStats;
  rawBefore: Raw;
  rawAfter: Raw;
  /** the better of the two ceilings: the machine is shared */
  raw: Raw;
  ceilingMs: number;
  storm: LoopResult;
  stormStats: ServerStats;
  stormCpuUs: number;
  wallMs: number;
  /** successful logins only */
  loginsPerSec: number;
}

export async function loginStorm(opts: LoginOptions, loadgen: Peer, spec = 'broker'): Promise<LoginResult> {
  const target = await startNodeTarget(spec);
  try {
    const pw = await target.peer!.call<{ argon2: Record<string, unknown>; hashConcurrency?: number }>('passwords');
    const hashConcurrency = pw.hashConcurrency ?? 2;
    const users: string[] = [];
    // One user per concurrent client: the per-account lockout counts an attempt in flight as a failure
    // until it succeeds, so several parallel logins of one account would (rightly) lock it.
    let next = 0;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next < opts.users) {
          users.push(JSON.stringify(await createBenchUser(target.url, `storm${next++}`)));
        }
      }),
    );
    // Idle: event-loop delay with nothing to do but a GET / every 20 ms.
    await target.stats(true);
    const idle = await loadgen.call<LoopResult>('loop', {
      url: target.url,
      path: '/',
      headers: {},
      bodies: ['{}'],
      concurrency: 1,
      durationMs: 1000,
      maxRequests: 0,
      probeMs: 20,
    });
    const idleStats = await target.stats(true);
    // Ceiling: raw argon2.verify, HASH_CONCURRENCY at a time (the server's semaphore), no HTTP.
    const ceilingMs = Math.min(3000, opts.durationMs);
    const rawBefore = await target.peer!.call<Raw>('argon2', { durationMs: ceilingMs, concurrency: hashConcurrency });
    await sleep(200);
    // The storm.
    const s0 = await target.stats(true);
    const w0 = performance.now();
    const storm = await loadgen.call<LoopResult>(
      'loop',
      {
        url: target.url,
        path: '/login',
        headers: {},
        bodies: users,
        bodyPerWorker: true,
        concurrency: opts.concurrency,
        durationMs: opts.durationMs,
        maxRequests: 1_000_000,
        probeMs: 20,
      },
      opts.durationMs + 60_000,
    );
    const s1 = await target.stats();
    const wallMs = performance.now() - w0;
    const rawAfter = await target.peer!.call<Raw>('argon2', { durationMs: ceilingMs, concurrency: hashConcurrency });
    const raw = rawAfter.perSec > rawBefore.perSec ? rawAfter : rawBefore;
    const loginsPerSec = ((storm.statuses['200'] ?? 0) * 1000) / storm.elapsedMs;
    opts.log(`  · ${spec} login storm: ${fmtInt(loginsPerSec)} logins/s ${JSON.stringify(storm.statuses)}`);
    return {
      target: spec,
      argon2: pw.argon2,
      hashConcurrency,
      idle,
      idleStats,
      rawBefore,
      rawAfter,
      raw,
      ceilingMs,
      storm,
      stormStats: s1,
      stormCpuUs: s1.cpuUs - s0.cpuUs,
      wallMs,
      loginsPerSec,
    };
  } finally {
    await target.stop();
  }
}

export function loginTable(results: LoginResult[], opts: LoginOptions): string {
  const lines: string[] = [];
  for (const r of results) {
    const { type: _t, ...params } = r.argon2;
    lines.push(
      `${r.target}: argon2id parameters (ARGON2_OPTIONS): ${JSON.stringify(params)}; hashing bounded to ` +
        `${r.hashConcurrency} at a time`,
    );
  }
  const prefix = (r: LoginResult) => (results.length > 1 ? `${r.target}: ` : '');
  lines.push(
    table(
      [
        'measure',
        'logins/s',
        'login p50 ms',
        'login p99 ms',
        'GET / p50 ms',
        'GET / p99 ms',
        'eld p50 ms',
        'eld p99 ms',
        'eld max ms',
        'srv CPU%',
        'statuses',
      ],
      results.flatMap((r) => [
        [
          `${prefix(r)}idle server`,
          '-',
          '-',
          '-',
          ms(r.idle.probe.p50),
          ms(r.idle.probe.p99),
          fmtNum(r.idleStats.eld!.p50, 2),
          fmtNum(r.idleStats.eld!.p99, 2),
          fmtNum(r.idleStats.eld!.max, 1),
          '-',
          '-',
        ],
        [
          `${prefix(r)}argon2.verify ×${r.hashConcurrency}, no HTTP (ceiling; before/after: ` +
            `${fmtInt(r.rawBefore.perSec)}/${fmtInt(r.rawAfter.perSec)})`,
          fmtInt(r.raw.perSec),
          '-',
          '-',
          '-',
          '-',
          '-',
          fmtNum(r.raw.eldP99, 2),
          '-',
          fmtInt((r.raw.cpuUs / 1000 / r.ceilingMs) * 100),
          '-',
        ],
        [
          `${prefix(r)}storm: ${opts.concurrency} concurrent, ${fmtNum(r.storm.elapsedMs / 1000, 1)} s`,
          fmtInt(r.loginsPerSec),
          ms(r.storm.latency.p50),
          ms(r.storm.latency.p99),
          ms(r.storm.probe.p50),
          ms(r.storm.probe.p99),
          fmtNum(r.stormStats.eld!.p50, 2),
          fmtNum(r.stormStats.eld!.p99, 2),
          fmtNum(r.stormStats.eld!.max, 1),
          fmtInt((r.stormCpuUs / 1000 / r.wallMs) * 100),
          JSON.stringify(r.storm.statuses),
        ],
      ]),
    ),
  );
  for (const r of results)
    lines.push(
      `${prefix(r)}logins/s vs ceiling: ${fmtNum(r.loginsPerSec / r.raw.perSec, 2)}× (logins/s counts 200 ` +
        `answers only; the storm's own length includes its last in-flight logins)`,
    );
  return lines.join('\n');
}
