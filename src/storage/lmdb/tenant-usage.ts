// What each tenant's events hold, for the per-tenant limits: bytes (kept in meta as bytes:<tenant>, in
// the same commit as the insert or deletion that changes it) and distinct event names (counted from
// the latest tree once per tenant; names are never deleted, retention keeps each name's latest event).
// A database from before the quota has no byte counts (no meta tenant_bytes): one pass at the first
// start computes them.
import { recordBytes } from '../event-log.js';
import type { Database } from './database.js';

/** An insert's share of the counts, handed back if its commit fails. */
export interface UsageClaim {
  tenant: string;
  event: string;
  size: number;
  /** The tenant's byte count with this insert: written in the insert's commit. */
  total: number;
  newName: boolean;
}

export class TenantUsageBook {
  private readonly bytes = new Map<string, number>();
  private readonly names = new Map<string, number>();
  /** New names of inserts not committed yet: two concurrent inserts of one new name add one name. */
  private readonly pendingNames = new Map<string, Set<string>>();

  constructor(private readonly db: Database) {
    if (db.meta.get('tenant_bytes') === undefined) this.countAll();
  }

  private countAll(): void {
    const totals = new Map<string, number>();
    for (const { key, value: stored } of this.db.events.getRange({})) {
      totals.set(key[0], (totals.get(key[0]) ?? 0) + recordBytes(stored.e, stored.d));
    }
    for (const [tenant, total] of totals) {
      this.bytes.set(tenant, total);
      void this.db.meta.put(`bytes:${tenant}`, total).catch(() => {});
    }
    // If this commit fails, the next start counts again.
    void this.db.meta.put('tenant_bytes', 1).catch(() => {});
  }

  bytesOf(tenant: string): number {
    let n = this.bytes.get(tenant);
    if (n === undefined) {
      const stored = this.db.meta.get(`bytes:${tenant}`);
      n = typeof stored === 'number' ? stored : 0;
      this.bytes.set(tenant, n);
    }
    return n;
  }

  /** Counted once per tenant (latest holds one key per name; --tenant_max_event_names keeps that small). */
  namesOf(tenant: string): number {
    let n = this.names.get(tenant);
    if (n === undefined) {
      n = 0;
      for (const key of this.db.latest.getKeys({ start: [tenant, ''] })) {
        if ((key as [string, string])[0] !== tenant) break;
        n++;
      }
      this.names.set(tenant, n);
    }
    return n;
  }

  isNewName(tenant: string, event: string): boolean {
    return !this.pendingNames.get(tenant)?.has(event) && this.db.latest.get([tenant, event]) === undefined;
  }

  /** Counts an insert before its commit (call it in the same turn as its puts). */
  claim(tenant: string, event: string, data: string): UsageClaim {
    const size = recordBytes(event, data);
    const total = this.bytesOf(tenant) + size;
    this.bytes.set(tenant, total);
    const newName = this.isNewName(tenant, event);
    if (newName) {
      this.names.set(tenant, this.namesOf(tenant) + 1);
      let pending = this.pendingNames.get(tenant);
      if (!pending) this.pendingNames.set(tenant, (pending = new Set()));
      pending.add(event);
    }
    return { tenant, event, size, total, newName };
  }

  /**
   * The insert's commit is over: if it failed, nothing was written and its share goes back (a later
   * commit writes the corrected total).
   */
  settle(claim: UsageClaim, failed: boolean): void {
    const { tenant, event } = claim;
    if (failed) this.bytes.set(tenant, this.bytesOf(tenant) - claim.size);
    if (!claim.newName) return;
    const pending = this.pendingNames.get(tenant);
    pending?.delete(event);
    if (pending?.size === 0) this.pendingNames.delete(tenant);
    if (failed) this.names.set(tenant, this.namesOf(tenant) - 1);
  }

  /** Retention deleted this many bytes; returns the new total for its commit. */
  freed(tenant: string, bytes: number): number {
    const total = Math.max(0, this.bytesOf(tenant) - bytes);
    this.bytes.set(tenant, total);
    return total;
  }
}
