// The current build beside an old one measured in the same run (`broker` vs `broker@old`): every figure as
// current ÷ old, row by row, and a verdict on the server's CPU per unit of work (per delivery, per insert,
// per login) and on losses. Rates and latencies are shown but not judged: on a shared
// machine they follow the other processes' load (the other CPU% column), while CPU per unit moves little.
import type { fanout, FanoutRow } from './fanout.js';
import type { LoginResult } from './login-storm.js';
import { currentOf, isOld } from './lib/spec.js';
import { fmtNum, table } from './lib/stats.js';

type FanoutResult = Awaited<ReturnType<typeof fanout>>;

const ratio = (cur: number, old: number) =>
  Number.isFinite(cur) && Number.isFinite(old) && old !== 0 ? cur / old : NaN;
const r2 = (x: number) => fmtNum(x, 2);
const rateName = (r: number) => (r > 0 ? `${r}/s` : 'max');
const perSec = (x: FanoutRow) => x.r.received / (x.r.deliverMs / 1000);
const usPerDeliv = (x: FanoutRow) => x.serverCpuUs / Math.max(1, x.r.received);

export const RATIO_NOTE =
  "ratios are current ÷ old, same run (with --repeat, each target's run with the least CPU per unit): above 1 " +
  'is better for /s figures, below 1 is better for µs, ms and KiB';

export interface Check {
  what: string;
  value: number;
  /** 'min': must be ≥ 1 − tol; 'max': must be ≤ 1 + tol */
  bound: 'min' | 'max';
  /** with --repeat: how far the runs of one build differ (largest ÷ smallest cost, the worse of the two builds) */
  spread?: number;
}

export interface Comparison {
  text: string;
  checks: Check[];
}

/**
 * Of the --repeat runs of one row, the one with the least CPU per unit: the machine is shared, and other
 * processes only ever add to a run's cost (cache, scheduling, a starved load generator), never remove.
 */
function best<T>(runs: T[], cost: (x: T) => number): T | undefined {
  return runs.reduce<T | undefined>((a, x) => (a === undefined || cost(x) < cost(a) ? x : a), undefined);
}

/** Largest ÷ smallest cost among the runs of one build: the machine's noise, measured in the same run. */
function spreadOf<T>(runs: T[], cost: (x: T) => number): number {
  const v = runs.map(cost).filter(Number.isFinite);
  return v.length > 1 ? Math.max(...v) / Math.min(...v) : NaN;
}

