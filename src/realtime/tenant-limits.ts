// Per-tenant limits on inserts, checked once per insert (never per delivery): a rate (token bucket,
// --tenant_insert_rate per second with one second of burst), a byte quota (--tenant_quota) and a cap on
// distinct event names (--tenant_max_event_names). Retention keeps each name's latest event forever, so
// without the cap, unique names would defeat it and one tenant could fill the database for all.
import { tenantLimit, tooMany } from '../errors.js';
import { recordBytes, type EventLog } from '../storage/event-log.js';

export interface TenantLimitOptions {
  /** Inserts per second per tenant; 0 = unlimited. */
  insertRate: number;
  /** Bytes of events per tenant; 0 = unlimited. */
  quota: number;
  /** Distinct event names per tenant; 0 = unlimited. */
  maxEventNames: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class TenantLimits {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly options: TenantLimitOptions,
    private readonly log: EventLog,
    private readonly clock: () => number = () => performance.now(),
  ) {}

  /** Throws the refusal, or returns when this insert may go ahead (call it in the same turn as the append). */
  check(tenant: string, event: string, data: string): void {
    const { insertRate, quota, maxEventNames } = this.options;
    if (quota > 0 || maxEventNames > 0) {
      const usage = this.log.usage(tenant);
      if (quota > 0 && usage.bytes + recordBytes(event, data) > quota) {
        throw tenantLimit(
          `the tenant's events would exceed --tenant_quota (${quota} bytes; ${usage.bytes} used): ` +
            'nothing was written. Raise --tenant_quota or let retention (--history_max_events, ' +
            '--history_max_age) free space',
        );
      }
      if (maxEventNames > 0 && usage.names >= maxEventNames && this.log.isNewName(tenant, event)) {
        throw tenantLimit(
          `the tenant has ${usage.names} event names, --tenant_max_event_names is ${maxEventNames}: ` +
            'a new name is refused (existing names still insert)',
        );
      }
    }
    if (insertRate > 0) this.take(tenant, insertRate);
  }

  private take(tenant: string, rate: number): void {
    const now = this.clock();
    let bucket = this.buckets.get(tenant);
    if (!bucket) this.buckets.set(tenant, (bucket = { tokens: rate, at: now }));
    bucket.tokens = Math.min(rate, bucket.tokens + ((now - bucket.at) * rate) / 1000);
    bucket.at = now;
    if (bucket.tokens < 1) {
      throw tooMany(
        `the tenant inserts more than --tenant_insert_rate (${rate} per second): retry later`,
        (1 - bucket.tokens) / rate,
      );
    }
    bucket.tokens -= 1;
  }
}
