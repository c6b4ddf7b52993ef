// The server under test, in its own process: `node dist/bench/server-child.js <broker|broker@shm|baseline>`.
// Reports its own CPU time (process.cpuUsage), RSS and event-loop delay (monitorEventLoopDelay) over IPC,
// so that the load generator's CPU never counts as the server's.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import argon2 from 'argon2';
import { resolveConfig } from '../src/config.js';
import { start, type RunningServer } from '../src/server.js';
import { ARGON2_OPTIONS } from '../src/auth/passwords.js';
import { startBaseline, type BaselineHub } from './lib/baseline-hub.js';
import { serve } from './lib/ipc.js';
import type { ServerStats } from './lib/stats.js';

import { BENCH_ADMIN } from './lib/constants.js';

const spec = process.argv[2] ?? 'broker';
// broker@shm: the database on tmpfs (/dev/shm), so fsync costs nothing: separates the hub from the disk.
const [kind, where] = spec.split('@') as [string, string | undefined];
const overrides = process.argv[3] ? (JSON.parse(process.argv[3]) as Record<string, unknown>) : {};

const eld = monitorEventLoopDelay({ resolution: 1 });
eld.enable();

let broker: RunningServer | undefined;
let baseline: BaselineHub | undefined;
let dir: string | undefined;
let url: string;

if (kind === 'baseline') {
  baseline = await startBaseline();
  url = baseline.url;
} else {
  dir = mkdtempSync(join(where === 'shm' ? '/dev/shm' : tmpdir(), 'broker-bench-'));
  const config = resolveConfig({
    port: 0,
    host: '127.0.0.1',
    db: join(dir, 'db'),
    admin_token: BENCH_ADMIN,
    jwt_secret: 'bench-jwt-secret-0123456789abcdef',
    log_level: 'silent',
    // One bench user holds every stream; per-IP limits would throttle a load generator on one host.
    max_streams_per_user: 100_000,
    login_rate_limit: 1_000_000_000,
    admin_rate_limit: 1_000_000_000,
    // One bench tenant inserts at full speed; the per-tenant limits are for many tenants sharing a broker.
    tenant_insert_rate: 0,
    tenant_quota: 0,
    ...overrides,
  });
  broker = await start(config);
  url = broker.url;
}

function stats(reset: boolean): ServerStats {
  const cpu = process.cpuUsage();
  const mem = process.memoryUsage();
  const out: ServerStats = {
    cpuUs: cpu.user + cpu.system,
    rss: mem.rss,
    heapUsed: mem.heapUsed,
    external: mem.external,
    eld: { p50: eld.percentile(50) / 1e6, p99: eld.percentile(99) / 1e6, max: eld.max / 1e6 },
    deliveries: broker?.services.hub.deliveries,
  };
  if (reset) eld.reset();
  return out;
}

serve({
  stats: (args?: { reset?: boolean }) => stats(Boolean(args?.reset)),
  gc: async () => {
    const g = (globalThis as { gc?: () => void }).gc;
    if (g) {
      g();
      await new Promise((r) => setTimeout(r, 50));
      g();
    }
    return process.memoryUsage().rss;
  },
  heapAfterGc: async () => {
    const g = (globalThis as { gc?: () => void }).gc;
    if (g) g();
    const m = process.memoryUsage();
    return { rss: m.rss, heapUsed: m.heapUsed, external: m.external };
  },
  streams: () => (broker ? broker.services.hub.size : baseline!.subscribers.size),
  /** The ceiling for logins: argon2.verify with the server's parameters, `concurrency` at a time (login-storm
   *  passes HASH_CONCURRENCY, the server's bound), in this process. */
  argon2: async (args: { durationMs: number; concurrency: number }) => {
    const hash = await argon2.hash('correct horse battery staple', ARGON2_OPTIONS);
    eld.reset();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    let done = 0;
    await Promise.all(
      Array.from({ length: args.concurrency }, async () => {
        while (performance.now() - t0 < args.durationMs && done < 100_000) {
          await argon2.verify(hash, 'correct horse battery staple');
          done++;
        }
      }),
    );
    const elapsed = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    return { verifies: done, perSec: (done * 1000) / elapsed, cpuUs: cpu.user + cpu.system, eldP99: eld.percentile(99) / 1e6 };
  },
  stop: async () => {
    setTimeout(() => process.exit(0), 100);
    await (broker?.close() ?? baseline?.close());
    if (dir) rmSync(dir, { recursive: true, force: true });
    return true;
  },
});

process.send?.({ ready: true, url, pid: process.pid, kind });
