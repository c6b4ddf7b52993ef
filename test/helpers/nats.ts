// Real nats-server processes for the cluster tests (Debian's nats-server 2.9): one JetStream server, or a
// 3-server JetStream cluster on loopback ephemeral ports, each with its own temp store dir. Under CI a
// missing binary fails (natsServerOrSkip + requireNatsServer), outside CI the tests skip with the reason.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { binariesOrSkip, requireBinary } from '../tls/system-binary.js';
import { freePort, tempDir } from './broker.js';

export const NATS_INSTALL = 'apt-get install nats-server';
const bins = binariesOrSkip(['nats-server'], NATS_INSTALL);

/** True when the nats tests should skip (no nats-server, not in CI; the reason was printed). */
export const SKIP_NATS = bins.skip;

/** The binary's path; under CI a missing one throws here, so the test fails instead of skipping. */
export function natsServerBinary(): string {
  return requireBinary(bins.paths, 'nats-server', NATS_INSTALL);
}

export interface NatsNode {
  name: string;
  /** nats://127.0.0.1:port, what a client connects to. */
  url: string;
  clientPort: number;
  monitorPort: number;
  proc: ChildProcess | undefined;
  stderr: string[];
  /** True while the process runs. */
  readonly running: boolean;
}

export interface NatsCluster {
  nodes: NatsNode[];
  /** Every node's client URL, comma separated: what --nats takes. */
  urls: string;
  /** SIGKILLs one server (its store dir stays, so a restart recovers it). */
  kill(index: number): Promise<void>;
  /** Starts a killed server again on the same ports and store, and waits until JetStream is ready on it. */
  restart(index: number): Promise<void>;
  /** Waits until every running server reports JetStream ready (a meta leader, when clustered). */
  ready(timeoutMs?: number): Promise<void>;
  /** The name of the server leading JetStream's meta group right now ('' while there is none). */
  metaLeader(): Promise<string>;
  /** Kills every server and removes the store dirs. */
  stop(): Promise<void>;
}

interface Layout {
  name: string;
  clientPort: number;
  clusterPort: number;
  monitorPort: number;
  configFile: string;
}

/** Starts `size` servers (1, or 3 for a cluster with replicas 3) and waits until JetStream is ready. */
export async function startNats(size = 1): Promise<NatsCluster> {
  const binary = natsServerBinary();
  const root = tempDir('broker-nats-');
  const layouts: Layout[] = [];
  for (let i = 0; i < size; i++) {
    layouts.push({
      name: `n${i + 1}`,
      clientPort: await freePort(),
      clusterPort: await freePort(),
      monitorPort: await freePort(),
      configFile: join(root, `n${i + 1}.conf`),
    });
  }
  for (const layout of layouts) {
    const store = join(root, layout.name);
    mkdirSync(store, { recursive: true });
    const routes = layouts.map((l) => `nats-route://127.0.0.1:${l.clusterPort}`).join(', ');
    const cluster =
      size > 1
        ? `cluster {\n  name: broker-test\n  listen: 127.0.0.1:${layout.clusterPort}\n  routes: [${routes}]\n}\n`
        : '';
    writeFileSync(
      layout.configFile,
      `server_name: ${layout.name}\nlisten: 127.0.0.1:${layout.clientPort}\n` +
        `http: 127.0.0.1:${layout.monitorPort}\n` +
        `jetstream {\n  store_dir: ${JSON.stringify(store)}\n  max_memory_store: 64MB\n  max_file_store: 1GB\n}\n` +
        cluster,
    );
  }
  const nodes: NatsNode[] = layouts.map((l) => {
    const node: NatsNode = {
      name: l.name,
      url: `nats://127.0.0.1:${l.clientPort}`,
      clientPort: l.clientPort,
      monitorPort: l.monitorPort,
      proc: undefined,
      stderr: [],
      get running() {
        return node.proc !== undefined && node.proc.exitCode === null && node.proc.signalCode === null;
      },
    };
    return node;
  });
  const launch = (index: number) => {
    const node = nodes[index]!;
    node.stderr.length = 0;
    const proc = spawn(binary, ['-c', layouts[index]!.configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    proc.stderr!.on('data', (c: Buffer) => {
      // Bounded: the last lines are what a failure message needs.
      node.stderr.push(c.toString());
      if (node.stderr.length > 200) node.stderr.splice(0, node.stderr.length - 200);
    });
    node.proc = proc;
  };
  const kill = async (index: number) => {
    const proc = nodes[index]!.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((res) => proc.once('exit', () => res()));
    proc.kill('SIGKILL');
    await exited;
  };
  const ready = async (timeoutMs = 30_000) => {
    const deadline = Date.now() + timeoutMs;
    for (const node of nodes.filter((n) => n.running)) {
      for (;;) {
        if (await jetStreamReady(node, size > 1)) break;
        if (!node.running) throw new Error(`nats-server ${node.name} exited: ${node.stderr.join('').slice(-2000)}`);
        if (Date.now() > deadline) {
          throw new Error(`nats-server ${node.name}: JetStream not ready in ${timeoutMs} ms`);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  };
  const cluster: NatsCluster = {
    nodes,
    urls: nodes.map((n) => n.url).join(','),
    kill,
    async restart(index) {
      await kill(index);
      launch(index);
      await ready();
    },
    ready,
    async metaLeader() {
      for (const node of nodes.filter((n) => n.running)) {
        const jsz = await monitor(node, '/jsz');
        const leader = (jsz?.meta_cluster as { leader?: string } | undefined)?.leader;
        if (leader) return leader;
      }
      return '';
    },
    async stop() {
      for (let i = 0; i < nodes.length; i++) await kill(i);
      rmSync(root, { recursive: true, force: true });
    },
  };
  try {
    for (let i = 0; i < size; i++) launch(i);
    await ready();
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return cluster;
}

async function monitor(node: NatsNode, path: string): Promise<Record<string, unknown> | undefined> {
  try {
    const response = await fetch(`http://127.0.0.1:${node.monitorPort}${path}`, {
      signal: AbortSignal.timeout(2000),
    });
    return (await response.json()) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** /healthz says ok once JetStream is current; clustered, /jsz must also name a meta leader. */
async function jetStreamReady(node: NatsNode, clustered: boolean): Promise<boolean> {
  const health = await monitor(node, '/healthz');
  if (health?.status !== 'ok') return false;
  if (!clustered) return true;
  const jsz = await monitor(node, '/jsz');
  return Boolean((jsz?.meta_cluster as { leader?: string } | undefined)?.leader);
}
