// `npm run bench -- --cluster`: a 3-node Broker cluster on 3 nats-servers (all on this machine) beside
// one single-node Broker, in the same run: inserts/s and fan-out deliveries per CPU core-second (Broker
// and nats-server processes counted, read from /proc), and the p99 insert→receive latency from an insert
// on one node to subscribers on the others. Figures, not a test: on a 2-core machine the 3 nodes and 3
// NATS servers share the cores the single node has to itself, so this shows cost, not scale-out.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { envName, FLAGS } from '../src/config.js';
import { fitConfig } from './lib/broker-config.js';
import { fmtNum } from './lib/stats.js';

const CLI = resolve(import.meta.dirname, '../src/cli.js');
const ADMIN = 'bench-admin-token-of-at-least-32-bytes';
const TICK = 100; // clock ticks per second in /proc/<pid>/stat (USER_HZ)

export interface ClusterBenchOptions {
  /** Concurrent inserting clients. */
  writers: number;
  durationMs: number;
  /** SSE subscribers per node in the fan-out run. */
  subsPerNode: number;
  /** Events inserted in the fan-out run. */
  events: number;
  log: (line: string) => void;
}

const freePort = () =>
  new Promise<number>((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => res(typeof a === 'object' && a ? a.port : 0));
    });
  });

const cpuSeconds = (pid: number | undefined): number => {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICK;
  } catch {
    return 0;
  }
};

async function until(check: () => Promise<boolean>, ms: number, what: string) {
  const deadline = Date.now() + ms;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`${what} not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Three JetStream servers clustered on loopback; resolves once they have a meta leader. */
async function startNats(root: string): Promise<{ urls: string; procs: ChildProcess[] }> {
  const ports = [];
  for (let i = 0; i < 3; i++) ports.push({ client: await freePort(), route: await freePort(), http: await freePort() });
  const routes = ports.map((p) => `nats-route://127.0.0.1:${p.route}`).join(', ');
  const procs = ports.map((p, i) => {
    const store = join(root, `nats${i}`);
    mkdirSync(store, { recursive: true });
    const file = join(root, `nats${i}.conf`);
    writeFileSync(
      file,
      `server_name: n${i}\nlisten: 127.0.0.1:${p.client}\nhttp: 127.0.0.1:${p.http}\n` +
        `jetstream { store_dir: ${JSON.stringify(store)} }\n` +
        `cluster { name: bench, listen: 127.0.0.1:${p.route}, routes: [${routes}] }\n`,
    );
    return spawn('nats-server', ['-c', file], { stdio: 'ignore' });
  });
  for (const p of ports) {
    await until(
      async () => {
        const jsz = (await (await fetch(`http://127.0.0.1:${p.http}/jsz`)).json()) as {
          meta_cluster?: { leader?: string };
        };
        return Boolean(jsz.meta_cluster?.leader);
      },
      30_000,
      'JetStream meta leader',
    );
  }
  return { urls: ports.map((p) => `nats://127.0.0.1:${p.client}`).join(','), procs };
}

async function startBroker(args: string[]): Promise<{ url: string; proc: ChildProcess }> {
  const port = await freePort();
  // The per-user, per-tenant and per-IP limits raised, as the other benches do (one user holds every stream).
  const limits = Object.entries(fitConfig(FLAGS, {}).raw).map(([k, v]) => [envName(k), String(v)]);
  const proc = spawn(process.execPath, [CLI, '--port', String(port), '--host', '127.0.0.1', ...args], {
    stdio: 'ignore',
    env: { ...process.env, ...Object.fromEntries(limits), BROKER_ADMIN_TOKEN: ADMIN, BROKER_LOG_LEVEL: 'warn' },
  });
  const url = `http://127.0.0.1:${port}`;
  await until(
    async () => {
      const body = (await (await fetch(`${url}/`)).json()) as { cluster?: { ready: boolean } };
      return body.cluster === undefined || body.cluster.ready;
    },
    60_000,
    'broker ready',
  );
  return { url, proc };
}

async function jwtOn(url: string, username: string): Promise<string> {
  const body = { admin_token: ADMIN, username, password: 'bench password here', tenant_name: username };
  const created = await fetch(`${url}/create_user`, { method: 'POST', body: JSON.stringify(body) });
  if (created.status !== 200) throw new Error(`create_user: ${created.status} ${await created.text()}`);
  const login = await fetch(`${url}/login`, {
    method: 'POST',
    body: JSON.stringify({ username, password: body.password }),
  });
  return ((await login.json()) as { jwt: string }).jwt;
}

const insert = (url: string, jwt: string, data: unknown) =>
  fetch(`${url}/insert`, {
    method: 'POST',
    headers: { authorization: `Bearer ${jwt}`, 'content-type': 'application/json' },
    body: JSON.stringify({ event: 'b', data }),
  });

