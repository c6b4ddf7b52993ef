// The Prometheus metrics of one broker: a registry of its own (tests run several brokers in one process,
// and prom-client's global registry would mix them or refuse a second registration). The hot paths pay
// nothing here: the hub, the login and the lockout keep plain numbers (hub.deliveries, hub.cuts,
// login.outcomes, attempts.locks) that collect() copies when Prometheus scrapes; the only work per
// commit is one histogram observation, from the log's `committed` signal (one batch per commit).
import { type IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { LoginOutcomes } from '../identity/login.js';
import type { CutReason } from '../realtime/subscriber.js';
import type { EventLog } from '../storage/event-log.js';

/** What the metrics read of the broker's parts, each a few plain fields (no Services bag). */
export interface MetricSources {
  hub: { deliveries: number; readonly cuts: Readonly<Record<CutReason, number>>; openByFraming(): Map<string, number> };
  log: Pick<EventLog, 'committed'>;
  login: { readonly outcomes: Readonly<LoginOutcomes> };
  attempts: { readonly locks: number };
  /** Bytes of live data, and the map's size (--map_size). */
  usedBytes: () => number;
  mapSize: number;
  /** Serving HTTPS: the certificate expiry gauge exists (0 until a certificate is in service). */
  tls: boolean;
  now: () => number;
}

/** A framing's transport, for the streams_open label (a bounded set whatever a framing is named). */
const TRANSPORTS: Record<string, 'sse' | 'websocket'> = { sse: 'sse', 'ws-text': 'websocket', 'ws-v1': 'websocket' };

/** Insert commit latency buckets (seconds): an fsync'd commit takes a few ms; a loaded disk hundreds. */
const COMMIT_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export class Metrics {
  readonly registry = new Registry();
  private readonly loopDelay: IntervalHistogram;
  private readonly unsubscribe: () => void;
  /** The expiry of the certificate in service (ms since epoch), when serving HTTPS. */
  private certificateExpiry: number | undefined;

  constructor(sources: MetricSources) {
    const registers = [this.registry];
    const { hub, login, attempts } = sources;
    collectDefaultMetrics({ register: this.registry });

    new Gauge({
      name: 'broker_streams_open',
      help: 'Open streams (SSE and WebSocket subscribers of the hub)',
      labelNames: ['transport'],
      registers,
      collect() {
        const open = { sse: 0, websocket: 0 };
        for (const [framing, n] of hub.openByFraming()) open[TRANSPORTS[framing] ?? 'websocket'] += n;
        this.set({ transport: 'sse' }, open.sse);
        this.set({ transport: 'websocket' }, open.websocket);
      },
    });
    const inserts = new Counter({ name: 'broker_inserts_total', help: 'Events committed to the log', registers });
    new Counter({
      name: 'broker_deliveries_total',
      help: 'Events written to subscribers (live and replay)',
      registers,
      collect() {
        this.reset();
        this.inc(hub.deliveries);
      },
    });
    new Counter({
      name: 'broker_streams_cut_total',
      help: 'Streams the server ended: slow_reader (past --max_buffer), token_expired, session_ended (revoke...)',
      labelNames: ['reason'],
      registers,
      collect() {
        this.reset();
        for (const [reason, n] of Object.entries(hub.cuts)) this.inc({ reason }, n);
      },
    });
    new Counter({
      name: 'broker_logins_total',
      help: 'POST /login outcomes: ok, failed (401), locked (429)',
      labelNames: ['result'],
      registers,
      collect() {
        this.reset();
        for (const [result, n] of Object.entries(login.outcomes)) this.inc({ result }, n);
      },
    });
    new Counter({
      name: 'broker_account_locks_total',
      help: 'Accounts locked after repeated failed logins',
      registers,
      collect() {
        this.reset();
        this.inc(attempts.locks);
      },
    });
    const commit = new Histogram({
      name: 'broker_insert_commit_seconds',
      help: "From a commit's first insert to its durable commit (one observation per commit, ms resolution)",
      buckets: COMMIT_BUCKETS,
      registers,
    });
    this.unsubscribe = sources.log.committed.subscribe((batch) => {
      let first = Number.POSITIVE_INFINITY;
      for (let i = 0; i < batch.length; i++) if (batch[i].timestamp < first) first = batch[i].timestamp;
      inserts.inc(batch.length);
      commit.observe(Math.max(0, sources.now() - first) / 1000);
    });

    // Resolution 10 ms: the monitor's own timer costs next to nothing, and a stall under 10 ms is no alarm.
    const loopDelay = monitorEventLoopDelay({ resolution: 10 });
    loopDelay.enable();
    this.loopDelay = loopDelay;
    new Gauge({
      name: 'broker_event_loop_delay_seconds',
      help: 'Event loop delay since the previous scrape, by quantile (0.5, 0.99, 1 = the maximum)',
      labelNames: ['quantile'],
      registers,
      collect() {
        const seconds = (ns: number) => (Number.isFinite(ns) ? ns / 1e9 : 0);
        this.set({ quantile: '0.5' }, seconds(loopDelay.percentile(50)));
        this.set({ quantile: '0.99' }, seconds(loopDelay.percentile(99)));
        this.set({ quantile: '1' }, seconds(loopDelay.max));
        loopDelay.reset();
      },
    });
    new Gauge({
      name: 'broker_db_map_used_ratio',
      help: 'Live data in the database over --map_size (writes of events are refused near 1)',
      registers,
      collect() {
        this.set(sources.usedBytes() / sources.mapSize);
      },
    });
    const metrics = this;
    if (sources.tls)
      new Gauge({
        name: 'broker_tls_certificate_expiry_timestamp_seconds',
        help: 'When the certificate in service expires (Unix seconds; 0 until one is in service)',
        registers,
        collect() {
          this.set((metrics.certificateExpiry ?? 0) / 1000);
        },
      });
  }

  /** The server put a certificate in service (own files, ACME issuance or renewal). */
  certificateServed(notAfter: Date): void {
    this.certificateExpiry = notAfter.getTime();
  }

  /** The text Prometheus scrapes, and its content type. */
  async scrape(): Promise<{ text: string; contentType: string }> {
    return { text: await this.registry.metrics(), contentType: this.registry.contentType };
  }

  close(): void {
    this.unsubscribe();
    this.loopDelay.disable();
    this.registry.clear();
  }
}
