// One subscription to GET /sse that never loses an event: it remembers the id of the last frame it
// saw, and every reconnection (after a drop, a broker restart, a token renewal) sends it as
// Last-Event-ID so the broker replays exactly what was missed. Ids only grow within a stream, so an id
// at or below the last one delivered is a duplicate and is dropped — except after `event:reset`, when
// the broker replaces our state with its snapshot.
import { backoffDelay, DEFAULT_INITIAL_DELAY_MS } from './backoff.js';
import type { BrokerClient } from './client.js';
import { BrokerError, errorFrom } from './errors.js';
import { LatestView } from './latest.js';
import { shareIfAlike, type Relayed, type SharedSubscriber } from './shared-stream.js';
import { SseParser, type SseMessage } from './sse-parser.js';

export interface BrokerEvent<T = unknown> {
  id: number;
  event: string;
  data: T;
}

export interface ErrorInfo {
  /** false: the subscription has stopped for good (e.g. a 401 with no way to log in again). */
  retrying: boolean;
  /** When retrying: the wait before the next attempt. */
  delayMs?: number;
}

export interface SubscribeOptions {
  /** Only these event names (replay and live). Names containing "," cannot be filtered. */
  events?: string[];
  onEvent?: (event: BrokerEvent) => void;
  /** Connection problems, each with whether (and when) the subscription tries again. */
  onError?: (error: Error, info: ErrorInfo) => void;
  /** The broker sent `event:reset` (our position is older than its history): state was dropped. */
  onReset?: () => void;
  /** Each time a stream is established (first connect and every reconnection). */
  onOpen?: () => void;
  /** Aborting it closes the subscription, as close() does. */
  signal?: AbortSignal;
  /**
   * Start after this id (0 = the whole history). Default: the latest event of each name, then live.
   */
  lastEventId?: number;
  /** Share a view between subscriptions; by default each has its own. */
  latest?: LatestView;
  /**
   * In a browser, tabs subscribing alike (same broker, user and `events`) share one stream: one tab
   * holds it and relays to the others, and another takes over when it closes (shared-stream.ts).
   * Default true in a browser page (not in Node, even one with Web Locks); never with `lastEventId`.
   * A tab whose client then switches user stops with a final error (subscribe again for the new user).
   */
  shareAcrossTabs?: boolean;
}

export const RESET_EVENT = 'reset';
const MIN_SERVER_RETRY_MS = 100;

/** A failure that retrying cannot fix. */
class FinalError extends Error {
  override readonly name = 'FinalError';
}

class IdleTimeout extends Error {
  override readonly name = 'IdleTimeout';
}

export class Subscription implements SharedSubscriber {
  /** Event name -> latest data, kept current by this subscription. */
  readonly latest: LatestView;
  /** Resolves once the subscription has stopped (close(), the signal, or a final error). */
  readonly done: Promise<void>;
  private stopped = false;
  private isConnected = false;
  /** @internal What to send as Last-Event-ID: the last id seen on any stream; undefined until the first open. */
  position: number | undefined;
  /** @internal Set while this tab leads a shared stream: every frame and state change goes to the others. */
  relay: ((event: Relayed) => void) | undefined;
  /** @internal */ onStop: (() => void) | undefined;
  /** @internal */ beforeConnect: (() => Error | undefined) | undefined;
  /** @internal */ role: 'direct' | 'shared' = 'direct';
  /** The highest id handed to onEvent since the last reset (duplicates are at or below it). */
  private delivered = 0;
  private serverRetryMs: number | undefined;
  /** Consecutive failed attempts since a stream was last established (drives the backoff). */
  private failures = 0;
  /** Consecutive 401s since a stream was last established. */
  private unauthorizedInARow = 0;
  private current: AbortController | undefined;
  private wake: (() => void) | undefined;
  private readonly onAbort = () => this.close();

  constructor(
    private readonly client: BrokerClient,
    private readonly options: SubscribeOptions,
  ) {
    this.latest = options.latest ?? new LatestView();
    this.position = options.lastEventId;
    if (options.lastEventId !== undefined) this.delivered = options.lastEventId;
    client.retain();
    if (options.signal?.aborted) this.stopped = true;
    else options.signal?.addEventListener('abort', this.onAbort, { once: true });
    const running = this.stopped ? Promise.resolve() : (shareIfAlike(this, client, options) ?? this.runDirect());
    this.done = running.finally(() => {
      this.stopped = true;
      this.isConnected = false;
      options.signal?.removeEventListener('abort', this.onAbort);
      client.release();
    });
  }

