// One cluster node's write path and barrier. A write is published (the JetStream ack means: durable on
// a quorum), then answered with the outcome of its apply here (read-your-writes). A barrier asks the
// stream's last sequence and waits until it is applied: a request that decides on state then sees every
// write acknowledged anywhere before it arrived.
import { randomBytes } from 'node:crypto';
import { NoQuorumError, WriteTooLargeError } from '../errors.js';
import type { ClusterState } from '../storage.js';
import type { Applier } from './applier.js';
import type { NatsLink } from './connection.js';
import { encode, FORMAT_VERSION, type WriteOp, writeSubject } from './messages.js';

/** Past this, a write answers 503 (the ack and the apply each get a part; never a hang past 10 s). */
const APPLY_TIMEOUT_MS = 3_000;
/** How long a write may wait for the stream's ack (a barrier and the apply come beside it, under 10 s). */
const PUBLISH_BUDGET_MS = 4_000;
/** One publish attempt: an ack lost with a dead server is asked again soon (same message id). */
const ATTEMPT_MS = 1_500;
/** A barrier that cannot reach the stream lets the request read the local model (reads keep working). */
const BARRIER_WAIT_MS = 2_500;
/** After a barrier failed, requests skip it for this long instead of each waiting for the timeout. */
const BARRIER_BACKOFF_MS = 3_000;
/** What a message's headers and framing take beside its body. */
const OVERHEAD = 512;

export class ClusterNode {
  readonly id = randomBytes(6).toString('base64url');
  private nonce = 0;
  private syncing: Promise<void> | undefined;
  private queued: Promise<void> | undefined;
  private barrierFailedAt = 0;
  private connected = true;
  /** Publishes waiting for an ack, told when the connection comes back through another server. */
  private readonly onReconnect = new Set<() => void>();

  constructor(
    readonly link: NatsLink,
    readonly applier: Applier,
  ) {
    void this.watch();
  }

  /** Not ready while NATS is out of reach: GET / says so (reads keep working from the local model). */
  private async watch(): Promise<void> {
    for await (const status of this.link.nc.status()) {
      if (status.type === 'disconnect') this.connected = false;
      else if (status.type === 'reconnect') {
        this.connected = true;
        for (const told of this.onReconnect) told();
      }
    }
  }

  /** Publishes a write and answers its apply's outcome on this node. */
  async write<T>(op: WriteOp): Promise<T> {
    const from = `${this.id}:${++this.nonce}`;
    const body = encode({ ...op, v: FORMAT_VERSION, from });
    const max = this.link.nc.info?.max_payload ?? 1024 * 1024;
    if (body.byteLength + OVERHEAD > max) {
      throw new WriteTooLargeError(
        `the write takes ${body.byteLength} bytes, more than one cluster message holds (${max - OVERHEAD})`,
      );
    }
    const outcome = this.applier.expect(from);
    // Always handled: a failed publish answers through the catch below, not through this promise.
    outcome.catch(() => {});
    const seq = await this.publish(from, body);
    this.applier.behind(seq);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(new NoQuorumError(`the write (sequence ${seq}) was not applied here within ${APPLY_TIMEOUT_MS} ms`)),
        APPLY_TIMEOUT_MS,
      );
    });
    try {
      return (await Promise.race([outcome, late])) as T;
    } finally {
      clearTimeout(timer);
      this.applier.forget(from);
    }
  }

  /**
   * Publishes with the write's own message id, again while the budget lasts: an ack lost to a leader
   * change is asked for again, and JetStream's duplicate window makes the retry the same message, never
   * a second one. Without an ack in time the write answers 503; the stream may still hold it (no quorum
   * answered in time, yet the leader kept it), and then it is applied on every node like any other.
   * An attempt whose connection broke is asked again at once through the new one: its ack will not come.
   */
  private async publish(from: string, body: Uint8Array): Promise<number> {
    const deadline = Date.now() + PUBLISH_BUDGET_MS;
    let last: unknown;
    while (Date.now() < deadline) {
      try {
        const timeout = Math.max(500, Math.min(ATTEMPT_MS, deadline - Date.now()));
        const attempt = this.link.js.publish(writeSubject(this.link.stream), body, { msgID: from, timeout });
        let told: (() => void) | undefined;
        const reconnected = new Promise<undefined>((resolve) => {
          told = () => resolve(undefined);
          this.onReconnect.add(told);
        });
        const ack = await Promise.race([attempt, reconnected]).finally(() => this.onReconnect.delete(told!));
        if (ack) return ack.seq;
        attempt.catch(() => {});
        last = new Error('the connection to NATS broke before the ack');
      } catch (err) {
        last = err;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    this.applier.forget(from);
    throw new NoQuorumError(`the cluster did not take the write: ${(last as Error | undefined)?.message ?? 'timeout'}`);
  }

  /**
   * The barrier. Concurrent callers share a round, but one that started before a caller arrived does not
   * count for it: that caller waits for the next round.
   */
  sync(): Promise<void> {
    if (!this.syncing) {
      this.syncing = this.round().finally(() => {
        this.syncing = undefined;
      });
      return this.syncing;
    }
    if (!this.queued) {
      this.queued = this.syncing.then(() => {
        this.queued = undefined;
        return this.sync();
      });
    }
    return this.queued;
  }

  private async round(): Promise<void> {
    if (Date.now() - this.barrierFailedAt < BARRIER_BACKOFF_MS) return;
    // The whole round (the question and the wait) is bounded: a write behind it still answers within 10 s.
    const deadline = Date.now() + BARRIER_WAIT_MS;
    let timer: NodeJS.Timeout | undefined;
    try {
      const info = await Promise.race([
        this.link.jsm.streams.info(this.link.stream),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('no stream info in time')), BARRIER_WAIT_MS);
        }),
      ]).finally(() => clearTimeout(timer));
      const last = info.state.last_seq;
      this.applier.behind(last);
      await this.waitApplied(last, Math.max(1, deadline - Date.now()));
    } catch {
      this.barrierFailedAt = Date.now();
    }
  }

  /** Resolves once `seq` is applied here; throws after `ms`. */
  async waitApplied(seq: number, ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.applier.whenApplied(seq),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`sequence ${seq} not applied within ${ms} ms`)), ms);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  state(): ClusterState {
    const { applied, last } = this.applier;
    return {
      ready: this.connected && applied >= last && !this.link.nc.isClosed(),
      applied,
      last: Math.max(last, applied),
    };
  }
}
