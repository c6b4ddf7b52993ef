// A node's applier, the apply path: applies each message the reader (reader.ts) delivers in stream order
// to the LMDB read model in one commit with the applied sequence, so a restart resumes exactly where the
// last commit ended, and answers the writer waiting on this node with its outcome. Applies are issued
// without waiting for the previous commit (lmdb runs transaction callbacks in order, each seeing the ones
// before), at most MAX_IN_FLIGHT at a time, and pulled in bounded batches: memory stays bounded during a
// catch-up. How the stream is read (the consumer's loop, its recovery from NATS's faults) is reader.ts's.
import type { JsMsg } from '@nats-io/jetstream';
import type { Signal } from '../../lib/signal.js';
import type { UserChangeEvent } from '../users.js';
import { apply, type Applied, type ReadModel } from './apply.js';
import type { NatsLink } from './connection.js';
import { decode } from './messages.js';
import { BATCH, Reader } from './reader.js';
import { isStorageFull } from '../errors.js';
import { toStorageError } from '../lmdb/errors.js';

/** meta key: the last stream sequence applied (written in each apply's commit). */
export const APPLIED_KEY = 'cluster:applied';
/** meta key: the stream this read model was applied from (its creation time). */
export const STREAM_KEY = 'cluster:stream';

const MAX_IN_FLIGHT = 512;
const PROGRESS_MS = 5_000;

interface Outcome {
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

type Settled = { ok: true; value: unknown } | { ok: false; error: unknown };

/** An outcome that is never an unhandled rejection, whether or not a writer waits for it on this node. */
const settled = (outcome: unknown): Promise<Settled> =>
  Promise.resolve(outcome).then(
    (value) => ({ ok: true, value }),
    (error: unknown) => ({ ok: false, error }),
  );

export class Applier {
  /** The last sequence whose commit is over. */
  applied: number;
  /** The stream's last sequence when last asked (a barrier, a start). */
  last = 0;
  private readonly outcomes = new Map<string, Outcome>();
  private readonly seqWaiters: { seq: number; resolve: () => void }[] = [];
  private inFlight: Promise<void>[] = [];
  private lastProgress = 0;
  /** The last sequence handed to a transaction (its commit may not be over). */
  private issued: number;
  /** The sequence after the last gap met (the gap rule in take). */
  private gapAt = 0;
  /** Delivers the stream in order and recovers from NATS's faults. */
  private readonly reader: Reader;

  constructor(
    link: NatsLink,
    private readonly model: ReadModel,
    private readonly userChanges: Signal<UserChangeEvent>,
    private readonly log: (message: string) => void,
  ) {
    const stored = model.db.meta.get(APPLIED_KEY);
    this.applied = typeof stored === 'number' ? stored : 0;
    this.issued = this.applied;
    this.reader = new Reader(link, {
      applied: () => this.applied,
      issued: () => this.issued,
      last: () => this.last,
      behind: (seq) => this.behind(seq),
      stuck: () => this.stuck !== undefined,
      take: (msg) => this.take(msg),
      log,
    });
  }

  /** Awaits the outcome of a message this node publishes with `from` (register before publishing). */
  expect(from: string): Promise<unknown> {
    return new Promise((resolve, reject) => this.outcomes.set(from, { resolve, reject }));
  }

  forget(from: string): void {
    this.outcomes.delete(from);
  }

  /** `seq` is in the stream (a write's ack, a barrier's answer): fetched unless the consumer delivers it soon. */
  behind(seq: number): void {
    if (seq > this.last) this.last = seq;
    this.reader.behind(seq);
  }

  /** Resolves once `seq` is applied here (its commit over). */
  whenApplied(seq: number): Promise<void> {
    if (this.applied >= seq) return Promise.resolve();
    return new Promise((resolve) => {
      this.seqWaiters.push({ seq, resolve });
      this.seqWaiters.sort((a, b) => a.seq - b.seq);
    });
  }

  start(): void {
    this.reader.start();
  }

