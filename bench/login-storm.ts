// Login storm (issue 2): 200 concurrent logins, repeated for a few seconds, against the broker in its own
// process. Beside it, in the same run: the server's idle event-loop delay, and the ceiling for logins
// (argon2.verify with the same parameters, HASH_CONCURRENCY at a time, in the server process with no HTTP at all).
import { ARGON2_OPTIONS, HASH_CONCURRENCY } from '../src/auth/passwords.js';
import type { Peer } from './lib/ipc.js';
import { fmtInt, fmtNum, ms, sleep, table } from './lib/stats.js';
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

export async function loginStorm(opts: LoginOptions, loadgen: Peer): Promise<string> {
  const target = await startNodeTarget('broker');
  try {
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
    const idle = await loadgen.call<LoopResult>('loop', { url: target.url, path: '/', headers: {}, bodies: ['{}'], concurrency: 1, durationMs: 1000, maxRequests: 0, probeMs: 20 });
    const idleStats = await target.stats(true);
    // Ceiling: raw argon2.verify, HASH_CONCURRENCY at a time (the server's semaphore), no HTTP.
    type Raw = { verifies: number; perSec: number; cpuUs: number; eldP99: number };
    const ceilingMs = Math.min(3000, opts.durationMs);
    const rawBefore = await target.peer!.call<Raw>('argon2', { durationMs: ceilingMs, concurrency: HASH_CONCURRENCY });
    await sleep(200);
    // The storm.
    const s0 = await target.stats(true);
    const w0 = performance.now();
    const storm = await loadgen.call<LoopResult>(
      'loop',
      { url: target.url, path: '/login', headers: {}, bodies: users, bodyPerWorker: true, concurrency: opts.concurrency, durationMs: opts.durationMs, maxRequests: 1_000_000, probeMs: 20 },
      opts.durationMs + 60_000,
    );
    const s1 = await target.stats();
    const wall = performance.now() - w0;
    // The ceiling again after the storm: the machine is shared, so keep the better of the two.
    const rawAfter = await target.peer!.call<Raw>('argon2', { durationMs: ceilingMs, concurrency: HASH_CONCURRENCY });
    const raw = rawAfter.perSec > rawBefore.perSec ? rawAfter : rawBefore;
    // Only successful logins count.
    const loginsPerSec = ((storm.statuses['200'] ?? 0) * 1000) / storm.elapsedMs;
    opts.log(`  · login storm: ${fmtInt(loginsPerSec)} logins/s ${JSON.stringify(storm.statuses)}`);
    const { type: _t, ...params } = ARGON2_OPTIONS;
    const lines = [
      `argon2id parameters (ARGON2_OPTIONS): ${JSON.stringify(params)}; hashing bounded to ${HASH_CONCURRENCY} at a time`,
      table(
        ['measure', 'logins/s', 'login p50 ms', 'login p99 ms', 'GET / p50 ms', 'GET / p99 ms', 'eld p50 ms', 'eld p99 ms', 'eld max ms', 'srv CPU%', 'statuses'],
        [
          ['idle server', '-', '-', '-', ms(idle.probe.p50), ms(idle.probe.p99), fmtNum(idleStats.eld!.p50, 2), fmtNum(idleStats.eld!.p99, 2), fmtNum(idleStats.eld!.max, 1), '-', '-'],
          [`argon2.verify ×${HASH_CONCURRENCY}, no HTTP (ceiling; before/after: ${fmtInt(rawBefore.perSec)}/${fmtInt(rawAfter.perSec)})`, fmtInt(raw.perSec), '-', '-', '-', '-', '-', fmtNum(raw.eldP99, 2), '-', fmtInt((raw.cpuUs / 1000 / ceilingMs) * 100), '-'],
          [
            `storm: ${opts.concurrency} concurrent, ${fmtNum(storm.elapsedMs / 1000, 1)} s`,
            fmtInt(loginsPerSec),
            ms(storm.latency.p50),
            ms(storm.latency.p99),
            ms(storm.probe.p50),
            ms(storm.probe.p99),
            fmtNum(s1.eld!.p50, 2),
            fmtNum(s1.eld!.p99, 2),
            fmtNum(s1.eld!.max, 1),
            fmtInt(((s1.cpuUs - s0.cpuUs) / 1000 / wall) * 100),
            JSON.stringify(storm.statuses),
          ],
        ],
      ),
      `logins/s vs ceiling: ${fmtNum(loginsPerSec / raw.perSec, 2)}× (logins/s counts 200 answers only; the storm's own length includes its last in-flight logins)`,
    ];
    return lines.join('\n');
  } finally {
    await target.stop();
  }
}
