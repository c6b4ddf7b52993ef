// The deterministic apply of one cluster message to a node's LMDB read model, run inside the applier's
// transaction (the applied sequence is written in the same commit). Given the same state and message,
// every node computes the same state and the same outcome: nothing here reads a clock or a random source.
// The LMDB stores' own methods do the work where they are deterministic (their nested transactions run
// inside this one); what must not run twice or later (announcing an event, a user change) is returned as
// `after`, called once the commit is over.
import { sha256 } from '../../lib/digest.js';
import type { Signal } from '../../lib/signal.js';
import type { KeyChange } from '../apps.js';
import type { EventRecord } from '../event-log.js';
import { ANSWER_WINDOW_MS } from '../idempotency.js';
import type { Database } from '../lmdb/database.js';
import type { LmdbEventLog } from '../lmdb/event-log.js';
import type { LmdbUserStore } from '../lmdb/users.js';
import type { Storage } from '../storage.js';
import type { UserChangeEvent } from '../users.js';
import type { WriteMessage } from './messages.js';

/** The LMDB read model the applier writes: the store bundle and what is beneath it. */
export interface ReadModel {
  db: Database;
  storage: Storage;
  log: LmdbEventLog;
  users: LmdbUserStore;
  /** Where an applied logout is told, on every node (identity/sessions.ts ends the user's sessions). */
  loggedOut?: Signal<{ username: string }>;
  /** Where an applied key write is told, on every node (apps/keys.ts keeps its index from it). */
  keyChanges?: Signal<KeyChange>;
}

/** Outcome answers that are not a store's own: a conditional put found the record changed. */
export const STALE = 'stale';

export interface Applied {
  /** What the write answers its writer (a value, or a promise of the nested store call). */
  outcome: unknown;
  /** Called once the commit is over (failed: it was not written). */
  after?: (failed: boolean) => void;
  /** A committed user change every node announces (identity/sessions.ts ends sessions from it). */
  userChange?: UserChangeEvent;
}

/** The digest a conditional put compares: of the record as this node stores it ('' = none). */
export const digestOf = (record: unknown): string =>
  record === undefined ? '' : sha256(JSON.stringify(record)).toString('base64url');

