// A full disk on a cluster node. A write the stream took must be applied by every node, in order, or the
// read models part (ids, users, keys would differ): so a node's read model applies every message whatever
// its --map_size (lmdb grows its map by itself; the limit is ours), and the limit is kept where a write
// enters instead. Before publishing, this node checks its read model as one node checks its database
// (lmdb/map-limit.ts, the same caps: events stop short of the limit, a reserve is kept for users and logins,
// deletes and retention always pass): past it the write answers 507 and nothing reaches the stream. Only
// an apply the disk itself refuses (ENOSPC, over quota) stops the applier; then every write here answers
// 507 until the disk has room again, and `GET /` says ready:false (the stream holds more than it applied).
import { roomCheck } from '../lmdb/map-limit.js';
import type { Applier } from './applier.js';
import type { NatsLink } from './connection.js';
import type { WriteOp } from './messages.js';
import { ClusterNode } from './node.js';

/** What a write may use: the limit less the identity reserve, all of it, or never refused (frees room). */
type Budget = 'events' | 'all' | 'free';

/** Each op's budget, as one node's stores have it (a direct put on an event tree, or a transaction). */
const BUDGETS: Record<WriteOp['op'], Budget> = {
  'log.append': 'events',
  'crashes.archive': 'events',
  'users.create': 'all',
  'users.put': 'all',
  'links.link': 'all',
  'denied.add': 'all',
  'apps.create': 'all',
  'keys.put': 'all',
  'usage.put': 'all',
  'crashes.put': 'all',
  'crashes.patch': 'all',
  'log.prune': 'free',
  'idem.sweep': 'free',
  'users.delete': 'free',
  'links.unlink': 'free',
  'denied.prune': 'free',
  'apps.delete': 'free',
  'keys.delete': 'free',
  'usage.sweep': 'free',
  'crashes.delete': 'free',
  // The secrets and the epoch: a few small keys a node needs to start at all.
  'secrets.offer': 'free',
};

const budgetOf = (op: WriteOp): Budget => (op.op === 'crashes.put' && op.next === null ? 'free' : BUDGETS[op.op]);

/** Told at most this often that writes are refused for room (each refusal is a 507 anyway). */
const SAY_EVERY_MS = 60_000;

/** A ClusterNode that refuses, before publishing, a write its read model has no room for. */
export class RoomCheckedNode extends ClusterNode {
  private readonly room: ReturnType<typeof roomCheck> | undefined;
  private saidAt = -Infinity;

  constructor(
    link: NatsLink,
    applier: Applier,
    mapSize: number | undefined,
    usedBytes: () => number,
    private readonly say: (message: string) => void,
  ) {
    super(link, applier);
    this.room = mapSize === undefined ? undefined : roomCheck(mapSize, usedBytes);
  }

  override async write<T>(op: WriteOp): Promise<T> {
    try {
      // The applier stopped on a write the disk refused: nothing written here would be applied after it.
      const stuck = this.applier.stuck;
      if (stuck) throw stuck;
      const budget = budgetOf(op);
      if (this.room && budget !== 'free') this.room.check(budget === 'events' ? this.room.eventLimit : this.room.limit);
    } catch (err) {
      if (performance.now() - this.saidAt > SAY_EVERY_MS) {
        this.saidAt = performance.now();
        this.say(`cluster: writes answer 507 on this node: ${(err as Error).message}`);
      }
      throw err;
    }
    return super.write<T>(op);
  }
}
