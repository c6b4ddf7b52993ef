// In-memory fan-out per tenant. A committed batch is framed once into one buffer and that same buffer is
// written to every subscriber of the tenant: one write per subscriber per commit, not per event.
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

  get size(): number {
    let n = 0;
    for (const set of this.tenants.values()) n += set.size;
    return n;
  }

  streamsOf(username: string): number {
    return this.byUser.get(username)?.size ?? 0;
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
    sub.init.sink.end();
  }

  /**
   * Writes bytes unless the subscriber has fallen more than maxBuffer behind: then its stream is cut
   * (destroy, not end, because end would queue behind the backlog) and nobody else waits for it.
   */
  write(sub: Subscriber, bytes: Buffer | string): boolean {
    const sink = sub.init.sink;
    if (sub.closed) return false;
    if (sink.writableLength > this.options.maxBuffer) {
      this.remove(sub);
      sink.destroy();
      return false;
    }
    sink.write(bytes);
    return true;
  }

  /** Fans out one committed batch (one tenant's or several tenants' events, in id order). */
  publish(batch: EventRecord[]): void {
    let start = 0;
    while (start < batch.length) {
      const tenant = batch[start].tenant;
      let end = start + 1;
      while (end < batch.length && batch[end].tenant === tenant) end++;
      const subs = this.tenants.get(tenant);
      if (subs && subs.size > 0) this.publishTenant(subs, batch.slice(start, end));
      start = end;
    }
  }

  private publishTenant(subs: Set<Subscriber>, records: EventRecord[]): void {
    const frames = records.map((r) => Buffer.from(frame(r)));
    const all = frames.length === 1 ? frames[0] : Buffer.concat(frames);
    const firstId = records[0].id;
    const lastId = records[records.length - 1].id;
    for (const sub of subs) {
      if (!sub.live) continue;
      if (!sub.init.names && sub.lastId < firstId) {
        if (this.write(sub, all)) this.deliveries += records.length;
      } else {
        // A filter, or a replay that already sent part of this batch: pick this subscriber's frames.
        const mine: Buffer[] = [];
        for (let i = 0; i < records.length; i++) {
          if (records[i].id > sub.lastId && (!sub.init.names || sub.init.names.has(records[i].event))) mine.push(frames[i]);
        }
        if (mine.length > 0 && this.write(sub, mine.length === 1 ? mine[0] : Buffer.concat(mine))) this.deliveries += mine.length;
      }
      // Never backwards: a replay may have read past this batch and the next one still pending.
      if (lastId > sub.lastId) sub.lastId = lastId;
    }
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