  /** The id a reconnection resumes after (undefined before the first stream opened). */
  get lastEventId(): number | undefined {
    return this.position;
  }

  get connected(): boolean {
    return this.isConnected;
  }

  get closed(): boolean {
    return this.stopped;
  }

  /** 'shared': one stream shared with this browser's other tabs; 'direct': a stream of its own. */
  get sharing(): 'direct' | 'shared' {
    return this.role;
  }

  /** Whether this subscription holds the stream itself (always, unless it follows another tab's). */
  get leading(): boolean {
    return this.role === 'direct' || this.relay !== undefined;
  }

  /** Stops for good: aborts the open stream and any pending reconnection. */
  close(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.interrupt();
    this.onStop?.();
  }

  /** @internal Ends the open stream and any wait (a shared leader whose lock was taken stops so). */
  interrupt(): void {
    this.current?.abort();
    this.wake?.();
  }

  /** @internal The connect-and-reconnect loop (a shared subscription runs it while it leads). */
  async runDirect(): Promise<void> {
    while (!this.stopped && this.leading) {
      let delay: number;
      const tokenAtStart = this.client.token;
      try {
        await this.renew(() => this.client.ensureFreshToken());
        if (this.stopped || !this.leading) return;
        const refused = this.beforeConnect?.();
        if (refused) throw new FinalError(refused.message, { cause: refused });
        const outcome = await this.connectOnce();
        if (this.stopped || !this.leading) return;
        if (outcome === 'unauthorized') {
          // The first 401 renews the token and reconnects at once; a second in a row means the new token
          // was refused too, so wait as after any other failure instead of spinning.
          if (++this.unauthorizedInARow === 1) continue;
          throw new BrokerError(401, 'subscribe: token refused again after renewal');
        }
        // A clean end. Usually the broker restarting or ending the stream at token expiry: when the token
        // was renewed meanwhile, the new one is ready and nothing is gained by waiting.
        delay =
          this.client.token !== tokenAtStart ? 0 : backoffDelay(0, this.baseDelay(), this.client.options.reconnect);
      } catch (err) {
        if (this.stopped || !this.leading) return;
        const error = err instanceof Error ? err : new Error(String(err));
        if (!this.retryable(error)) {
          this.report(error instanceof FinalError && error.cause instanceof Error ? error.cause : error, {
            retrying: false,
          });
          return;
        }
        delay = backoffDelay(this.failures++, this.baseDelay(), this.client.options.reconnect);
        this.report(error, { retrying: true, delayMs: delay });
      } finally {
        this.isConnected = false;
        this.relay?.({ kind: 'down' });
      }
      await this.sleep(delay);
    }
  }

  private baseDelay(): number {
    const own = this.client.options.reconnect?.initialDelayMs;
    if (own !== undefined) return own;
    // A server's `retry:0` must not turn a server that closes every stream at once into a busy loop.
    return this.serverRetryMs !== undefined
      ? Math.max(this.serverRetryMs, MIN_SERVER_RETRY_MS)
      : DEFAULT_INITIAL_DELAY_MS;
  }

