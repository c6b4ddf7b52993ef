// A storage engine's parts, as services.ts takes them: the seams (event-log.ts, users.ts, secrets.ts)
// over one database, and what the operator is told about it. LMDB (lmdb/) is the default engine;
// memory/ implements the same seams for the contract suite.
import type { IdentityLinkStore, TokenDenylist } from './accounts.js';
import type { EventLog } from './event-log.js';
import { openLmdbStorage } from './lmdb/storage.js';
import type { SecretStore } from './secrets.js';
import type { UserStore } from './users.js';
import type { AppStore } from './apps.js';
import type { CrashStore } from './crashes.js';
import type { UsageStore } from './usage.js';

export interface Storage {
  /** Where the data lives (the startup log says it). */
  readonly path: string;
  readonly log: EventLog;
  readonly users: UserStore;
  readonly secrets: SecretStore;
  readonly identityLinks: IdentityLinkStore;
  readonly deniedTokens: TokenDenylist;
  readonly apps: AppStore;
  readonly usage: UsageStore;
  readonly crashes: CrashStore;
  /** The database's history: ids are positions in it (EventLog.epoch). */
  readonly epoch: string;
  /** What the open fixed and the startup log should say. */
  readonly warnings: readonly string[];
  /** Bytes of live data, what --map_size bounds. */
  usedBytes(): number;
  /**
   * A barrier before a request that decides on state: resolves once every write acknowledged anywhere
   * before the call is readable here (LMDB: at once; a cluster node: one round trip, then its apply).
   */
  sync(): Promise<void>;
  /** A cluster node's state for `GET /` (undefined on one node). */
  state(): ClusterState | undefined;
  /** A cluster node's view of the other nodes' open streams (undefined on one node). */
  readonly peers?: PeerCounts;
  close(): Promise<void>;
}

/** One node's subscribers of a topic (GET /presence; realtime/topics/topics.ts cuts the list). */
export interface TopicPresence {
  connections: number;
  /** Their distinct `sub` claims, sorted. */
  subscribers: string[];
}

/** What the nodes of a cluster tell each other of their open streams and topics (cluster/peers.ts). */
export interface PeerCounts {
  /** Announces, every second, what `counts` answers: this node's open streams per user. */
  start(counts: () => Iterable<[string, number]>): void;
  /** The user's open streams on the other nodes (their announcements of the last few seconds). */
  streamsOf(username: string): number;
  /** This node's streams of the user opened or closed: the others hear it at once. */
  changed(username: string, streams: number): void;
  /** The other nodes heard from in the last few seconds (their ids), at most MAX_PEERS. */
  nodes(): string[];
  /** Answers the other nodes' presence questions with `local`: this node's subscribers of a topic. */
  answerPresence(local: (topic: string) => TopicPresence): void;
  /** The other nodes' subscribers of `topic`: the answers heard within a short wait (under a second). */
  presenceOf(topic: string): Promise<TopicPresence[]>;
}

export interface ClusterState {
  /** False while the node catches up from the stream (after a start or a lost connection). */
  ready: boolean;
  /** The last stream sequence applied here, and the stream's last one when last asked. */
  applied: number;
  last: number;
}

export interface StorageOptions {
  /** The most live data the database may hold, in bytes; writes beyond it throw StorageFullError. */
  mapSize?: number;
  /** The clock events are stamped with (tests control it). */
  now?: () => number;
}

/** Opens the default engine (LMDB) in `dir`. */
export function openStorage(dir: string, options: StorageOptions = {}): Storage {
  return openLmdbStorage(dir, options);
}

/** What a cluster node connects to (--nats and its companions: storage/cluster/connection.ts). */
export interface ClusterConnection {
  urls: string;
  credsFile?: string;
  tlsCaFile?: string;
  replicas: number;
  stream?: string;
}

/**
 * The engine the configuration asks for: a cluster node with `nats`, else LMDB. The cluster engine is
 * loaded only then, so that one node never loads the NATS client.
 */
export async function openConfiguredStorage(
  dir: string,
  options: StorageOptions & { nats?: ClusterConnection; log?: (message: string) => void },
): Promise<Storage> {
  if (!options.nats) return openStorage(dir, options);
  const { openClusterStorage } = await import('./cluster/storage.js');
  return openClusterStorage(dir, { ...options, nats: options.nats });
}

export { backupDatabase, restoreDatabase } from './lmdb/backup.js';
