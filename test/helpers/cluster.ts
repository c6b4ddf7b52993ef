// A Broker cluster for tests: 3 real nats-servers (one JetStream cluster) and N Broker nodes, each a child
// process of the built CLI with its own --db (its read model) and a fixed port, so a node killed with
// SIGKILL comes back at the same URL on the same read model.
import { join } from 'node:path';
import { ADMIN, spawnBroker, freePort, tempDir, type ChildBroker } from './broker.js';
import { natsServerBinary, startNats, type NatsCluster } from './nats.js';
import { waitUntil } from './wait.js';
import { rmSync } from 'node:fs';

export interface ClusterState {
  ready: boolean;
  applied: number;
  last: number;
}

export interface BrokerCluster {
  nats: NatsCluster;
  /** Each node's base URL (stable across a restart). */
  urls: string[];
  nodes: (ChildBroker | undefined)[];
  /** SIGKILLs one node. */
  kill(index: number): Promise<void>;
  /** Starts a node again on its port and --db (it catches up before it serves). */
  restart(index: number, extra?: string[]): Promise<ChildBroker>;
  /** What a node's GET / says of the cluster (undefined when it does not answer). */
  state(index: number): Promise<ClusterState | undefined>;
  stop(): Promise<void>;
}

export async function nodeState(url: string): Promise<ClusterState | undefined> {
  try {
    const res = await fetch(`${url}/`, { signal: AbortSignal.timeout(2000) });
    const body = (await res.json()) as { cluster?: ClusterState };
    return body.cluster;
  } catch {
    return undefined;
  }
}

export async function startCluster(
  options: { nodes?: number; args?: string[]; nats?: NatsCluster } = {},
): Promise<BrokerCluster> {
  natsServerBinary();
  const size = options.nodes ?? 3;
  const nats = options.nats ?? (await startNats(3));
  const root = tempDir('broker-cluster-');
  const ports: number[] = [];
  for (let i = 0; i < size; i++) ports.push(await freePort());
  const args = (i: number, extra: string[] = []) => [
    '--port',
    String(ports[i]),
    '--db',
    join(root, `node${i}`),
    '--nats',
    nats.urls,
    '--nats_replicas',
    '3',
    '--admin_token',
    ADMIN,
    ...(options.args ?? []),
    ...extra,
  ];
  const nodes: (ChildBroker | undefined)[] = new Array(size).fill(undefined);
  const urls = ports.map((p) => `http://127.0.0.1:${p}`);
  const cluster: BrokerCluster = {
    nats,
    urls,
    nodes,
    async kill(index) {
      await nodes[index]?.kill('SIGKILL');
    },
    async restart(index, extra) {
      await nodes[index]?.kill('SIGKILL');
      const node = await spawnBroker(args(index, extra));
      nodes[index] = node;
      return node;
    },
    state: (index) => nodeState(urls[index]!),
    async stop() {
      for (const node of nodes) await node?.kill('SIGKILL');
      if (!options.nats) await nats.stop();
      rmSync(root, { recursive: true, force: true });
    },
  };
  try {
    // One after the other: the first makes the stream and the secrets, the others find them.
    for (let i = 0; i < size; i++) {
      nodes[i] = await spawnBroker(args(i));
      await waitUntil(async () => (await cluster.state(i))?.ready === true, 30_000, `node ${i} ready`);
    }
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return cluster;
}