export function apply(model: ReadModel, m: WriteMessage): Applied {
  const { storage, db } = model;
  switch (m.op) {
    case 'log.append': {
      if (m.idem) {
        // The first message with this key and content wins on every node: a concurrent retry on another
        // node gets the first answer and appends nothing. Anything else appends, as on one node (the
        // domain decided to, having seen no answer).
        const first = storage.log.idempotency.get(m.idem.scope, m.idem.key);
        if (first && first.hash === m.idem.hash && m.t - first.at < ANSWER_WINDOW_MS)
          return { outcome: { duplicate: first } };
      }
      // The id is the tenant's next, as on one node: every node applies the same messages in the same order,
      // so it is the same on every node (a Last-Event-ID resumes on any), and a tenant's ids stay 1, 2, 3
      // with no gaps for other tenants' or other stores' writes (the stream sequence would leave them).
      const next = model.log.lastId(m.tenant) + 1;
      // A copied event keeps its id (broker migrate); one at or below the tenant's last is refused on every node.
      if (m.id !== undefined && !(Number.isSafeInteger(m.id) && m.id >= next))
        return { outcome: Promise.reject(new RangeError(`a copied event's id ${m.id} is below ${next}`)) };
      const id = m.id ?? next;
      const record: EventRecord = { tenant: m.tenant, id, event: m.event, data: m.data, timestamp: m.t };
      const claim = model.log.applyAppend(record, m.idem);
      return { outcome: { record }, after: (failed) => model.log.settleApplied(record, claim, failed) };
    }
    case 'log.prune':
      return { outcome: storage.log.prune(m.policy, m.now) };
    case 'idem.sweep':
      return { outcome: storage.log.idempotency.sweep(m.before, m.limit) };
    case 'users.create': {
      const user = structuredClone(m.user);
      const taken = storage.users.get(user.username) !== undefined;
      const outcome = model.users.create(user);
      // A refused create (the name taken, the email held) stores nothing.
      const after = taken ? undefined : storage.users.get(user.username);
      return { outcome, userChange: after && { username: user.username, before: undefined, after } };
    }
    case 'users.put': {
      const before = storage.users.get(m.username);
      if (!before) return { outcome: undefined };
      if (digestOf(before) !== m.expect) return { outcome: STALE };
      try {
        model.users.applyPut(m.username, before, m.next);
      } catch (err) {
        return { outcome: Promise.reject(err) };
      }
      return { outcome: m.next, userChange: { username: m.username, before, after: m.next } };
    }
    case 'users.delete': {
      const before = storage.users.get(m.username);
      const outcome = storage.users.delete(m.username);
      return { outcome, userChange: before ? { username: m.username, before, after: undefined } : undefined };
    }
    case 'links.link':
      return { outcome: storage.identityLinks.link(m.link) };
    case 'links.unlink':
      return { outcome: storage.identityLinks.unlink(m.username, m.issuer) };
    case 'denied.add': {
      // A deny of an older node names no user: it denies the token all the same.
      const { username } = m;
      const after = (failed: boolean) => {
        if (!failed && typeof username === 'string') model.loggedOut?.emit({ username });
      };
      return { outcome: storage.deniedTokens.add(m.hash, m.exp), after };
    }
    case 'denied.prune':
      return { outcome: storage.deniedTokens.prune(m.now, m.limit) };
    case 'apps.create':
      return { outcome: storage.apps.createApp(m.app) };
    case 'apps.delete':
      return { outcome: storage.apps.deleteApp(m.appId), after: told(model, { appDeleted: m.appId }) };
    case 'keys.put': {
      // A last_used flush writes only keys that still exist: those are the ones every node's index takes.
      const put = m.onlyExisting ? m.keys.filter((k) => db.api_keys.doesExist(k.hash)) : m.keys.slice(0, 1);
      const outcome = m.onlyExisting ? storage.apps.putKeys(m.keys) : storage.apps.putKey(m.keys[0]);
      return { outcome, after: told(model, { put }) };
    }
    case 'keys.delete':
      return { outcome: storage.apps.deleteKey(m.hash), after: told(model, { deleted: m.hash }) };
    case 'usage.put':
      return { outcome: storage.usage.putMany(m.entries) };
    case 'usage.sweep':
      return { outcome: storage.usage.sweep(m.beforeDay, m.limit) };
    case 'crashes.put': {
      if (digestOf(storage.crashes.get(m.appId, m.id)) !== m.expect) return { outcome: STALE };
      const next = m.next ?? undefined;
      return { outcome: storage.crashes.update(m.appId, m.id, () => next) };
    }
    case 'crashes.patch': {
      const current = storage.crashes.get(m.appId, m.id);
      if (!current || digestOf(current) !== m.expect) return { outcome: STALE };
      for (const [i, count] of m.counts) {
        const individual = current.individual[i];
        if (individual) individual.count = count;
      }
      current.individual.push(...m.append);
      return { outcome: storage.crashes.update(m.appId, m.id, () => current) };
    }
    case 'crashes.delete':
      return { outcome: storage.crashes.delete(m.appId, m.id) };
    case 'crashes.archive':
      return { outcome: storage.crashes.archive(m.appId, m.digest) };
    case 'secrets.offer': {
      for (const [key, value] of Object.entries(m.values)) {
        if (typeof db.meta.get(`cluster:${key}`) !== 'string') void db.meta.put(`cluster:${key}`, value);
      }
      return { outcome: true };
    }
    default:
      return { outcome: Promise.reject(new Error(`unknown cluster message ${(m as { op: string }).op}`)) };
  }
}

/** Tells the nodes' key index of a key write once it is committed (nothing when the commit failed). */
const told =
  (model: ReadModel, change: KeyChange) =>
  (failed: boolean): void => {
    if (!failed) model.keyChanges?.emit(change);
  };
