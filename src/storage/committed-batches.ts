// How an engine tells the hub what it committed: records gathered until the next macrotask, emitted as
// one batch in id order on the log's `committed` signal.
import { Signal } from '../lib/signal.js';
import type { EventRecord } from './event-log.js';

export class CommittedBatches {
  readonly committed = new Signal<readonly EventRecord[]>();
  private pending: EventRecord[] = [];
  private scheduled = false;

  /**
   * A record now durable. Every write of one commit resolves in the same turn: gathering them until the
   * next macrotask hands the hub one batch per commit, so it writes one buffer per subscriber instead
   * of one per event.
   */
  add(record: EventRecord): void {
    this.pending.push(record);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const batch = this.pending;
      this.pending = [];
      // Ids were assigned in order and commits complete in order, but resolution order of one commit's
      // writes is an engine detail: sort so that subscribers always receive id order.
      batch.sort((a, b) => a.id - b.id);
      this.committed.emit(batch);
    });
  }
}
