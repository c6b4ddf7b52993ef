// A node's reader: the ordered consumer that delivers the stream to the apply path (applier.ts) in order,
// from the sequence after the last one applied, in bounded batches, and its recovery: a loop that drops
// any broken or silent consumer and starts a new one, and a watchdog that learns the stream's last
// sequence and notices a consumer that stopped delivering. Beside it, fetcher.ts applies by sequence what
// the consumer does not deliver. Apart from the apply path because its concern is NATS's faults, not LMDB.
import type { ConsumerMessages } from '@nats-io/jetstream';
import type { NatsLink } from './connection.js';
import { type FetchTarget, Fetcher } from './fetcher.js';

/** The most messages a consumer pulls at once (a catch-up's memory stays bounded). */
export const BATCH = 256;
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

/** What the reader needs of the apply path: the fetcher's needs (but when it delivered: the reader knows). */
export interface ReadTarget extends Omit<FetchTarget, 'deliveredAt'> {
  /** The last sequence whose commit is over: a new consumer starts after it. */
  applied(): number;
  /** `seq` is in the stream (the watchdog's answer). */
  behind(seq: number): void;
  /** A commit the disk refused stops the apply: the loop waits STUCK_RETRY_MS before it consumes again. */
  stuck(): boolean;
}

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

export class Reader {
  private stopped = false;
  private running: Promise<void> | undefined;
  /** The last sequence the current consumer delivered, and when (or when it started): a stall is measured here. */
  private consumed = 0;
  private consumedAt = Date.now();
  /** Applies what the consumer does not deliver (a consumer that died with its server). */
  private readonly fetcher: Fetcher;

  constructor(
    private readonly link: NatsLink,
    private readonly to: ReadTarget,
  ) {
    this.fetcher = new Fetcher(link, {
      issued: () => to.issued(),
      last: () => to.last(),
      deliveredAt: () => this.consumedAt,
      take: (msg) => to.take(msg),
      log: (message) => to.log(message),
    });
  }

  /** `seq` is in the stream (a write's ack, a barrier's answer): fetched unless the consumer delivers it soon. */
  behind(seq: number): void {
    this.fetcher.behind(seq);
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
            const consumer = await this.link.js.consumers.get(this.link.stream, {
              opt_start_seq: this.to.applied() + 1,
            });
            return consumer.consume({ max_messages: BATCH, expires: 5_000, idle_heartbeat: 1_000 });
          })(),
          START_MS,
          (late) => late.stop(),
        );
        this.messages = messages;
        this.consumed = this.to.applied();
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
          await this.to.take(next.value);
        }
      } catch (err) {
        if (this.stopped) break;
        this.to.log(`cluster: the stream consumer stopped (${(err as Error).message}); starting again`);
      }
      if (this.stopped) break;
      const restarted = this.restarting;
      this.restarting = false;
      if (restarted) continue;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, this.to.stuck() ? STUCK_RETRY_MS : 250);
      });
    }
  }

  private restarting = false;
  private dropped: (() => void) | undefined;

  /** Drops the current consumer: the loop starts a new one after the last sequence applied. */
  restart(why: string): void {
    if (this.stopped || !this.messages) return;
    this.to.log(`cluster: restarting the stream consumer (${why}) after sequence ${this.to.applied()}`);
    const messages = this.messages;
    this.messages = undefined;
    this.restarting = true;
    this.dropped?.();
    messages.stop();
  }

  /** Stops the current consumer (a failed commit): the loop consumes again from the last sequence applied. */
  halt(): void {
    this.messages?.stop();
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
        this.to.log(`cluster: NATS ${status.type} ${'server' in status ? String(status.server) : ''}`);
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
    const last = this.to.last();
    if (last > this.consumed && this.to.issued() === this.to.applied() && Date.now() - this.consumedAt > STALL_MS) {
      this.consumedAt = Date.now();
      this.restart(`no progress for ${STALL_MS} ms, the stream is at ${last}`);
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
        this.to.behind(info.state.last_seq);
      })
      .catch(() => {
        // Connected yet never answered (a link to a dead server not noticed yet): go to another server.
        if (++this.unanswered >= 4 && !this.link.nc.isClosed()) {
          this.unanswered = 0;
          this.to.log('cluster: NATS answers nothing on this connection; reconnecting');
          this.link.nc.reconnect().catch(() => {});
        }
      })
      .finally(() => {
        clearTimeout(timer);
        this.asking = false;
      });
  }
}
