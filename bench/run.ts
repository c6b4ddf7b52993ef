// `npm run bench [-- --quick] [-- --only login|fanout|apps|topics]
//   [-- --targets baseline,broker,broker@shm] [-- --no-nchan]
//   [-- --compare <git ref> | --old-ref <git ref> | --old <dir>] [-- --tolerance 0.2] [-- --repeat N]
//   [-- --set name=value,...] [-- --cluster]`
// Benchmarks print figures beside a baseline measured in the same run: they are not tests, and the
// machine is shared, so compare the ratios and the CPU cost per unit, not the raw rates.
import { execFileSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { compareFanout, compareLogin, compareVerdict, RATIO_NOTE, type Check } from './compare.js';
import { appsBench } from './apps.js';
import { clusterBench } from './cluster.js';
import { fanout, fanoutTables, type FanoutOptions } from './fanout.js';
import { flag, has, list, numFlag } from './lib/args.js';
import { loginStorm, loginTable, type LoginOptions } from './login-storm.js';
import { nchanAvailable } from './lib/nchan.js';
import { oldBuildFromArgs } from './lib/old-build.js';
import { withOldTwins } from './lib/spec.js';
import { fmtNum, kib } from './lib/stats.js';
import { setBrokerSettings, setOldBuild, startLoadgen } from './lib/targets.js';

const quick = has('quick');
// --cluster alone runs only the cluster rows (they start 7 processes of their own).
const only = list(flag('only')) ?? (has('cluster') ? [] : ['login', 'fanout', 'apps', 'topics']);
const log = (line: string) => process.stderr.write(`${line}\n`);

async function main() {
  const started = Date.now();
  console.log(`# Broker bench${quick ? ' (--quick)' : ''} — ${new Date().toISOString()}`);
  console.log(
    `node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  console.log(`source: ${gitState()}`);
  // Built before anything is measured, so that compiling does not load the machine during a row.
  const old = oldBuildFromArgs(log);
  setOldBuild(old);
  setBrokerSettings(settings(list(flag('set')) ?? []));
  if (old) console.log(`old build (broker@old): ${old.label}, dist ${old.dist}`);
  console.log('server under test and load generator each run in their own process; all traffic on loopback\n');
  // Same build against itself on this shared machine: CPU per unit within ~20% row by row.
  const tolerance = numFlag('tolerance', 0.2);
  const checks: Check[] = [];
  const loadgen = await startLoadgen();
  try {
    if (only.includes('login')) {
      console.log('## Login storm (issue 2)');
      const lopts: LoginOptions = { concurrency: 200, durationMs: quick ? 2000 : 5000, users: 200, log };
      const results = [];
      for (const spec of old ? ['broker', 'broker@old'] : ['broker'])
        results.push(await loginStorm(lopts, loadgen, spec));
      console.log(loginTable(results, lopts));
      const cmp = compareLogin(results);
      if (cmp.text) console.log(`\n${RATIO_NOTE}\n${cmp.text}`);
      checks.push(...cmp.checks);
      console.log('');
    }
    if (only.includes('fanout')) {
      const why = has('no-nchan') ? 'disabled by --no-nchan' : nchanAvailable();
      const opts: FanoutOptions = {
        subs: (list(flag('subs')) ?? (quick ? ['1000'] : ['1000', '5000'])).map(Number),
        rates: (list(flag('rates')) ?? (quick ? ['100', 'max'] : ['100', '1000', 'max']))
          .filter((r) => r !== 'none')
          .map((r) => (r === 'max' ? 0 : Number(r))),
        durationMs: Number(flag('duration') ?? (quick ? 1500 : 4000)),
        targets: ((t) => (old ? withOldTwins(t) : t))(
          list(flag('targets')) ?? ['baseline', 'broker', ...(why ? [] : ['nchan'])],
        ),
        concurrency: Number(flag('concurrency') ?? 32),
        window: Number(flag('window') ?? 64),
        padBytes: 40,
        maxEvents: 200_000,
        insertClients: 64,
        insertMs: quick ? 1500 : 4000,
        // Beside an old build, twice: the comparison takes each target's better run (see compare.ts).
        repeat: Math.max(1, numFlag('repeat', old ? 2 : 1)),
        log,
      };
      console.log('## SSE fan-out (issue 3)');
      if (why) console.log(`nchan peer skipped: ${why}`);
      const res = await fanout(opts, loadgen);
      console.log(fanoutTables(res, opts));
      const cmp = compareFanout(res);
      if (cmp.text) console.log(`\n${RATIO_NOTE}\n${cmp.text}`);
      checks.push(...cmp.checks);
      console.log('');
      console.log(verdict(res));
    }
    if (only.includes('apps')) {
      console.log('## Apps: POST /count and POST /crash with an API key (issue 11)');
      console.log(await appsBench({ clients: 64, durationMs: quick ? 1500 : 4000, log }, loadgen));
      console.log('');
    }
    if (has('cluster')) {
      console.log('## Cluster: 3 Broker nodes on 3 nats-servers (R3) beside 1 node, on this machine (issue 14)');
      const copts = { writers: 32, durationMs: quick ? 2000 : 5000, subsPerNode: quick ? 50 : 200, events: 100, log };
      console.log(await clusterBench(copts));
      console.log('');
    }
    if (only.includes('topics')) {
      // Its own process: it starts its own broker and holds thousands of WebSocket and SSE clients.
      const args = quick ? ['--subs', '1000', '--duration', '2000'] : [];
      execFileSync(process.execPath, [join(import.meta.dirname, 'topics.js'), ...args], { stdio: 'inherit' });
    }
  } finally {
    await loadgen.stop();
  }
  if (old) console.log(`\n${compareVerdict(checks, tolerance, old.label)}`);
  console.log(`\n(bench took ${fmtNum((Date.now() - started) / 1000, 0)} s)`);
}

/** `--set a=1,b=x` → { a: '1', b: 'x' } (resolveConfig parses strings as the CLI's do). */
function settings(pairs: string[]): Record<string, string> {
  return Object.fromEntries(
    pairs.map((kv) => {
      const eq = kv.indexOf('=');
      if (eq <= 0) throw new Error(`--set ${kv}: expected name=value`);
      return [kv.slice(0, eq), kv.slice(eq + 1)];
    }),
  );
}

/** Which source was measured: the commit, and whether src/ had uncommitted changes when it was built. */
function gitState(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.trim());
    return `${head}${dirty.length ? ` + uncommitted changes in ${dirty.map((l) => l.slice(3)).join(', ')}` : ''}`;
  } catch {
    return 'unknown (no git)';
  }
}

function verdict(res: Awaited<ReturnType<typeof fanout>>): string {
  const lines = ['## Targets (issue 3; 2 cores, loopback)'];
  const perCore = (target: string, subs: number, rate: number) => {
    const x = res.rows.find((r) => r.target === target && r.subs === subs && r.rate === rate);
    return x ? x.r.received / (x.serverCpuUs / 1e6) : NaN;
  };
  const brokers = [...new Set(res.rows.map((r) => r.target).filter((t) => t.startsWith('broker')))];
  const mark = (ok: boolean) => (ok ? 'MET   ' : 'MISSED');
  for (const b of brokers) {
    const ratios = res.rows
      .filter((r) => r.target === b)
      .map((r) => ({ r, ratio: perCore(b, r.subs, r.rate) / perCore('baseline', r.subs, r.rate) }));
    const worst = ratios.filter((x) => Number.isFinite(x.ratio)).sort((a, c) => a.ratio - c.ratio)[0];
    if (worst)
      lines.push(
        `${mark(worst.ratio >= 0.75)} ${b}: deliveries per server-core-second ≥ 0.75× baseline — worst ` +
          `${fmtNum(worst.ratio, 2)}× (${worst.r.subs} subs, ${worst.r.rate || 'max'}${worst.r.rate ? '/s' : ''})`,
      );
    const p = res.rows.find((r) => r.target === b && r.subs === 1000 && r.rate === 100);
    if (p)
      lines.push(
        `${mark(p.r.latency.p99 <= 35_000)} ${b}: p99 ≤ 35 ms at 1,000 subscribers × 100 events/s — ` +
          `${fmtNum(p.r.latency.p99 / 1000, 1)} ms`,
      );
    const lossy = res.rows.filter((r) => r.target === b && (r.r.lost > 0 || r.r.dup > 0));
    lines.push(
      `${mark(lossy.length === 0)} ${b}: 0 lost, 0 duplicated frames` +
        (lossy.length
          ? ` — ${lossy.map((r) => `${r.subs}/${r.rate || 'max'}: lost ${r.r.lost} dup ${r.r.dup}`).join(', ')}`
          : ''),
    );
    for (const c of res.connects.filter((c) => c.target === b)) {
      if (c.failed > 0) lines.push(`MISSED ${b}: ${c.failed} of ${c.subs} streams failed to connect`);
      if (c.ok > 0)
        lines.push(
          `${mark(c.rssPerStream <= 20 * 1024)} ${b}: ≤ 20 KiB RSS per idle stream — ${kib(c.rssPerStream)} KiB ` +
            `at ${c.ok}`,
        );
      if (c.subs >= 5000)
        lines.push(
          `${mark(c.ms < 1500 && c.failed === 0)} ${b}: 5,000 streams connected in < 1.5 s — ${c.ok} in ` +
            `${fmtNum(c.ms / 1000, 2)} s`,
        );
    }
  }
  return lines.join('\n');
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
