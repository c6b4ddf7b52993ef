// `npm run bench -- --only apps`: requests/s of POST /count and POST /crash with 64 clients and a valid
// API key, beside a bare fastify's empty POST measured in the same run (aim: ≥ 0.5× of it).
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { BENCH_ADMIN } from './lib/constants.js';
import { Peer, spawnChild } from './lib/ipc.js';
import { fmtInt, fmtNum, ms, table } from './lib/stats.js';
import { startNodeTarget } from './lib/targets.js';

const FASTIFY_CHILD = join(dirname(fileURLToPath(import.meta.url)), 'fastify-child.js');

export interface AppsOptions {
  clients: number;
  durationMs: number;
  log: (line: string) => void;
}

interface Row {
  what: string;
  perSec: number;
  p50: number;
  p99: number;
  statuses: Record<string, number>;
}

type Loop = { perSec: number; statuses: Record<string, number>; latency: { p50: number; p99: number } };

export async function appsBench(opts: AppsOptions, loadgen: Peer): Promise<string> {
  const rows: Row[] = [];
  const loop = async (what: string, url: string, path: string, headers: Record<string, string>, bodies: string[]) => {
    const l = await loadgen.call<Loop>(
      'loop',
      {
        url,
        path,
        headers,
        bodies,
        concurrency: opts.clients,
        durationMs: opts.durationMs,
        maxRequests: 2_000_000,
        probeMs: 0,
      },
      opts.durationMs + 60_000,
    );
    rows.push({ what, perSec: l.perSec, p50: l.latency.p50, p99: l.latency.p99, statuses: l.statuses });
    opts.log(`  · ${what}: ${fmtInt(l.perSec)}/s ${JSON.stringify(l.statuses)}`);
  };

  const fastify = new Peer(spawnChild(FASTIFY_CHILD), 'fastify');
  const ready = await fastify.waitFor((m) => m.ready === true, 30_000);
  try {
    await loop('fastify empty POST', String(ready.url), '/empty', {}, ['{}']);
  } finally {
    await fastify.stop();
  }

  // The per-key crash limit is for hostile clients; the bench measures the route's own cost.
  const broker = await startNodeTarget('broker', 'broker', { crash_rate_limit: 0 });
  try {
    const admin = async (path: string, body: object) => {
      const res = await fetch(`${broker.url}${path}`, {
        method: 'POST',
        body: JSON.stringify({ admin_token: BENCH_ADMIN, ...body }),
      });
      if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
      return res.json() as Promise<{ key: string }>;
    };
    await admin('/create_app', { app_id: 'bench' });
    const { key } = await admin('/create_api_key', { app_id: 'bench', permissions: { count: true, crash: true } });
    const headers = { 'x-api-key': key, 'content-type': 'application/json' };
    const counts = Array.from({ length: 64 }, (_, n) => JSON.stringify({ id: '', platform: `p${n % 4}` }));
    await loop('broker POST /count', broker.url, '/count', headers, counts);
    // 64 kinds of crash in 8 reports: the dedupe path (a count increment) with some new individuals.
    const crashes = Array.from({ length: 64 }, (_, n) =>
      JSON.stringify({ platform: 'ios', version: String(n % 8), error: `E${n % 8}`, stack: `at f (a.js:${n})\nat g` }),
    );
    await loop('broker POST /crash', broker.url, '/crash', headers, crashes);
  } finally {
    await broker.stop();
  }

  const base = rows[0].perSec;
  return table(
    ['route', `requests/s (${opts.clients} clients)`, '× fastify', 'p50 ms', 'p99 ms', 'statuses'],
    rows.map((r) => [
      r.what,
      fmtInt(r.perSec),
      fmtNum(r.perSec / base, 2),
      ms(r.p50),
      ms(r.p99),
      JSON.stringify(r.statuses),
    ]),
  );
}