export function compareFanout(res: FanoutResult): Comparison {
  const out: string[] = [];
  const checks: Check[] = [];
  const runs = (target: string, subs: number, rate: number) =>
    res.rows.filter((x) => x.target === target && x.subs === subs && x.rate === rate);
  const row = (target: string, subs: number, rate: number) => best(runs(target, subs, rate), usPerDeliv);
  const lostDup = (b: FanoutRow) =>
    res.rows
      .filter((x) => x.target === b.target && x.subs === b.subs && x.rate === b.rate)
      .reduce((n, x) => n + x.r.lost + x.r.dup, 0);
  const olds = res.rows.filter((x) => isOld(x.target) && x.rep === 0);
  const pairs = olds.flatMap((first) => {
    const o = row(first.target, first.subs, first.rate)!;
    const c = row(currentOf(o.target), o.subs, o.rate);
    return c ? [{ c, o }] : [];
  });
  if (pairs.length === 0) return { text: '', checks };
  out.push(
    table(
      [
        'current / old',
        'subs',
        'offered',
        'deliveries/s',
        'p50',
        'p99',
        'ins p50',
        'ins p99',
        'µs/deliv',
        'eld p99',
        'lost+dup cur/old (all runs)',
        'other CPU% cur/old',
      ],
      pairs.map(({ c, o }) => {
        const name = `${c.target} / ${o.target}`;
        // Any run's losses count, not only the best one's.
        const lossy = res.rows.filter(
          (x) => x.target === c.target && x.subs === c.subs && x.rate === c.rate && x.r.lost + x.r.dup > 0,
        );
        const cost = ratio(usPerDeliv(c), usPerDeliv(o));
        const spread = Math.max(
          spreadOf(runs(c.target, c.subs, c.rate), usPerDeliv),
          spreadOf(runs(o.target, o.subs, o.rate), usPerDeliv),
        );
        checks.push({
          what: `${name} ${c.subs} subs ${rateName(c.rate)}: srv µs/delivery`,
          value: cost,
          bound: 'max',
          spread,
        });
        for (const x of lossy)
          checks.push({
            what: `${name} ${x.subs} subs ${rateName(x.rate)} run ${x.rep + 1}: lost ${x.r.lost} dup ${x.r.dup}`,
            value: Infinity,
            bound: 'max',
          });
        return [
          name,
          c.subs,
          rateName(c.rate),
          r2(ratio(perSec(c), perSec(o))),
          r2(ratio(c.r.latency.p50, o.r.latency.p50)),
          r2(ratio(c.r.latency.p99, o.r.latency.p99)),
          r2(ratio(c.r.insertLatency.p50, o.r.insertLatency.p50)),
          r2(ratio(c.r.insertLatency.p99, o.r.insertLatency.p99)),
          r2(cost),
          r2(ratio(c.eldP99 ?? NaN, o.eldP99 ?? NaN)),
          `${lostDup(c)}/${lostDup(o)}`,
          `${Math.max(0, Math.round(c.otherPct))}/${Math.max(0, Math.round(o.otherPct))}`,
        ];
      }),
    ),
  );
  const conns = res.connects
    .filter((x) => isOld(x.target))
    .flatMap((o) => {
      const c = res.connects.find((x) => x.target === currentOf(o.target) && x.subs === o.subs);
      return c ? [{ c, o }] : [];
    });
  if (conns.length) {
    out.push('');
    out.push(
      table(
        [
          'current / old',
          'streams',
          'connect s',
          'srv µs/connect',
          'RSS KiB/stream',
          'heap KiB/stream',
          'failed cur/old',
        ],
        conns.map(({ c, o }) => [
          `${c.target} / ${o.target}`,
          c.subs,
          r2(ratio(c.ms, o.ms)),
          r2(ratio(c.cpuUsPerConnect, o.cpuUsPerConnect)),
          r2(ratio(c.rssPerStream, o.rssPerStream)),
          r2(ratio(c.heapPerStream, o.heapPerStream)),
          `${c.failed}/${o.failed}`,
        ]),
      ),
    );
    for (const { c } of conns)
      if (c.failed > 0)
        checks.push({
          what: `${c.target} ${c.subs} streams: ${c.failed} failed to connect`,
          value: Infinity,
          bound: 'max',
        });
  }
  const insert = (target: string) =>
    best(
      res.inserts.filter((x) => x.target === target),
      (x) => x.serverUsPerInsert,
    );
  const ins = res.inserts
    .filter((x) => isOld(x.target) && x.rep === 0)
    .flatMap((first) => {
      const o = insert(first.target)!;
      const c = insert(currentOf(o.target));
      return c ? [{ c, o }] : [];
    });
  if (ins.length) {
    out.push('');
    out.push(
      table(
        ['current / old', 'inserts/s', 'p50', 'p99', 'srv µs/insert', 'statuses cur | old'],
        ins.map(({ c, o }) => {
          const cost = (x: (typeof res.inserts)[number]) => x.serverUsPerInsert;
          const spread = Math.max(
            spreadOf(
              res.inserts.filter((x) => x.target === c.target),
              cost,
            ),
            spreadOf(
              res.inserts.filter((x) => x.target === o.target),
              cost,
            ),
          );
          checks.push({
            what: `${c.target} / ${o.target}: srv µs/insert`,
            value: ratio(c.serverUsPerInsert, o.serverUsPerInsert),
            bound: 'max',
            spread,
          });
          return [
            `${c.target} / ${o.target}`,
            r2(ratio(c.perSec, o.perSec)),
            r2(ratio(c.p50, o.p50)),
            r2(ratio(c.p99, o.p99)),
            r2(ratio(c.serverUsPerInsert, o.serverUsPerInsert)),
            `${JSON.stringify(c.statuses)} | ${JSON.stringify(o.statuses)}`,
          ];
        }),
      ),
    );
  }
  return { text: out.join('\n'), checks };
}

