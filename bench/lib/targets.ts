// A server under test, whatever it is: the broker or the baseline (Node children reporting over IPC), or
// nginx+nchan (read from /proc). Each has the same routes: GET /sse, POST /insert, GET /.
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { Peer, spawnChild } from './ipc.js';
import type { ServerStats } from './stats.js';
import { startNchan } from './nchan.js';
import { createBenchUser, loginBenchUser } from './users.js';
import type { Build } from './old-build.js';
import { isOld } from './spec.js';

const here = dirname(fileURLToPath(import.meta.url));
export const SERVER_CHILD = join(here, '..', 'server-child.js');
export const LOADGEN = join(here, '..', 'loadgen.js');

export interface Target {
  name: string;
  url: string;
  /** Headers every /sse and /insert request carries (auth). */
  headers: Record<string, string>;
  stats(reset?: boolean): Promise<ServerStats>;
  /** Collects garbage (Node servers) and returns RSS. */
  gc(): Promise<number>;
  /** JS heap in use after a full GC (Node servers only). */
  heap(): Promise<number | undefined>;
  streams(): Promise<number | undefined>;
  peer?: Peer;
  stop(): Promise<void>;
}

let oldBuild: Build | undefined;
let brokerSettings: Record<string, unknown> = {};

/** `--set name=value,...`: settings for every broker build that knows them (e.g. a limit the bench's
 *  name patterns in broker-config.ts miss). */
export function setBrokerSettings(settings: Record<string, unknown>): void {
  brokerSettings = settings;
}

/** The build that `<kind>@old` specs run (see old-build.ts). */
export function setOldBuild(build: Build | undefined): void {
  oldBuild = build;
}

export async function startNodeTarget(
  spec: string,
  name = spec,
  overrides: Record<string, unknown> = {},
): Promise<Target> {
  if (isOld(spec) && !oldBuild)
    throw new Error(`${spec}: no old build; give --compare <ref>, --old-ref <ref> or --old <dir>`);
  // BENCH_SERVER_FLAGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") profiles the server under test.
  const extra = (process.env.BENCH_SERVER_FLAGS ?? '').split(' ').filter(Boolean);
  const dist = isOld(spec) ? oldBuild!.dist : '';
  const child = spawnChild(
    SERVER_CHILD,
    [spec, JSON.stringify({ ...brokerSettings, ...overrides }), dist],
    ['--expose-gc', ...extra],
  );
  const peer = new Peer(child, name);
  const ready = await peer.waitFor((m) => m.ready === true, 30_000);
  const url = String(ready.url);
  const fitted = [
    ...((ready.raised as string[] | undefined)?.length
      ? [`limits raised for the bench's load: ${(ready.raised as string[]).join(', ')}`]
      : []),
    ...((ready.dropped as string[] | undefined)?.length
      ? [`settings this build does not know, left out: ${(ready.dropped as string[]).join(', ')}`]
      : []),
  ];
  if (fitted.length) process.stderr.write(`  · ${name}: ${fitted.join('; ')}\n`);
  const headers: Record<string, string> = {};
  if (!spec.startsWith('baseline')) {
    const user = await createBenchUser(url, 'bench');
    headers.authorization = `Bearer ${await loginBenchUser(url, user)}`;
  }
  return {
    name,
    url,
    headers,
    peer,
    stats: (reset = false) => peer.call<ServerStats>('stats', { reset }),
    gc: () => peer.call<number>('gc'),
    heap: async () => (await peer.call<{ heapUsed: number }>('heapAfterGc')).heapUsed,
    streams: () => peer.call<number>('streams'),
    stop: () => peer.stop(),
  };
}

export async function startNchanTarget(): Promise<Target> {
  const n = await startNchan();
  return {
    name: 'nchan',
    url: n.url,
    headers: {},
    stats: async () => n.stats(),
    gc: async () => n.stats().rss,
    heap: async () => undefined,
    streams: async () => undefined,
    stop: () => n.stop(),
  };
}

export async function startLoadgen(): Promise<Peer> {
  const peer = new Peer(spawnChild(LOADGEN), 'loadgen');
  await peer.waitFor((m) => m.ready === true, 30_000);
  return peer;
}
