// In-memory fan-out per tenant. Committed batches are framed once into one buffer and that same buffer
// is written to every subscriber of the tenant: one socket write per subscriber per round, not per event.
import type { EventRecord } from '../storage/event-log.js';
import { HEARTBEAT, frame, type EventSink } from './sse.js';

export interface SubscriberInit {
  tenant: string;
  username: string;
  sink: EventSink;
  /** Only these event names, or all. */
  names: ReadonlySet<string> | undefined;
  /** Token expiry in ms since epoch; the stream ends then. */
  expiresAt: number | undefined;
}

export class Subscriber {
  /** Live once its replay is written; until then the hub skips it (replay reads the log instead). */
  live = false;
  /** The highest id written: live events at or below it were already in the replay. */
  lastId = 0;
  closed = false;
  expiryTimer: NodeJS.Timeout | undefined;

  constructor(readonly init: SubscriberInit) {}

  get tenant() {
    return this.init.tenant;
  }
}

/** How long a closed stream's unsent bytes may take to drain before its socket is cut. */
const CLOSE_GRACE_MS = 5000;

/** Subscribers written per macrotask during a fan-out. */
const SLICE = 500;

interface FanOutJob {
  records: EventRecord[];
  frames: Buffer[];
  all: Buffer;
  /** The tenant's subscribers when the round began. */
  subs: Subscriber[];
  next: number;
}

export interface HubOptions {
  maxBuffer: number;
  maxStreamsPerUser: number;
  heartbeatMs: number;
  now: () => number;
}

export class Hub {
  private readonly tenants = new Map<string, Set<Subscriber>>();
  private readonly byUser = new Map<string, Set<Subscriber>>();
  private readonly heartbeat: NodeJS.Timeout;
  deliveries = 0;

  constructor(private readonly options: HubOptions) {
    this.heartbeat = setInterval(() => this.beat(), options.heartbeatMs);
    this.heartbeat.unref();
  }

  /** Open streams across tenants (the bench reports it). */
  get size(): number {
    let n = 0;
    for (const set of this.tenants.values()) n += set.size;
    return n;
  }

  streamsOf(username: string): number {
    return this.byUser.get(username)?.size ?? 0;
  }

  /** Bytes queued in user space for this user's streams (what --max_buffer bounds per stream). */
  queuedBytes(username: string): number {
    let n = 0;
    for (const sub of this.byUser.get(username) ?? []) n += sub.init.sink.writableLength;
    return n;
  }

  canSubscribe(username: string): boolean {
    return this.streamsOf(username) < this.options.maxStreamsPerUser;
  }

  add(sub: Subscriber): void {
    let set = this.tenants.get(sub.tenant);
    if (!set) this.tenants.set(sub.tenant, (set = new Set()));
    set.add(sub);
    let mine = this.byUser.get(sub.init.username);
    if (!mine) this.byUser.set(sub.init.username, (mine = new Set()));
    mine.add(sub);
    const { expiresAt } = sub.init;
    if (expiresAt !== undefined) {
      const ms = Math.max(0, Math.min(expiresAt - this.options.now(), 2 ** 31 - 1));
      sub.expiryTimer = setTimeout(() => this.close(sub), ms);
      sub.expiryTimer.unref();
    }
    sub.init.sink.once('close', () => this.remove(sub));
  }

  private remove(sub: Subscriber): void {
    sub.closed = true;
    if (sub.expiryTimer) clearTimeout(sub.expiryTimer);
    const set = this.tenants.get(sub.tenant);
    if (set) {
      set.delete(sub);
      if (set.size === 0) this.tenants.delete(sub.tenant);
    }
    const mine = this.byUser.get(sub.init.username);
    if (mine) {
      mine.delete(sub);
      if (mine.size === 0) this.byUser.delete(sub.init.username);
    }
  }

  /** Ends a stream cleanly (the client reconnects and resumes from its last id). */
  close(sub: Subscriber): void {
    if (sub.closed) return;
    this.remove(sub);
    const sink = sub.init.sink;
    sink.end();
    // end() waits behind unsent bytes: a client that never reads would keep the socket and its buffer
    // (no longer counted against --max_streams_per_user) for good. It gets a grace period to drain.
    if (!sink.destroyed && sink.writableLength > 0) setTimeout(() => sink.destroy(), CLOSE_GRACE_MS).unref();
  }

