// Soak (issue 6), run by hand: 5,000 SSE streams held for N minutes with inserts flowing; prints the
// server's RSS every 30 s and flags growth after warm-up. Lost/duplicated frames are checked at the end.
//   npm run build && node dist/bench/soak.js --minutes 10 [--subs 5000] [--rate 10] [--interval 30]
//     [--warmup <minutes>] [--target broker|broker@shm|baseline|broker@old] [--old-ref <git ref> | --old <dir>]
import { numFlag, strFlag } from './lib/args.js';
import { LOCAL_ADDRESSES } from './lib/constants.js';
import { fmtInt, fmtNum, mib, ms, sleep, table } from './lib/stats.js';
import { oldBuildFromArgs } from './lib/old-build.js';
import { setOldBuild, startLoadgen, startNodeTarget } from './lib/targets.js';
import type { RunResult } from './loadgen.js';

const minutes = numFlag('minutes', 10);
const subs = numFlag('subs', 5000);
const rate = numFlag('rate', 10);
const intervalS = numFlag('interval', 30);
const warmupMin = numFlag('warmup', Math.min(2, minutes * 0.2));
const spec = strFlag('target', 'broker');

/** Least-squares slope of y over x. */
function slope(points: Array<[number, number]>): number {
  const n = points.length;
  if (n < 2) return NaN;
  const mx = points.reduce((a, p) => a + p[0], 0) / n;
  const my = points.reduce((a, p) => a + p[1], 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? NaN : num / den;
}

async function main() {
  console.log(
    `# Soak: ${subs} SSE streams × ${rate} inserts/s for ${minutes} min against ${spec}; RSS every ${intervalS} ` +
      `s; warm-up ${fmtNum(warmupMin, 1)} min`,
  );
  console.log(`started ${new Date().toISOString()}`);
  setOldBuild(oldBuildFromArgs((line) => console.log(line)));
  const loadgen = await startLoadgen();
  const target = await startNodeTarget(spec);
  try {
    const rss0 = await target.gc();
    const c = await loadgen.call<{ ms: number; ok: number; failed: number }>(
      'connect',
      {
        group: 'soak',
        url: target.url,
        path: '/sse',
        headers: target.headers,
        n: subs,
        localAddresses: LOCAL_ADDRESSES,
        concurrency: 256,
        timeoutMs: 60_000,
      },
      120_000,
    );
    console.log(
      `connected ${c.ok}/${subs} streams in ${fmtNum(c.ms / 1000, 2)} s (${c.failed} failed); RSS ${mib(rss0)} ` +
        `→ ${mib(await target.gc())} MiB`,
    );
    let progress = { received: 0, acked: 0 };
    loadgen.on((m) => {
      if (m.progress) progress = m as unknown as typeof progress;
    });
    const durationMs = minutes * 60_000;
    const t0 = performance.now();
    const running = loadgen.call<RunResult>(
      'run',
      {
        group: 'soak',
        url: target.url,
        headers: target.headers,
        rate,
        durationMs,
        maxEvents: Math.ceil((rate * durationMs) / 1000),
        concurrency: 64,
        window: 256,
        padBytes: 40,
        drainTimeoutMs: 20_000,
        progressMs: Math.min(5000, intervalS * 1000),
      },
      durationMs * 3 + 120_000,
    );
    let done = false;
    let result: RunResult | undefined;
    void running.then(
      (r) => {
        result = r;
        done = true;
      },
      () => (done = true),
    );
    const rows: Array<Array<string | number>> = [];
    const samples: Array<[number, number]> = [];
    let last = await target.stats(true);
    let lastT = performance.now();
    let afterWarmupGc: { rss: number; heapUsed: number } | undefined;
    const header = [
      'min',
      'RSS MiB',
      'heap MiB',
      'external MiB',
      'streams',
      'acked',
      'frames received',
      'srv CPU%',
      'eld p99 ms',
    ];
    console.log(header.join('  '));
    for (let i = 1; !done && i <= Math.ceil((durationMs + 60_000) / (intervalS * 1000)); i++) {
      const wakeAt = t0 + i * intervalS * 1000;
      while (!done && performance.now() < wakeAt) await sleep(Math.min(500, wakeAt - performance.now()));
      if (done) break;
      const s = await target.stats(true);
      const now = performance.now();
      const minute = (now - t0) / 60_000;
      const streams = await target.streams();
      const row = [
        fmtNum(minute, 1),
        mib(s.rss),
        mib(s.heapUsed ?? 0),
        mib(s.external ?? 0),
        streams ?? '-',
        fmtInt(progress.acked),
        fmtInt(progress.received),
        fmtInt(((s.cpuUs - last.cpuUs) / 1000 / (now - lastT)) * 100),
        fmtNum(s.eld?.p99 ?? NaN, 1),
      ];
      rows.push(row);
      console.log(row.join('  '));
      if (minute >= warmupMin) samples.push([minute, s.rss / 1048576]);
      if (!afterWarmupGc && minute >= warmupMin) {
        afterWarmupGc = await target.peer!.call<{ rss: number; heapUsed: number }>('heapAfterGc');
        console.log(
          `  (warm-up over: after a full GC, RSS ${mib(afterWarmupGc.rss)} MiB, heap ` +
            `${mib(afterWarmupGc.heapUsed)} MiB)`,
        );
      }
      last = s;
      lastT = now;
    }
    await running.catch(() => {});
    const endGc = await target.peer!.call<{ rss: number; heapUsed: number }>('heapAfterGc');
    console.log('');
    console.log(table(header, rows));
    console.log('');
    if (result) {
      console.log(
        `inserts acked ${fmtInt(result.acked)} (${result.errors} errors); frames received ` +
          `${fmtInt(result.received)} of ${fmtInt(result.expected)}; ` +
          `lost ${result.lost}, duplicated ${result.dup}, streams cut ${result.cut}; latency p50 ` +
          `${ms(result.latency.p50)} ms, p99 ${ms(result.latency.p99)} ms, max ${ms(result.latency.max)} ms`,
      );
    }
    const k = slope(samples);
    const first = samples[0]?.[1] ?? NaN;
    const lastRss = samples[samples.length - 1]?.[1] ?? NaN;
    console.log(
      `after warm-up: RSS ${fmtNum(first, 1)} → ${fmtNum(lastRss, 1)} MiB, slope ${fmtNum(k, 2)} MiB/min over ` +
        `${samples.length} samples; ` +
        `after a full GC: RSS ${afterWarmupGc ? mib(afterWarmupGc.rss) : '-'} → ${mib(endGc.rss)} MiB, heap ` +
        `${afterWarmupGc ? mib(afterWarmupGc.heapUsed) : '-'} → ${mib(endGc.heapUsed)} MiB`,
    );
    const heapGrowth = afterWarmupGc ? (endGc.heapUsed - afterWarmupGc.heapUsed) / 1048576 : NaN;
    // RSS saws up and down as V8 grows and releases pages (a period of minutes), so a slope over a
    // window that ends on a peak says little. Growth is flagged when the troughs rise: the lowest RSS of
    // the second half of the post-warm-up samples above the lowest of the first half by more than 10%,
    // or when the heap after a full GC grew by more than 10 MiB.
    const half = Math.floor(samples.length / 2);
    const trough1 = Math.min(...samples.slice(0, half).map((p) => p[1]));
    const trough2 = Math.min(...samples.slice(half).map((p) => p[1]));
    const troughRise = (trough2 - trough1) / trough1;
    const growing = (samples.length >= 4 && troughRise > 0.1) || heapGrowth > 10;
    const peak = Math.max(...samples.map((p) => p[1]));
    console.log(
      `RSS after warm-up: min ${fmtNum(Math.min(trough1, trough2), 1)}, max ${fmtNum(peak, 1)} MiB; lowest RSS ` +
        `first half ${fmtNum(trough1, 1)} → second half ${fmtNum(trough2, 1)} MiB ` +
        `(${fmtNum(troughRise * 100, 1)}%, limit 10%); ` +
        `heap after a full GC ${fmtNum(heapGrowth, 1)} MiB (limit 10)`,
    );
    console.log(growing ? 'GROWTH FLAGGED' : 'flat after warm-up');
    if (result && (result.lost > 0 || result.dup > 0)) console.log('LOSS OR DUPLICATION FLAGGED');
  } finally {
    await loadgen.stop();
    await target.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
