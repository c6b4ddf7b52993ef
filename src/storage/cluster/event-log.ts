// The EventLog of a cluster node: reads from the local LMDB read model (the same code as one node), writes
// as messages on the stream. An event's id is given at apply: the tenant's next, as on one node, and the
// same on every node (all apply the same stream in order), so a Last-Event-ID resumes on another node.
// `committed` is the LMDB log's, fed by the applier on every node: an insert on any node reaches the
// subscribers of every node, in id order, once.
import type { AppendOptions, EventLog, EventRecord, RetentionPolicy, ScanQuery } from '../event-log.js';
import type { IdempotencyStore, IdempotentAnswer } from '../idempotency.js';
import type { LmdbEventLog } from '../lmdb/event-log.js';
import type { ClusterNode } from './node.js';

type AppendOutcome = { record: EventRecord } | { duplicate: IdempotentAnswer };

export class ClusterEventLog implements EventLog {
  readonly committed: EventLog['committed'];
  readonly idempotency: IdempotencyStore;

  constructor(
    private readonly local: LmdbEventLog,
    private readonly node: ClusterNode,
    readonly epoch: string,
    private readonly now: () => number,
  ) {
    this.committed = local.committed;
    const answers = local.idempotency;
    this.idempotency = {
      get: (scope, key) => answers.get(scope, key),
      sweep: (before, limit) => node.write<number>({ op: 'idem.sweep', before, limit }),
    };
  }

  async append(tenant: string, event: string, data: string, options?: AppendOptions): Promise<EventRecord> {
    const idem = options?.idempotency;
    const original = options?.original;
    const outcome = await this.node.write<AppendOutcome>({
      op: 'log.append',
      ...{ tenant, event, data, t: original?.timestamp ?? this.now() },
      ...(idem ? { idem } : {}),
      ...(original ? { id: original.id } : {}),
    });
    if ('record' in outcome) return outcome.record;
    // Another node's append with this Idempotency-Key came first in the stream: its event is the answer.
    const first = outcome.duplicate;
    const stored = this.local.getMany(tenant, [first.id], Number.MAX_SAFE_INTEGER).records[0];
    return stored ?? { tenant, id: first.id, event, data, timestamp: first.at };
  }

  prune(policy: RetentionPolicy, nowMs: number): Promise<number> {
    if (policy.maxAgeMs <= 0 && policy.maxEvents <= 0) return Promise.resolve(0);
    return this.node.write<number>({ op: 'log.prune', policy, now: nowMs });
  }

  latestIds(tenant: string, names?: ReadonlySet<string>): number[] {
    return this.local.latestIds(tenant, names);
  }

  getMany(tenant: string, ids: readonly number[], maxBytes: number) {
    return this.local.getMany(tenant, ids, maxBytes);
  }

  scan(tenant: string, query: ScanQuery) {
    return this.local.scan(tenant, query);
  }

  tenants(after: string | undefined, limit: number): string[] {
    return this.local.tenants(after, limit);
  }

  prunedThrough(tenant: string): number {
    return this.local.prunedThrough(tenant);
  }

  lastId(tenant: string): number {
    return this.local.lastId(tenant);
  }

  committedId(tenant: string): number {
    return this.local.committedId(tenant);
  }

  usage(tenant: string) {
    return this.local.usage(tenant);
  }

  isNewName(tenant: string, event: string): boolean {
    return this.local.isNewName(tenant, event);
  }
}
