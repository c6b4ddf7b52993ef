// The server under test, in its own process: `node dist/bench/server-child.js <spec> [overrides JSON] [dist dir]`,
// spec = baseline | broker[@tags] (tags joined by "+": shm = the database on tmpfs; old = another build).
// The broker comes from `<dist dir>/src` (default: the dist this file is in) by dynamic import, so an old
// build runs under this same harness. Reports its own CPU time (process.cpuUsage), RSS and event-loop
// delay (monitorEventLoopDelay) over IPC, so that the load generator's CPU never counts as the server's.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import argon2 from 'argon2';
import * as currentPasswords from '../src/identity/passwords.js';
import { startBaseline, type BaselineHub } from './lib/baseline-hub.js';
import { fitConfig, type KnownFlag } from './lib/broker-config.js';
import { serve } from './lib/ipc.js';
import type { ServerStats } from './lib/stats.js';
import { BENCH_ADMIN } from './lib/constants.js';
import { parseSpec } from './lib/spec.js';

type ConfigModule = typeof import('../src/config.js');
type ServerModule = typeof import('../src/server.js');
type PasswordsModule = typeof import('../src/identity/passwords.js');
/** What the harness uses of a running broker, loosely: an old build may lack a field. */
interface AnyBroker {
  url: string;
  services: { hub?: { deliveries?: number; size?: number }; metrics?: { scrape(): Promise<unknown> } };
  close(): Promise<void>;
}

const { kind, tags } = parseSpec(process.argv[2] ?? 'broker');
const overrides = process.argv[3] ? (JSON.parse(process.argv[3]) as Record<string, unknown>) : {};
const dist = process.argv[4] || join(dirname(fileURLToPath(import.meta.url)), '..');
const load = <T>(rel: string) => import(pathToFileURL(join(dist, 'src', rel)).href) as Promise<T>;

const eld = monitorEventLoopDelay({ resolution: 1 });
eld.enable();

let broker: AnyBroker | undefined;
let baseline: BaselineHub | undefined;
let dir: string | undefined;
let url: string;
let fitted: ReturnType<typeof fitConfig> | undefined;
// The build's own password parameters for the argon2 ceiling; this build's when it exports none.
let passwords: Partial<PasswordsModule> = currentPasswords;

if (kind === 'baseline') {
  baseline = await startBaseline();
  url = baseline.url;
} else {
  const { resolveConfig, FLAGS } = await load<ConfigModule>('config.js');
  const { start } = await load<ServerModule>('server.js');
  // An old build (before the identity split) keeps them in auth/.
  const own = await load<PasswordsModule>('identity/passwords.js')
    .catch(() => load<PasswordsModule>('auth/passwords.js'))
    .catch(() => ({}));
  passwords = { ...currentPasswords, ...own };
  // broker@shm: the database on tmpfs (/dev/shm), so fsync costs nothing: separates the hub from the disk.
  dir = mkdtempSync(join(tags.has('shm') ? '/dev/shm' : tmpdir(), 'broker-bench-'));
  fitted = fitConfig(
    FLAGS as readonly KnownFlag[] | undefined,
    {
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
    },
    overrides,
  );
  broker = (await start(resolveConfig(fitted.raw as Parameters<typeof resolveConfig>[0]))) as unknown as AnyBroker;
  url = broker.url;
  // A build with metrics counts all along; scraping it every 2 s (Prometheus' default is 15 s) makes the
  // scrape's own cost (streams counted, the text built) part of what the bench measures too.
  const metrics = broker.services.metrics;
  if (metrics) setInterval(() => void metrics.scrape(), 2000).unref();
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
    deliveries: broker?.services.hub?.deliveries,
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
  streams: () => (broker ? broker.services.hub?.size : baseline!.subscribers.size),
  /** The build's login parameters, for the login storm's ceiling and its header. */
  passwords: () => ({ argon2: passwords.ARGON2_OPTIONS, hashConcurrency: passwords.HASH_CONCURRENCY }),
  /** The ceiling for logins: argon2.verify with the server's parameters, `concurrency` at a time (login-storm
   *  passes HASH_CONCURRENCY, the server's bound), in this process. */
  argon2: async (args: { durationMs: number; concurrency: number }) => {
    const hash = await argon2.hash('correct horse battery staple', passwords.ARGON2_OPTIONS);
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
    return {
      verifies: done,
      perSec: (done * 1000) / elapsed,
      cpuUs: cpu.user + cpu.system,
      eldP99: eld.percentile(99) / 1e6,
    };
  },
  stop: async () => {
    setTimeout(() => process.exit(0), 100);
    await (broker?.close() ?? baseline?.close());
    if (dir) rmSync(dir, { recursive: true, force: true });
    return true;
  },
});

process.send?.({
  ready: true,
  url,
  pid: process.pid,
  kind,
  dist,
  raised: fitted?.raised ?? [],
  dropped: fitted?.dropped ?? [],
});
