// Running the existing route suites against cluster nodes (vitest.config.ts, project "cluster"):
// startBroker and spawnBroker then start each broker with --nats on a real single-server JetStream and
// --nats_replicas 1. One nats-server per database directory, so brokers of one test file stay as isolated
// as their temp dirs are (a fresh cluster per fresh --db), and a broker restarted on its --db finds its
// stream again. test/helpers/nats-setup.ts stops them after each file.
import { startNats, type NatsCluster } from './nats.js';

export const NATS_MODE = !['', '0', 'false', 'no', 'off'].includes(
  (process.env.BROKER_TEST_NATS ?? '').trim().toLowerCase(),
);

const servers = new Map<string, Promise<NatsCluster>>();

/** The --nats URL for a broker on this database dir (undefined outside nats mode). */
export async function natsFor(db: string): Promise<string | undefined> {
  if (!NATS_MODE) return undefined;
  let server = servers.get(db);
  if (!server) {
    server = startNats(1);
    servers.set(db, server);
  }
  return (await server).urls;
}

/** The CLI arguments that make a spawned broker a cluster node (none outside nats mode). */
export async function natsArgs(args: readonly string[], cwd: string | undefined): Promise<string[]> {
  if (!NATS_MODE || args.includes('--nats')) return [];
  const at = args.indexOf('--db');
  const db = at >= 0 ? args[at + 1]! : `${cwd ?? process.cwd()}/db`;
  const url = await natsFor(db);
  return url ? ['--nats', url, '--nats_replicas', '1'] : [];
}

export async function stopNatsServers(): Promise<void> {
  const all = [...servers.values()];
  servers.clear();
  for (const server of all) await (await server.catch(() => undefined))?.stop();
}

/**
 * Why a test runs on one node only (the default run), not against a cluster node: it reaches beneath the
 * seams into LMDB itself, or builds a history too long to publish in the test's time. Its route behaviour
 * is the same code in both modes.
 */
export const singleNodeOnly = NATS_MODE;