  /**
   * Runs the app's relogin hook. Its network failures are worth retrying; a refusal (wrong password,
   * revoked user: a 4xx) will not get better by itself, so it stops the subscription.
   */
  private async renew(fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      if (err instanceof BrokerError && !err.transient) throw new FinalError(err.message, { cause: err });
      throw err;
    }
  }

  private retryable(error: Error): boolean {
    if (error instanceof FinalError) return false;
    if (error instanceof BrokerError) return error.transient || (error.status === 401 && this.client.canRelogin);
    // Network failures, an idle stream, a body cut mid-way: all worth another try.
    return true;
  }

  /** One connection: resolves when the stream ends cleanly, 'unauthorized' after renewing a refused token. */
  private async connectOnce(): Promise<'ended' | 'unauthorized'> {
    const controller = new AbortController();
    this.current = controller;
    const headers: Record<string, string> = { accept: 'text/event-stream', ...this.client.authHeaders() };
    if (this.position !== undefined) headers['last-event-id'] = String(this.position);
    const filter = this.options.events?.length
      ? `?events=${this.options.events.map(encodeURIComponent).join(',')}`
      : '';
    const token = this.client.token;
    // The watchdog covers the wait for the response headers too: a server (or a proxy) that accepts the
    // connection and then says nothing is as dead as a stream that goes quiet.
    const idleMs = this.client.options.idleTimeoutMs ?? 45_000;
    let idle = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const disarm = () => {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
    };
    const arm = () => {
      disarm();
      timer = setTimeout(() => {
        idle = true;
        controller.abort();
      }, idleMs);
    };
    arm();
    try {
      const res = await this.client.send(`/sse${filter}`, { headers, signal: controller.signal }, 'subscribe');
      if (res.status === 401) {
        disarm();
        await res.body?.cancel().catch(() => {});
        if (!this.client.canRelogin) throw await errorFrom(res, 'subscribe');
        await this.renew(() => this.client.relogin(token));
        return 'unauthorized';
      }
      if (!res.ok) throw await errorFrom(res, 'subscribe');
      const type = res.headers.get('content-type') ?? '';
      if (!type.toLowerCase().startsWith('text/event-stream') || !res.body) {
        await res.body?.cancel().catch(() => {});
        // A proxy's error page or a captive portal: not the broker; try again later.
        throw new BrokerError(502, `subscribe: expected text/event-stream, got "${type}"`);
      }

      // Established. From here the stream defines our position: with no Last-Event-ID the broker sends
      // the latest event of each name in id order, so resuming after the last id received misses nothing
      // (and an empty snapshot means nothing before now matched: resume from 0).
      this.position ??= 0;
      this.isConnected = true;
      this.failures = 0;
      this.unauthorizedInARow = 0;
      this.safely(this.options.onOpen);
      this.relay?.({ kind: 'open' });

      const parser = new SseParser({
        onMessage: (message) => this.handle(message),
        onRetry: (ms) => {
          this.serverRetryMs = ms;
        },
      });
      const reader = res.body.getReader();
      arm();
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          arm();
          parser.feed(value);
        }
      } finally {
        reader.releaseLock();
      }
      // A frame cut off by the end of the stream is discarded by the parser: it is replayed next time,
      // because our position only moves with complete frames.
      parser.end();
      return 'ended';
    } catch (err) {
      if (idle) throw new IdleTimeout(`subscribe: no data for ${idleMs} ms`);
      throw err;
    } finally {
      disarm();
    }
  }

  /** @internal */
  handle(message: SseMessage): void {
    if (this.stopped) return;
    this.relay?.({ kind: 'message', message });
    if (message.type === RESET_EVENT) {
      // Our position is older than the broker's history: what we hold may be missing events for good,
      // so drop it; the snapshot that follows has ids at or below ones we delivered, and must pass.
      this.delivered = 0;
      this.latest.reset();
      this.safely(this.options.onReset);
      return;
    }
    const id = message.lastEventId === '' ? NaN : Number(message.lastEventId);
    if (Number.isSafeInteger(id)) {
      if (id <= this.delivered) return;
      this.delivered = id;
      this.position = id;
    }
    let data: unknown;
    try {
      data = JSON.parse(message.data);
    } catch {
      data = message.data;
    }
    this.latest.apply(message.type, id, data);
    const onEvent = this.options.onEvent;
    if (onEvent) this.safely(() => onEvent({ id, event: message.type, data }));
  }

  /** @internal */
  report(error: Error, info: ErrorInfo): void {
    this.relay?.({ kind: 'error', message: error.message, retrying: info.retrying, delayMs: info.delayMs });
    const onError = this.options.onError;
    if (onError) this.safely(() => onError(error, info));
  }

  /** @internal A follower learns the leader's connection state. */
  setConnected(connected: boolean, opened: boolean): void {
    this.isConnected = connected;
    if (opened) this.safely(this.options.onOpen);
  }

  /** Calls app code: an exception there is the app's bug, reported, and must not break the stream. */
  private safely(fn: (() => void) | undefined): void {
    if (!fn) return;
    try {
      fn();
    } catch (err) {
      console.error('broker client: a subscription callback threw', err);
    }
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopped || ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }
}