  async stop(): Promise<void> {
    await this.reader.stop();
    await Promise.allSettled(this.inFlight);
  }

  halt(): void {
    this.reader.halt();
  }

  /** Issues one message's apply (from the consumer or the fetcher; the two may meet, so both check here). */
  private async take(msg: Pick<JsMsg, 'seq' | 'data'>): Promise<void> {
    const seq = msg.seq;
    if (seq <= this.issued) return;
    if (this.inFlight.length >= MAX_IN_FLIGHT) await this.inFlight.shift();
    // After the wait, since the other source may have issued it meanwhile; from here to `issued = seq` no await.
    // Redelivered after a restart of the consumer, or fetched: already in this commit chain.
    if (seq <= this.issued) return;
    // A sequence skipped (a consumer mended from a wrong cursor) is never applied past: start again from
    // the last applied. Met again right after a new consumer, the gap is in the stream itself.
    if (seq > this.issued + 1 && this.gapAt !== seq) {
      this.gapAt = seq;
      this.reader.restart(`sequence ${seq} came after ${this.issued}`);
      return;
    }
    this.issued = seq;
    let message: ReturnType<typeof decode> | undefined;
    let applied: Applied | undefined;
    const { db } = this.model;
    const commit = db.root.transaction(() => {
      try {
        message = decode(msg.data);
        applied = apply(this.model, message);
      } catch (err) {
        // A message this node cannot apply is refused the same way on every node: the sequence moves on.
        applied = { outcome: Promise.reject(err) };
      }
      applied.outcome = settled(applied.outcome);
      void db.meta.put(APPLIED_KEY, seq);
      // Not the outcome itself: lmdb would wait on a promise returned here.
      return true;
    });
    const done = commit.then(
      () => this.settle(seq, message?.from, applied, false),
      (err: unknown) => {
        const error = toStorageError(err);
        this.refused(seq, error);
        this.settle(seq, message?.from, applied, true, error);
        // The commit failed (a full disk): nothing from here on is applied; consume again from `applied`.
        this.issued = this.applied;
        this.halt();
      },
    );
    this.inFlight.push(done);
    void done.finally(() => {
      const i = this.inFlight.indexOf(done);
      if (i >= 0) this.inFlight.splice(i, 1);
    });
  }

  private settle(seq: number, from: string | undefined, applied: Applied | undefined, failed: boolean, err?: unknown) {
    applied?.after?.(failed);
    if (!failed) {
      this.stuck = undefined;
      this.applied = Math.max(this.applied, seq);
      if (applied?.userChange) this.userChanges.emit(applied.userChange);
      while (this.seqWaiters.length > 0 && this.seqWaiters[0].seq <= this.applied) this.seqWaiters.shift()!.resolve();
      this.progress();
    }
    const waiter = from === undefined ? undefined : this.outcomes.get(from);
    if (!waiter || !from) return;
    this.outcomes.delete(from);
    if (failed) return waiter.reject(err);
    const outcome = (applied?.outcome ?? settled(undefined)) as Promise<Settled>;
    void outcome.then((r) => (r.ok ? waiter.resolve(r.value) : waiter.reject(r.error)));
  }

  /** Set while a commit the disk refused stops the apply (room.ts answers every write here 507 meanwhile). */
  stuck: Error | undefined;

  /** A commit the disk refused: said loudly, then tried again every STUCK_RETRY_MS (reader.ts; it may have room). */
  private refused(seq: number, err: unknown): void {
    if (!isStorageFull(err)) return;
    const message = (err as Error).message;
    if (!this.stuck) this.log(`cluster: APPLYING STOPPED at sequence ${seq}: ${message}; not ready until it has room`);
    this.stuck = err as Error;
  }

  private progress(): void {
    // Behind by less than a batch is a write in flight, not a catch-up.
    if (this.last - this.applied < BATCH) return;
    const now = Date.now();
    if (now - this.lastProgress < PROGRESS_MS) return;
    this.lastProgress = now;
    this.log(`cluster: catching up from the stream, applied ${this.applied} of ${this.last}`);
  }
}
