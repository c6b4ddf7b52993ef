// One open stream: where its bytes go (a Sink any transport implements), what it asked for, and its
// live queue. From the moment it is attached, live batches are queued here, not written, while its
// replay goes out page by page (reads may await); going live drains the queue, skipping what the replay
// covered (Mercure's `Ready`). So the handoff holds whether the log answers reads at once or later.
import type { EventRecord } from '../storage/event-log.js';
import { SSE_FRAMING } from './sse.js';

/**
 * Where a subscriber's bytes go: over HTTP/1.1 the connection's socket itself, over HTTP/2 the
 * request's own stream (the connection is shared with the browser's other requests and tabs, so a
 * cut or an end applies to this stream alone); a WebSocket next.
 */
export interface Sink {
  write(bytes: Buffer | string): boolean;
  end(): void;
  destroy(): void;
  readonly writableLength: number;
  readonly destroyed: boolean;
  once(event: 'close' | 'drain', listener: () => void): unknown;
}

/**
 * How a transport frames records: SSE (sse.ts) or a WebSocket's frames (topics/ws-frames.ts). A batch is
 * framed once per framing (FramedBatch.framed), whatever the number of subscribers using it.
 */
export interface Framing {
  readonly name: string;
  frame(record: EventRecord): Buffer;
  /** Sent first by a replay that starts over from a snapshot. */
  readonly reset: Buffer | string;
  /** Written by the hub's heartbeat, or none (a WebSocket pings on its own). */
  readonly heartbeat: Buffer | undefined;
}

export interface SubscriberInit {
  /** The log stream it follows (a tenant, or the topics' stream). */
  stream: string;
  /** Its key in the hub's registry, when it is not `stream` (a topic: topics/stream.ts). */
  key?: string;
  /** Who it is in a topic's presence (the token's `sub`). */
  presence?: string;
  /** How its bytes are framed; SSE when absent. */
  framing?: Framing;
  username: string;
  sink: Sink;
  /** Only these event names, or all. */
  names: ReadonlySet<string> | undefined;
  /** Token expiry in ms since epoch; the stream ends then. */
  expiresAt: number | undefined;
  /**
   * Asked once it is registered: a revoke, password change or tenant move from then on closes it, one
   * that happened while the request was authenticated did not see it (false: closed before any byte).
   */
  isCurrent?: () => boolean;
}

/** One batch's records in one framing: shared by every subscriber using it (never copied). */
export interface Frames {
  frames: readonly Buffer[];
  /** Every frame in one Buffer: what an unfiltered subscriber gets. */
  all: Buffer;
}

/** One committed batch as the hub handed it out, shared by every subscriber of its key. */
export interface FramedBatch {
  records: readonly EventRecord[];
  /** Framed once per framing, on first use. */
  framed(framing: Framing): Frames;
  /** The hub's count of batches published when this one's round began (all of them committed by then). */
  seq: number;
}

/** What the hub hands a subscriber on attach. */
export interface Attachment {
  maxBuffer: number;
  /** The hub's count of batches published so far: those are committed, so the replay will read them. */
  seq: number;
  now: () => number;
  /** Called once when the stream ends, however it ends (the hub drops it from its registry). */
  gone: () => void;
}

/** Why the server itself ended a stream (bounded: the metrics label it); a client's own hang-up has none. */
export type CutReason = 'slow_reader' | 'token_expired' | 'session_ended';

/** How long a closed stream's unsent bytes may take to drain before its socket is cut. */
const CLOSE_GRACE_MS = 5000;

export class Subscriber {
  private replaying = true;
  /**
   * The live queue outgrew --max_buffer while replaying and was dropped: the replay keeps reading the log
   * (which holds every dropped batch) up to its committed head before going live.
   */
  private behind = false;
  private queue: { batch: FramedBatch; bytes: number }[] = [];
  private queueBytes = 0;
  private attachedSeq = 0;
  /** The highest id written (or covered by the replay): live events at or below it are not sent again. */
  private lastId = 0;
  private ended = false;
  private maxBuffer = Number.POSITIVE_INFINITY;
  private gone: (() => void) | undefined;
  private expiry: NodeJS.Timeout | undefined;
  /** Set when the server cut it, before it leaves (the hub counts it then). */
  cutReason: CutReason | undefined;
  /** When the hub registered it (ms since epoch; the dashboard shows it). */
  attachedAt = 0;

  constructor(readonly init: SubscriberInit) {}

  get stream(): string {
    return this.init.stream;
  }

  get key(): string {
    return this.init.key ?? this.init.stream;
  }

  get framing(): Framing | undefined {
    return this.init.framing;
  }

  get username(): string {
    return this.init.username;
  }

  get sink(): Sink {
    return this.init.sink;
  }

  get closed(): boolean {
    return this.ended;
  }

  get live(): boolean {
    return !this.replaying;
  }

  /** Bytes this stream holds in user space: the sink's unsent bytes and, while replaying, its live queue. */
  get queuedBytes(): number {
    return this.init.sink.writableLength + this.queueBytes;
  }

  /** From now on, live batches queue until goLive (the hub calls this as it registers the stream). */
  attach(attachment: Attachment): void {
    this.maxBuffer = attachment.maxBuffer;
    this.attachedSeq = attachment.seq;
    this.gone = attachment.gone;
    this.attachedAt = attachment.now();
    const { expiresAt } = this.init;
    if (expiresAt !== undefined) {
      const ms = Math.max(0, Math.min(expiresAt - attachment.now(), 2 ** 31 - 1));
      this.expiry = setTimeout(() => this.end('token_expired'), ms);
      this.expiry.unref();
    }
    this.init.sink.once('close', () => this.leave());
  }

