// A cluster node's Storage (--nats): the same bundle as one node, so services.ts and everything above
// storage stay the same. NATS JetStream holds the truth, one stream of every write (messages.ts); the
// node's LMDB in --db is its read model, applied in stream order (applier.ts). Reads stay local and
// synchronous; writes are published, acknowledged by a quorum, then answered once applied here.
import { Signal } from '../../lib/signal.js';
import type { KeyChange } from '../apps.js';
import { DatabaseOpenError } from '../errors.js';
import { newEpoch } from '../event-log.js';
import type { LmdbEventLog } from '../lmdb/event-log.js';
import { lmdbDatabase, openLmdbStorage } from '../lmdb/storage.js';
import type { LmdbUserStore } from '../lmdb/users.js';
import type { Storage, StorageOptions } from '../storage.js';
import type { UserChangeEvent } from '../users.js';
import { Applier, APPLIED_KEY, STREAM_KEY } from './applier.js';
import type { ReadModel } from './apply.js';
import { connectNats, type NatsOptions } from './connection.js';
import { ClusterEventLog } from './event-log.js';
import { Peers } from './peers.js';
import { RoomCheckedNode } from './room.js';
import { ClusterSecretStore } from './secrets.js';
import { clusterApps, clusterCrashes, clusterDenylist, clusterLinks, clusterUsage } from './stores.js';
import { ClusterUserStore } from './users.js';

export interface ClusterOptions extends StorageOptions {
  nats: NatsOptions;
  /** Where catch-up progress and consumer restarts are told (the server's log). */
  log?: (message: string) => void;
  /** The epoch a new cluster takes (broker migrate: the source's, so that its ids resume here). */
  epoch?: string;
}

export async function openClusterStorage(dir: string, options: ClusterOptions): Promise<Storage> {
  // No --map_size on the read model: it applies whatever the stream took (room.ts keeps the limit instead).
  const local = openLmdbStorage(dir, { now: options.now });
  const db = lmdbDatabase(local);
  const say = options.log ?? (() => {});
  let applier: Applier | undefined;
  let link: Awaited<ReturnType<typeof connectNats>> | undefined;
  try {
    link = await connectNats(options.nats);
    const from = db.meta.get(STREAM_KEY);
    if (from === undefined) {
      if (local.users.list().length > 0 || typeof db.meta.get(APPLIED_KEY) === 'number')
        throw new DatabaseOpenError(
          `${local.path} holds a single-node database: a cluster node needs an empty --db ` +
            '(broker migrate copies a database into the cluster)',
        );
      db.meta.putSync(STREAM_KEY, link.created);
    } else if (from !== link.created) {
      throw new DatabaseOpenError(
        `${local.path} was applied from another stream ${link.stream} (made ${String(from)}, ` +
          `this one ${link.created}): start this node with an empty --db`,
      );
    }
    const loggedOut = new Signal<{ username: string }>();
    const keyChanges = new Signal<KeyChange>();
    const model: ReadModel = {
      db,
      loggedOut,
      keyChanges,
      storage: local,
      log: local.log as LmdbEventLog,
      users: local.users as LmdbUserStore,
    };
    const userChanges = new Signal<UserChangeEvent>();
    applier = new Applier(link, model, userChanges, say);
    const node = new RoomCheckedNode(link, applier, options.mapSize, () => local.usedBytes(), say);
    const last = (await link.jsm.streams.info(link.stream)).state.last_seq;
    if (applier.applied > last)
      throw new DatabaseOpenError(`${local.path} applied sequence ${applier.applied}, past the stream's ${last}`);
    applier.last = last;
    applier.start();
    // Caught up before it serves: everything acknowledged before this start is readable here.
    if (applier.applied < last) say(`cluster: catching up from the stream: ${applier.applied} of ${last} applied`);
    await applier.whenApplied(last);
    // The cluster's epoch, made by the first node: the same history, and the same ids, on every node.
    if (typeof db.meta.get('cluster:epoch') !== 'string')
      await node.write({ op: 'secrets.offer', values: { epoch: options.epoch ?? newEpoch() } });
    const epoch = db.meta.get('cluster:epoch') as string;
    const now = options.now ?? Date.now;
    const running = applier;
    const nc = link.nc;
    const peers = new Peers(nc, `${link.stream}.peers`, node.id);
    return {
      path: local.path,
      log: new ClusterEventLog(model.log, node, epoch, now),
      users: new ClusterUserStore(model.users, node, userChanges),
      secrets: new ClusterSecretStore(db, node),
      identityLinks: clusterLinks(local.identityLinks, node),
      deniedTokens: clusterDenylist(local.deniedTokens, node, loggedOut),
      apps: clusterApps(local.apps, node, keyChanges),
      usage: clusterUsage(local.usage, node),
      crashes: clusterCrashes(local.crashes, node),
      epoch,
      warnings: local.warnings,
      usedBytes: () => local.usedBytes(),
      sync: () => node.sync(),
      state: () => node.state(),
      peers,
      async close() {
        peers.close();
        await running.stop();
        await nc.close().catch(() => {});
        await local.close();
      },
    };
  } catch (err) {
    await applier?.stop();
    await link?.nc.close().catch(() => {});
    await local.close();
    throw err;
  }
}
