// The cluster's message format: every write to the shared state is one JetStream message on one stream,
// applied by every node to its LMDB read model in stream order (apply.ts). A message carries everything
// non-deterministic (ids, timestamps, generated secrets, computed records), so that the apply is a pure
// function of the state and the message: every node reaches the same state and the same outcome.
//
// Wire form: the message body is the UTF-8 JSON of a `WriteMessage`; `v` is the format version. A message
// a node cannot apply (a version or an op it does not know) is refused as the same write on every node of
// that version, and the stream moves on (applier.ts): so every node of a cluster must run one version, and
// rolling upgrades are not supported yet (docs/cluster.md). `from` is "<node id>:<nonce>", so the node
// that published a write finds its outcome when its applier reaches it. `broker migrate` writes the same
// messages.
import type { IdentityLink } from '../accounts.js';
import type { AppRecord, KeyRecord } from '../apps.js';
import type { CrashReport, IndividualCrash } from '../crashes.js';
import type { RetentionPolicy } from '../event-log.js';
import type { IdempotencyClaim } from '../idempotency.js';
import type { UsageEntry } from '../usage.js';
import type { UserRecord } from '../users.js';

export const FORMAT_VERSION = 1;

/** The one subject every write is published on: `<stream>.w` (stream order = apply order). */
export const writeSubject = (stream: string) => `${stream}.w`;

export type WriteOp =
  /**
   * An event: its id is the tenant's next at apply (the same on every node); `t` its timestamp (ms). `id`
   * only from `broker migrate`: the id the event had, above the tenant's (ids skipped count as pruned).
   */
  | { op: 'log.append'; tenant: string; event: string; data: string; t: number; idem?: IdempotencyClaim; id?: number }
  | { op: 'log.prune'; policy: RetentionPolicy; now: number }
  | { op: 'idem.sweep'; before: number; limit: number }
  | { op: 'users.create'; user: UserRecord }
  /** A conditional put: applied only while the stored record still digests to `expect` (users.ts). */
  | { op: 'users.put'; username: string; expect: string; next: UserRecord }
  | { op: 'users.delete'; username: string }
  | { op: 'links.link'; link: IdentityLink }
  | { op: 'links.unlink'; username: string; issuer: string }
  /** `username` (absent in messages of older nodes): every node ends that user's sessions once applied. */
  | { op: 'denied.add'; hash: string; exp: number; username?: string }
  | { op: 'denied.prune'; now: number; limit: number }
  | { op: 'apps.create'; app: AppRecord }
  | { op: 'apps.delete'; appId: string }
  | { op: 'keys.put'; keys: KeyRecord[]; onlyExisting: boolean }
  | { op: 'keys.delete'; hash: string }
  | { op: 'usage.put'; entries: { appId: string; entry: UsageEntry }[] }
  | { op: 'usage.sweep'; beforeDay: number; limit: number }
  /** A conditional put like users.put; `expect` digests the stored report ('' = none), `next` null deletes. */
  | { op: 'crashes.put'; appId: string; id: string; expect: string; next: CrashReport | null }
  /**
   * The same as a patch: new counts of individuals by index, and individuals appended. A report grows to
   * MAX_REPORT_BYTES (1 MiB), past one message; a crash seen again is then a small message, not the report.
   */
  | {
      op: 'crashes.patch';
      appId: string;
      id: string;
      expect: string;
      counts: [number, number][];
      append: IndividualCrash[];
    }
  | { op: 'crashes.delete'; appId: string; id: string }
  | { op: 'crashes.archive'; appId: string; digest: string }
  /** Secrets and the epoch: each key is kept by the first message that offers it, on every node. */
  | { op: 'secrets.offer'; values: Record<string, string> };

export type WriteMessage = WriteOp & { v: number; from: string };

export function encode(message: WriteMessage): Uint8Array {
  return Buffer.from(JSON.stringify(message));
}

export function decode(body: Uint8Array): WriteMessage {
  const message = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString()) as WriteMessage;
  if (message.v !== FORMAT_VERSION) {
    throw new Error(`a cluster message of format ${String(message.v)}: this broker applies ${FORMAT_VERSION}`);
  }
  return message;
}