  private leave(): void {
    if (this.ended) return;
    this.ended = true;
    this.queue = [];
    this.queueBytes = 0;
    if (this.expiry) clearTimeout(this.expiry);
    this.gone?.();
  }

  /** Ends the stream cleanly (the client reconnects and resumes from its last id). */
  end(reason?: CutReason): void {
    if (this.ended) return;
    this.cutReason = reason;
    this.leave();
    const sink = this.init.sink;
    sink.end();
    // end() waits behind unsent bytes: a client that never reads would keep the socket and its buffer
    // (no longer counted against --max_streams_per_user) for good. It gets a grace period to drain.
    if (!sink.destroyed && sink.writableLength > 0) setTimeout(() => sink.destroy(), CLOSE_GRACE_MS).unref();
  }

  /** Fallen more than --max_buffer behind: cut (destroy, not end, which would queue behind the backlog). */
  private cut(): void {
    this.cutReason = 'slow_reader';
    this.leave();
    this.init.sink.destroy();
  }

  /**
   * Writes bytes unless the subscriber has fallen more than maxBuffer behind: then its stream is cut
   * and nobody else waits for it. undefined: nothing written (closed or cut). Otherwise whether the sink
   * took the bytes in (false: they are queued, and a replay waits for 'drain' before its next page; live
   * fan-out never waits).
   */
  write(bytes: Buffer | string): boolean | undefined {
    if (this.ended) return undefined;
    if (this.init.sink.writableLength > this.maxBuffer) {
      this.cut();
      return undefined;
    }
    return this.init.sink.write(bytes);
  }

  /** A committed batch of its stream, from the hub's fan-out. Returns the events delivered. */
  offer(batch: FramedBatch): number {
    if (this.ended) return 0;
    if (this.replaying) {
      this.enqueue(batch);
      return 0;
    }
    return this.deliver(batch);
  }

  private enqueue(batch: FramedBatch): void {
    // Committed before the attach (a round already under way, or waiting): the replay reads it from the
    // log, and queuing it would count a big commit against a subscriber that is not behind at all.
    if (batch.seq <= this.attachedSeq) return;
    const { records } = batch;
    const { frames, all } = this.framesOf(batch);
    let bytes = 0;
    if (!this.init.names) bytes = all.length;
    else for (let i = 0; i < records.length; i++) if (this.init.names.has(records[i].event)) bytes += frames[i].length;
    if (bytes === 0) return;
    this.queue.push({ batch, bytes });
    this.queueBytes += bytes;
    // Past --max_buffer the queue is dropped rather than the stream cut: everything in it is in the log,
    // and the replay reads on to the head (takeBehind). Memory stays bounded; a reader that keeps
    // reading is never cut, only a sink that itself falls --max_buffer behind (write).
    if (this.queuedBytes > this.maxBuffer) {
      this.queue = [];
      this.queueBytes = 0;
      this.behind = true;
    }
  }

  /**
   * Asked by the replay when it reached the log's head: true (and cleared) when live batches were dropped
   * meanwhile, so it must read on from where it is; they were committed before this call, so the next
   * read to the head covers them.
   */
  takeBehind(): boolean {
    if (!this.behind) return false;
    this.behind = false;
    return true;
  }

  private framesOf(batch: FramedBatch): Frames {
    return batch.framed(this.init.framing ?? SSE_FRAMING);
  }

  private deliver(batch: FramedBatch): number {
    const { records } = batch;
    const { frames, all } = this.framesOf(batch);
    const names = this.init.names;
    const last = records[records.length - 1].id;
    let delivered = 0;
    if (!names && this.lastId < records[0].id) {
      if (this.write(all) !== undefined) delivered = records.length;
    } else {
      // A filter, or a replay that already sent part of this batch: pick this subscriber's frames.
      const mine: Buffer[] = [];
      for (let i = 0; i < records.length; i++) {
        if (records[i].id > this.lastId && (!names || names.has(records[i].event))) mine.push(frames[i]);
      }
      if (mine.length > 0 && this.write(mine.length === 1 ? mine[0] : Buffer.concat(mine)) !== undefined)
        delivered = mine.length;
    }
    // Never backwards: a replay may have read past this batch.
    if (last > this.lastId) this.lastId = last;
    return delivered;
  }

  /**
   * The replay has covered every id up to `position`: queued batches it has overtaken are dropped, so the
   * queue counts against --max_buffer only what the subscriber is really behind.
   */
  covered(position: number): void {
    if (!this.replaying) return;
    while (this.queue.length > 0) {
      const { batch, bytes } = this.queue[0];
      if (batch.records[batch.records.length - 1].id > position) break;
      this.queue.shift();
      this.queueBytes -= bytes;
    }
  }

  /**
   * The replay is written and covered every id up to `through` (events it skipped by a filter, or as
   * superseded in a snapshot, included): the queued batches go out, minus what the replay already held,
   * and from now on the hub's batches are written as they come. Returns the events delivered.
   */
  goLive(through: number): number {
    if (this.ended || !this.replaying) return 0;
    this.replaying = false;
    if (through > this.lastId) this.lastId = through;
    const queue = this.queue;
    this.queue = [];
    this.queueBytes = 0;
    let delivered = 0;
    for (const { batch } of queue) delivered += this.deliver(batch);
    return delivered;
  }
}