  /**
   * Writes bytes unless the subscriber has fallen more than maxBuffer behind: then its stream is cut
   * (destroy, not end, because end would queue behind the backlog) and nobody else waits for it.
   * undefined: nothing written (closed or cut). Otherwise whether the socket took the bytes in (false:
   * they are queued, and a replay waits for 'drain' before its next page; live fan-out never waits).
   */
  write(sub: Subscriber, bytes: Buffer | string): boolean | undefined {
    const sink = sub.init.sink;
    if (sub.closed) return undefined;
    if (sink.writableLength > this.options.maxBuffer) {
      this.remove(sub);
      sink.destroy();
      return undefined;
    }
    return sink.write(bytes);
  }

  get maxBuffer(): number {
    return this.options.maxBuffer;
  }

  /**
   * Fans out committed batches. One commit to 5,000 subscribers in one synchronous loop held the event
   * loop for tens of milliseconds (inserts and new streams waited behind it), so the fan-out goes
   * SLICE subscribers per macrotask; batches committed meanwhile are merged into the next round, so a
   * subscriber still gets one write per round, however many commits piled up (bench: event-loop p99
   * 58 → 9.5 ms, insert p99 760 → 42 ms, deliveries per core-second ×2 at 5,000 subscribers).
   */
  publish(batch: readonly EventRecord[]): void {
    if (batch.length === 0) return;
    this.queue.push(batch);
    if (this.pumping) return;
    this.pumping = true;
    this.startRound();
    this.step();
  }

  private readonly queue: (readonly EventRecord[])[] = [];
  private pumping = false;
  private jobs: FanOutJob[] = [];

  /** Everything queued, merged and split by tenant; per tenant, ids stay in commit order. */
  private startRound(): void {
    const merged = this.queue.length === 1 ? this.queue[0] : this.queue.flat();
    this.queue.length = 0;
    const byTenant = new Map<string, EventRecord[]>();
    for (const record of merged) {
      let list = byTenant.get(record.tenant);
      if (!list) byTenant.set(record.tenant, (list = []));
      list.push(record);
    }
    this.jobs = [];
    for (const [tenant, records] of byTenant) {
      const subs = this.tenants.get(tenant);
      if (!subs || subs.size === 0) continue;
      // Framed once: every subscriber without a filter gets this very Buffer.
      const frames = records.map((r) => Buffer.from(frame(r)));
      this.jobs.push({
        records,
        frames,
        all: frames.length === 1 ? frames[0] : Buffer.concat(frames),
        subs: [...subs],
        next: 0,
      });
    }
  }

  private step(): void {
    let budget = SLICE;
    while (budget > 0 && this.jobs.length > 0) {
      const job = this.jobs[0];
      const end = Math.min(job.subs.length, job.next + budget);
      for (let i = job.next; i < end; i++) this.deliver(job.subs[i], job);
      budget -= end - job.next;
      job.next = end;
      if (job.next >= job.subs.length) this.jobs.shift();
    }
    if (this.jobs.length === 0 && this.queue.length > 0) this.startRound();
    if (this.jobs.length > 0) setImmediate(() => this.step());
    else this.pumping = false;
  }

  private deliver(sub: Subscriber, job: FanOutJob): void {
    // A subscriber that went live after the round began read these records in its replay: lastId says so.
    if (!sub.live || sub.closed) return;
    const { records, frames, all } = job;
    const lastId = records[records.length - 1].id;
    if (!sub.init.names && sub.lastId < records[0].id) {
      if (this.write(sub, all) !== undefined) this.deliveries += records.length;
    } else {
      // A filter, or a replay that already sent part of this batch: pick this subscriber's frames.
      const mine: Buffer[] = [];
      for (let i = 0; i < records.length; i++) {
        if (records[i].id > sub.lastId && (!sub.init.names || sub.init.names.has(records[i].event)))
          mine.push(frames[i]);
      }
      if (mine.length > 0 && this.write(sub, mine.length === 1 ? mine[0] : Buffer.concat(mine)) !== undefined)
        this.deliveries += mine.length;
    }
    // Never backwards: a replay may have read past this batch and the next one still pending.
    if (lastId > sub.lastId) sub.lastId = lastId;
  }

  private beat(): void {
    for (const subs of this.tenants.values()) {
      for (const sub of subs) this.write(sub, HEARTBEAT);
    }
  }

  /** Revoke, password change, tenant change: that user's streams end at once. */
  closeUser(username: string): number {
    const mine = this.byUser.get(username);
    if (!mine) return 0;
    const subs = [...mine];
    for (const sub of subs) this.close(sub);
    return subs.length;
  }

  closeAll(): void {
    clearInterval(this.heartbeat);
    for (const subs of [...this.tenants.values()]) for (const sub of [...subs]) this.close(sub);
  }
}
