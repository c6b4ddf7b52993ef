// A node's applier: reads the stream in order (an ordered consumer from the sequence after the last one
// applied) and applies each message to the LMDB read model in one commit with the applied sequence, so a
// restart resumes exactly where the last commit ended. Applies are issued without waiting for the
// previous commit (lmdb runs transaction callbacks in order, each seeing the ones before), at most
// MAX_IN_FLIGHT at a time, and pulled in bounded batches: memory stays bounded during a catch-up.
import type { ConsumerMessages, JsMsg } from '@nats-io/jetstream';
import type { Signal } from '../../lib/signal.js';
import type { UserChangeEvent } from '../users.js';
import { apply, type Applied, type ReadModel } from './apply.js';
import type { NatsLink } from './connection.js';
import { Fetcher } from './fetcher.js';
import { decode } from './messages.js';
import { isStorageFull } from '../errors.js';
import { toStorageError } from '../lmdb/errors.js';

/** meta key: the last stream sequence applied (written in each apply's commit). */
export const APPLIED_KEY = 'cluster:applied';
/** meta key: the stream this read model was applied from (its creation time). */
export const STREAM_KEY = 'cluster:stream';

const MAX_IN_FLIGHT = 512;
const BATCH = 256;
const PROGRESS_MS = 5_000;
/** A commit the disk refused is tried again this often (it may have room again). */
const STUCK_RETRY_MS = 5_000;
/** How often the watchdog looks (and asks the stream's last sequence). */
const CHECK_MS = 500;
/** A consumer that applies nothing this long while the stream holds more is taken for dead. */
const STALL_MS = 2_000;
/** Making a consumer needs the stream's leader: without one, give up and try again. */
const START_MS = 2_000;
/** The watchdog's question about the stream's last sequence gets this long. */
const ASK_MS = 2_000;