/** Counts frames and the latency (receive - the sender's timestamp in the data) of one SSE stream. */
function subscribe(url: string, jwt: string, node: number, into: { latencies: number[]; delivered: number }) {
  const controller = new AbortController();
  const opened = fetch(`${url}/sse`, { headers: { authorization: `Bearer ${jwt}` }, signal: controller.signal }).then(
    async (res) => {
      const ready = (async () => {
        let buffered = '';
        const decoder = new TextDecoder();
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          buffered += decoder.decode(chunk, { stream: true });
          let end: number;
          while ((end = buffered.indexOf('\n\n')) >= 0) {
            const frame = buffered.slice(0, end);
            buffered = buffered.slice(end + 2);
            const data = /^data:(.*)$/m.exec(frame)?.[1];
            if (!data) continue;
            const { t, from } = JSON.parse(data) as { t?: number; from?: number };
            // The insert run's latest event comes first as the stream's snapshot: not a fan-out delivery.
            if (typeof t !== 'number') continue;
            into.delivered++;
            if (from !== node) into.latencies.push(performance.timeOrigin + performance.now() - t);
          }
        }
      })().catch(() => {});
      return { status: res.status, done: ready };
    },
  );
  return { opened, close: () => controller.abort() };
}

interface Row {
  label: string;
  insertsPerSec: number;
  insertsPerCore: number;
  deliveriesPerSec: number;
  deliveriesPerCore: number;
  p99: number;
  p50: number;
}

async function measure(label: string, urls: string[], pids: () => (number | undefined)[], o: ClusterBenchOptions) {
  const cpu = (): number => pids().reduce<number>((sum, pid) => sum + cpuSeconds(pid), 0);
  // Inserts: `writers` clients, each on one node in turn, for durationMs.
  const jwt = await jwtOn(urls[0]!, `bench${label.replace(/\W/g, '')}`);
  let inserts = 0;
  const cpu0 = cpu();
  const t0 = Date.now();
  await Promise.all(
    Array.from({ length: o.writers }, async (_, w) => {
      while (Date.now() - t0 < o.durationMs) {
        const res = await insert(urls[w % urls.length]!, jwt, { w });
        await res.arrayBuffer();
        if (res.status === 200) inserts++;
      }
    }),
  );
  const insertSecs = (Date.now() - t0) / 1000;
  const insertCpu = cpu() - cpu0;

  // Fan-out: subsPerNode streams on every node; each event inserted on one node, in turn.
  const seen = { latencies: [] as number[], delivered: 0 };
  const subs = urls.flatMap((url, node) =>
    Array.from({ length: o.subsPerNode }, () => subscribe(url, jwt, node, seen)),
  );
  await Promise.all(subs.map((s) => s.opened));
  const expected = o.events * subs.length;
  const cpu1 = cpu();
  const t1 = Date.now();
  for (let i = 0; i < o.events; i++) {
    const from = i % urls.length;
    await (await insert(urls[from]!, jwt, { t: performance.timeOrigin + performance.now(), from })).arrayBuffer();
  }
  await until(async () => seen.delivered >= expected, 60_000, `${label}: ${expected} deliveries`).catch(() => {});
  const fanSecs = (Date.now() - t1) / 1000;
  const fanCpu = cpu() - cpu1;
  for (const s of subs) s.close();
  const sorted = seen.latencies.sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  o.log(`${label}: ${inserts} inserts in ${fmtNum(insertSecs, 1)} s, ${seen.delivered}/${expected} deliveries`);
  return {
    label,
    insertsPerSec: inserts / insertSecs,
    insertsPerCore: inserts / Math.max(insertCpu, 0.01),
    deliveriesPerSec: seen.delivered / fanSecs,
    deliveriesPerCore: seen.delivered / Math.max(fanCpu, 0.01),
    p50: at(0.5),
    p99: at(0.99),
  } satisfies Row;
}

export async function clusterBench(o: ClusterBenchOptions): Promise<string> {
  const root = mkdtempSync(join(tmpdir(), 'broker-bench-cluster-'));
  const procs: ChildProcess[] = [];
  try {
    const single = await startBroker(['--db', join(root, 'single')]);
    procs.push(single.proc);
    const one = await measure('1 node (LMDB)', [single.url], () => [single.proc.pid], o);
    single.proc.kill('SIGKILL');

    const nats = await startNats(root);
    procs.push(...nats.procs);
    const nodes: { url: string; proc: ChildProcess }[] = [];
    for (let i = 0; i < 3; i++) {
      const node = await startBroker(['--db', join(root, `node${i}`), '--nats', nats.urls, '--nats_replicas', '3']);
      procs.push(node.proc);
      nodes.push(node);
    }
    const all = () => [...nodes.map((n) => n.proc.pid), ...nats.procs.map((p) => p.pid)];
    const three = await measure(
      '3 nodes + 3 NATS (R3)',
      nodes.map((n) => n.url),
      all,
      o,
    );

    const rows = [one, three].map(
      (r) =>
        `| ${r.label} | ${fmtNum(r.insertsPerSec, 0)} | ${fmtNum(r.insertsPerCore, 0)} | ` +
        `${fmtNum(r.deliveriesPerSec, 0)} | ${fmtNum(r.deliveriesPerCore, 0)} | ` +
        `${r.label.startsWith('1') ? '-' : `${fmtNum(r.p50, 1)} / ${fmtNum(r.p99, 1)}`} |`,
    );
    return [
      `${o.writers} inserting clients for ${o.durationMs / 1000} s; fan-out: ${o.events} events to ` +
        `${o.subsPerNode} SSE streams per node; CPU = Broker + nats-server processes (/proc), per core-second`,
      '',
      '| setup | inserts/s | inserts per core-s | deliveries/s | deliveries per core-s | ' +
        'insert→receive on other nodes p50 / p99 ms |',
      '|---|---|---|---|---|---|',
      ...rows,
    ].join('\n');
  } finally {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  }
}