export function compareLogin(results: LoginResult[]): Comparison {
  const checks: Check[] = [];
  const pairs = results
    .filter((x) => isOld(x.target))
    .flatMap((o) => {
      const c = results.find((x) => x.target === currentOf(o.target));
      return c ? [{ c, o }] : [];
    });
  if (pairs.length === 0) return { text: '', checks };
  const usPerLogin = (r: LoginResult) => r.stormCpuUs / Math.max(1, r.storm.statuses['200'] ?? 0);
  const text = table(
    [
      'current / old',
      'logins/s',
      'vs ceiling',
      'srv µs/login',
      'login p50',
      'login p99',
      'GET / p50',
      'GET / p99',
      'eld p99',
      'ceiling (machine)',
    ],
    pairs.map(({ c, o }) => {
      // Logins/s follow the argon2 ceiling, which follows the machine's load: judge the CPU per login.
      const cost = ratio(usPerLogin(c), usPerLogin(o));
      checks.push({ what: `${c.target} / ${o.target}: srv µs per successful login`, value: cost, bound: 'max' });
      return [
        `${c.target} / ${o.target}`,
        r2(ratio(c.loginsPerSec, o.loginsPerSec)),
        r2(ratio(c.loginsPerSec / c.raw.perSec, o.loginsPerSec / o.raw.perSec)),
        r2(cost),
        r2(ratio(c.storm.latency.p50, o.storm.latency.p50)),
        r2(ratio(c.storm.latency.p99, o.storm.latency.p99)),
        r2(ratio(c.storm.probe.p50, o.storm.probe.p50)),
        r2(ratio(c.storm.probe.p99, o.storm.probe.p99)),
        r2(ratio(c.stormStats.eld!.p99, o.stormStats.eld!.p99)),
        r2(ratio(c.raw.perSec, o.raw.perSec)),
      ];
    }),
  );
  return { text, checks };
}

/**
 * One line per judged figure outside the tolerance, or one line saying there is none. When the runs of
 * one build differ by more than the tolerance (the machine's noise, --repeat), a ratio within that
 * difference is reported as inconclusive rather than as a regression; one beyond it still counts.
 */
export function compareVerdict(checks: Check[], tolerance: number, oldLabel: string): string {
  if (checks.length === 0) return '';
  const outside = (c: Check) =>
    !Number.isFinite(c.value) || (c.bound === 'min' ? c.value < 1 - tolerance : c.value > 1 + tolerance);
  // Noise explains a ratio no further from 1 than the runs of one build are from each other.
  const noisy = (c: Check) =>
    Number.isFinite(c.value) &&
    c.spread !== undefined &&
    c.spread > 1 + tolerance &&
    c.value <= c.spread &&
    c.value >= 1 / c.spread;
  const bad = checks.filter((c) => outside(c) && !noisy(c));
  const unsure = checks.filter((c) => outside(c) && noisy(c));
  const pct = Math.round(tolerance * 100);
  const judged =
    'judged: srv µs per delivery in every row, per insert and per login; 0 lost/dup/failed; rates and latencies ' +
    'shown above';
  const line = (c: Check) => {
    const value = Number.isFinite(c.value) ? `${r2(c.value)}×` : 'failed';
    const spread =
      c.spread !== undefined && Number.isFinite(c.spread) ? ` (runs of one build differ by ${r2(c.spread)}×)` : '';
    return `  ${c.what}: ${value}${spread}`;
  };
  if (bad.length === 0 && unsure.length === 0)
    return `NO REGRESSION beside the old build (${oldLabel}): ${checks.length} figures within ${pct}% (${judged})`;
  const lines: string[] = [];
  if (bad.length)
    lines.push(
      `POSSIBLE REGRESSION beside the old build (${oldLabel}): ${bad.length} of ${checks.length} figures ` +
        `outside ${pct}% (rerun to tell noise from a change; other CPU% shows the machine's load)`,
      ...bad.map(line),
    );
  if (unsure.length)
    lines.push(
      `INCONCLUSIVE beside the old build (${oldLabel}): ${unsure.length} of ${checks.length} figures outside ` +
        `${pct}%, but the runs of one build differ by more than that here ` +
        '(machine too busy: rerun when quieter, or with --repeat 3)',
      ...unsure.map(line),
    );
  return lines.join('\n');
}
