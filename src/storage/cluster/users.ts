// The UserStore of a cluster node: reads are local; a create is a message (the first in stream order
// wins on every node: concurrent creates of one name on three nodes make exactly one user); an update
// computes the new record here from the local one and publishes it as a conditional put, applied only if
// the record is still the one it was computed from. A stale put is retried after a barrier, a bounded
// number of times, so concurrent updates on several nodes lose none.
import { KeyedQueue } from '../../lib/keyed-queue.js';
import type { Signal } from '../../lib/signal.js';
import { NoQuorumError } from '../errors.js';
import type { LmdbUserStore } from '../lmdb/users.js';
import { changed, type UserChange, type UserChangeEvent, type UserRecord, type UserStore } from '../users.js';
import { digestOf, STALE } from './apply.js';
import type { ClusterNode } from './node.js';

/** Tries of a conditional put before the write answers 503 (each try follows a barrier). */
export const MAX_TRIES = 24;

export class ClusterUserStore implements UserStore {
  constructor(
    private readonly local: LmdbUserStore,
    private readonly node: ClusterNode,
    /** Fed by the applier, on every node, for every applied user write. */
    readonly changes: Signal<UserChangeEvent>,
  ) {}

  get(username: string): UserRecord | undefined {
    return this.local.get(username);
  }

  emailOwner(email: string): string | undefined {
    return this.local.emailOwner(email);
  }

  list(): UserRecord[] {
    return this.local.list();
  }

  async create(user: UserRecord): Promise<boolean> {
    const created = await this.node.write<boolean>({ op: 'users.create', user });
    // The apply may have moved the token version past a deleted namesake's: the caller's record follows.
    if (created) user.token_version = this.local.get(user.username)?.token_version ?? user.token_version;
    return created;
  }

  /** One update of a user at a time from this node (lib/keyed-queue.ts says why). */
  private readonly updates = new KeyedQueue();

  update(username: string, change: UserChange): Promise<UserRecord | undefined> {
    return this.updates.run(username, () => this.put(username, change));
  }

  private async put(username: string, change: UserChange): Promise<UserRecord | undefined> {
    for (let attempt = 0; attempt < MAX_TRIES; attempt++) {
      if (attempt > 0) await this.node.sync();
      const current = this.local.get(username);
      if (!current) return undefined;
      const next = changed(current, change);
      if (!next) return current;
      const outcome = await this.node.write<UserRecord | undefined | typeof STALE>({
        op: 'users.put',
        username,
        expect: digestOf(current),
        next,
      });
      if (outcome !== STALE) return outcome;
    }
    throw new NoQuorumError(`the update of ${username} kept meeting concurrent ones: retry`);
  }

  delete(username: string): Promise<boolean> {
    return this.node.write<boolean>({ op: 'users.delete', username });
  }
}