/** `work`, or a timeout error after `ms` (a late result is handed to `drop`). */
async function within<T>(work: Promise<T>, ms: number, drop: (late: T) => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let late = false;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          late = true;
          reject(new Error(`no consumer within ${ms} ms`));
        }, ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
    if (late) void work.then(drop, () => {});
  }
}

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
  private stopped = false;
  private running: Promise<void> | undefined;
  private lastProgress = 0;
  /** The last sequence handed to a transaction (its commit may not be over). */
  private issued: number;
  /** The last sequence the current consumer delivered, and when (or when it started): a stall is measured here. */
  private consumed = 0;
  private consumedAt = Date.now();
  /** Applies what the consumer does not deliver (a consumer that died with its server). */
  private readonly fetcher: Fetcher;

  constructor(
    private readonly link: NatsLink,
    private readonly model: ReadModel,
    private readonly userChanges: Signal<UserChangeEvent>,
    private readonly log: (message: string) => void,
  ) {
    const stored = model.db.meta.get(APPLIED_KEY);
    this.applied = typeof stored === 'number' ? stored : 0;
    this.issued = this.applied;
    this.fetcher = new Fetcher(link, {
      issued: () => this.issued,
      last: () => this.last,
      deliveredAt: () => this.consumedAt,
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
    this.fetcher.behind(seq);
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
    this.running = this.run();
    this.timer = setInterval(() => this.check(), CHECK_MS);
    this.timer.unref();
    void this.watchConnection();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.fetcher.stop();
    this.dropped?.();
    this.messages?.stop();
    this.wake?.();
    await this.running;
    await Promise.allSettled(this.inFlight);
  }

  private wake: (() => void) | undefined;
  private messages: { stop(): void } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private asking = false;
  /** Stream questions in a row that got no answer. */
  private unanswered = 0;

  /**
   * Consumes for ever. The client library's own recovery of an ordered consumer does not survive every
   * fault (its consumer lives on the stream leader, and a reconnect to another server or a new leader can
   * leave it silent for good), so this loop owns recovery: any broken or silent consumer is dropped and a
   * new one starts after the last sequence applied here.
   */
  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        const messages = await within(
          (async () => {
            const consumer = await this.link.js.consumers.get(this.link.stream, { opt_start_seq: this.applied + 1 });
            return consumer.consume({ max_messages: BATCH, expires: 5_000, idle_heartbeat: 1_000 });
          })(),
          START_MS,
          (late) => late.stop(),
        );
        this.messages = messages;
        this.consumed = this.applied;
        this.consumedAt = Date.now();
        if (this.stopped) messages.stop();
        void this.watchConsumer(messages);
        // Raced with the restart: a consumer on a dead link may never end its iteration, even when stopped.
        const dropped = new Promise<undefined>((resolve) => {
          this.dropped = () => resolve(undefined);
        });
        const it = messages[Symbol.asyncIterator]();
        for (;;) {
          const next = await Promise.race([it.next(), dropped]);
          if (!next || next.done || this.stopped || this.messages !== messages) break;
          this.consumed = next.value.seq;
          this.consumedAt = Date.now();
          this.fetcher.delivered(this.consumed);
          await this.take(next.value);
        }
      } catch (err) {
        if (this.stopped) break;
        this.log(`cluster: the stream consumer stopped (${(err as Error).message}); starting again`);
      }
      if (this.stopped) break;
      const restarted = this.restarting;
      this.restarting = false;
      if (restarted) continue;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, this.stuck ? STUCK_RETRY_MS : 250);
      });
    }
  }

  private restarting = false;
  private dropped: (() => void) | undefined;
  private gapAt = 0;

  /** Drops the current consumer: the loop starts a new one after the last sequence applied. */
  private restart(why: string): void {
    if (this.stopped || !this.messages) return;
    this.log(`cluster: restarting the stream consumer (${why}) after sequence ${this.applied}`);
    const messages = this.messages;
    this.messages = undefined;
    this.restarting = true;
    this.dropped?.();
    messages.stop();
  }

  /** Missed heartbeats or a consumer gone: the library would try to mend it; a new one is surer. */
  private async watchConsumer(messages: ConsumerMessages): Promise<void> {
    try {
      for await (const s of messages.status()) {
        if (this.messages !== messages) return;
        if (s.type === 'heartbeats_missed' || s.type === 'consumer_deleted' || s.type === 'no_responders') {
          this.restart(s.type);
          return;
        }
      }
    } catch {
      /* the consumer ended */
    }
  }

  /** After a reconnect the consumer gets STALL_MS to show it still delivers. */
  private async watchConnection(): Promise<void> {
    for await (const status of this.link.nc.status()) {
      if (this.stopped) return;
      if (status.type === 'disconnect' || status.type === 'reconnect' || status.type === 'staleConnection')
        this.log(`cluster: NATS ${status.type} ${'server' in status ? String(status.server) : ''}`);
      // Not a restart: the consumer lives on the stream leader and usually goes on through the new link, while
      // making a new one needs the meta leader (maybe the server just lost). The watchdog sees one that does not.
      if (status.type === 'reconnect') this.consumedAt = Date.now();
    }
  }

  /**
   * The watchdog: learns the stream's last sequence now and then, and restarts a consumer that has not
   * moved `applied` for STALL_MS while the stream holds more (a silent consumer no event reported).
   */
  private check(): void {
    if (this.stopped) return;
    if (this.last > this.consumed && this.issued === this.applied && Date.now() - this.consumedAt > STALL_MS) {
      this.consumedAt = Date.now();
      this.restart(`no progress for ${STALL_MS} ms, the stream is at ${this.last}`);
    }
    if (this.asking || this.link.nc.isClosed()) return;
    this.asking = true;
    let timer: NodeJS.Timeout | undefined;
    Promise.race([
      this.link.jsm.streams.info(this.link.stream),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('no stream info in time')), ASK_MS);
      }),
    ])
      .then((info) => {
        this.unanswered = 0;
        this.behind(info.state.last_seq);
      })
      .catch(() => {
        // Connected yet never answered (a link to a dead server not noticed yet): go to another server.
        if (++this.unanswered >= 4 && !this.link.nc.isClosed()) {
          this.unanswered = 0;
          this.log('cluster: NATS answers nothing on this connection; reconnecting');
          this.link.nc.reconnect().catch(() => {});
        }
      })
      .finally(() => {
        clearTimeout(timer);
        this.asking = false;
      });
  }

  halt(): void {
    this.messages?.stop();
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
      this.restart(`sequence ${seq} came after ${this.issued}`);
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

  /** A commit the disk refused: said loudly, then tried again every STUCK_RETRY_MS (it may have room then). */
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
