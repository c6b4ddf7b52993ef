// One subscription to GET /sse that never loses an event: it remembers the id of the last frame it
// saw, and every reconnection (after a drop, a broker restart, a token renewal) sends it as
// Last-Event-ID so the broker replays exactly what was missed. Ids only grow within a stream, so an id
// at or below the last one delivered is a duplicate and is dropped — except after `event:reset`, when
// the broker replaces our state with its snapshot. An id means something only in the log it came from:
// the broker names that log's epoch on every stream (EPOCH_HEADER), and a resume sends it back beside
// the id, so that after a restored backup the broker answers with a reset instead of a silent gap.
import { backoffDelay, DEFAULT_INITIAL_DELAY_MS } from './backoff.js';
import { BrokerError, errorFrom } from './errors.js';
import { LatestView } from './latest.js';
import type { ErrorInfo, SubscribeOptions } from './subscribe-options.js';
import { EPOCH_HEADER, EPOCH_PARAM, RESET_EVENT } from './protocol.js';
import { shareIfAlike, type Relayed, type SharedSubscriber } from './shared-stream.js';
import type { SseMessage } from './sse-parser.js';
import type { StreamClient } from './stream-client.js';
import { readStream } from './stream-connection.js';

const MIN_SERVER_RETRY_MS = 100;

/** A failure that retrying cannot fix. */
class FinalError extends Error {
  override readonly name = 'FinalError';
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
  /** @internal The epoch of the log `position` is in (undefined when the broker named none). */
  positionEpoch: string | undefined;
  /** The epoch of the stream now open (ours, or the leader's that relays to us). */
  private streamEpoch: string | undefined;
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
    private readonly client: StreamClient,
    private readonly options: SubscribeOptions,
  ) {
    this.latest = options.latest ?? new LatestView();
    this.position = options.lastEventId;
    if (options.lastEventId !== undefined) {
      this.delivered = options.lastEventId;
      this.positionEpoch = options.epoch;
    }
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

  /** The epoch of the log `lastEventId` belongs to, as the broker named it; kept and sent with it. */
  get epoch(): string | undefined {
    return this.positionEpoch;
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
    const query: string[] = [];
    if (this.options.events?.length) query.push(`events=${this.options.events.map(encodeURIComponent).join(',')}`);
    if (this.position !== undefined) {
      headers['last-event-id'] = String(this.position);
      if (this.positionEpoch !== undefined) query.push(`${EPOCH_PARAM}=${encodeURIComponent(this.positionEpoch)}`);
    }
    const path = `/sse${query.length ? `?${query.join('&')}` : ''}`;
    const token = this.client.token;
    const end = await readStream(
      (signal) => this.client.send(path, { headers, signal }, 'subscribe'),
      controller,
      this.client.options.idleTimeoutMs ?? 45_000,
      {
        onOpen: (res) => this.opened(res.headers.get(EPOCH_HEADER) ?? undefined),
        onMessage: (message) => this.handle(message),
        onRetry: (ms) => {
          this.serverRetryMs = ms;
        },
      },
    );
    if (end === 'ended') return end;
    if (!this.client.canRelogin) throw await errorFrom(end.unauthorized, 'subscribe');
    await this.renew(() => this.client.relogin(token));
    return 'unauthorized';
  }

  /** Our own stream is established, in the log of `epoch`. */
  private opened(epoch: string | undefined): void {
    // From here the stream defines our position: with no Last-Event-ID the broker sends the latest event
    // of each name in id order, so resuming after the last id received misses nothing (and an empty
    // snapshot means nothing before now matched: resume from 0).
    this.streamEpoch = epoch;
    if (this.position === undefined) {
      this.position = 0;
      this.positionEpoch = epoch;
    }
    this.isConnected = true;
    this.failures = 0;
    this.unauthorizedInARow = 0;
    this.safely(this.options.onOpen);
    this.relay?.({ kind: 'open', epoch });
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
      this.positionEpoch = this.streamEpoch;
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

  /** @internal A follower learns the leader's connection state (and, when it opened, its stream's epoch). */
  setConnected(connected: boolean, opened: boolean, epoch?: string): void {
    this.isConnected = connected;
    if (opened) this.streamEpoch = epoch;
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
