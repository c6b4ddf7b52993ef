// Fetching by sequence what a node's consumer has not delivered: the applier's way past a consumer that
// died with its nats-server. A node's ordered consumer lives on one server of the stream's group; when
// that server dies, a new consumer needs JetStream's meta layer, and right after the death making one
// failed for 6 s in the fault test ("no consumer within 2000 ms" three times), while every write
// acknowledged meanwhile waited for its apply here and answered 503. Asking for one message by its
// sequence (STREAM.MSG.GET) needs only the stream's leader, which took the write a moment before.
import type { JsMsg } from '@nats-io/jetstream';
import type { NatsLink } from './connection.js';

/** A sequence known to be in the stream yet not delivered this long is fetched by itself. */
const FETCH_MS = 300;

export interface FetchTarget {
  /** The last sequence handed to an apply. */
  issued(): number;
  /** The stream's last sequence, as far as this node knows. */
  last(): number;
  /** When the consumer last delivered a message (or started). */
  deliveredAt(): number;
  /** Issues one message's apply; one the consumer issued already is skipped there. */
  take(msg: Pick<JsMsg, 'seq' | 'data'>): Promise<void>;
  log(message: string): void;
}

export class Fetcher {
  private fetching = false;
  private timer: NodeJS.Timeout | undefined;
  private target = 0;
  /** It applied what the consumer had not delivered: the next sequences are fetched at once, not after FETCH_MS. */
  private ahead = false;
  private failed = false;
  private stopped = false;

  constructor(
    private readonly link: NatsLink,
    private readonly to: FetchTarget,
  ) {}

  /** `seq` is in the stream (a write's ack, a barrier's answer): fetched unless the consumer delivers it soon. */
  behind(seq: number): void {
    if (seq <= this.to.issued() || this.stopped) return;
    this.target = Math.max(this.target, seq);
    if (this.ahead) {
      void this.fetch();
      return;
    }
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.to.issued() < this.target && !this.live()) void this.fetch();
    }, FETCH_MS);
    this.timer.unref();
  }

  /** The consumer delivered `seq`: once it is where fetching got, it is waited for again. */
  delivered(seq: number): void {
    if (seq >= this.to.issued()) this.ahead = false;
  }

  /** A consumer that delivers is left to do it (a catch-up of many messages is its work, in batches). */
  private live(): boolean {
    return Date.now() - this.to.deliveredAt() < FETCH_MS;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** Issues the messages after `issued` one by one, up to the last sequence known. */
  private async fetch(): Promise<void> {
    if (this.fetching || this.stopped) return;
    this.fetching = true;
    try {
      while (!this.stopped && this.to.issued() < this.to.last() && !this.live()) {
        const seq = this.to.issued() + 1;
        const msg = await this.link.jsm.streams.getMessage(this.link.stream, { seq });
        // A hole in the stream: the consumer steps over it (the applier's gap rule).
        if (!msg || this.stopped) return;
        const before = this.to.issued();
        await this.to.take(msg);
        // Not taken: a failed commit, which the consumer's restart recovers.
        if (this.to.issued() < seq) return;
        if (before < seq) this.ahead = true;
        this.failed = false;
      }
    } catch (err) {
      // Told once (no stream leader answers for seconds during an election), then quiet until one answers.
      if (!this.failed)
        this.to.log(`cluster: could not fetch sequence ${this.to.issued() + 1}: ${(err as Error).message}`);
      this.failed = true;
    } finally {
      this.fetching = false;
    }
  }
}
