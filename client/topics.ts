// Topic subscriptions over SSE (GET /sse?topics=…, TOPICS-API.md): messages of one or more topics with a
// topic token, resumed after a drop (or the token's expiry) from the last id seen, so nothing is missed
// and nothing comes twice (the ids of all topics come from one sequence). Browsers can also speak
// notiflux's WebSocket protocol natively (README "Replacing notiflux"); this is the lossless way.
import { backoffDelay, DEFAULT_INITIAL_DELAY_MS } from './backoff.js';
import { BrokerError } from './errors.js';
import { RESET_EVENT } from './protocol.js';
import { readStream } from './stream-connection.js';

export interface TopicMessage {
  topic: string;
  /** Its position in the topics' log: one sequence across all topics. */
  id: number;
  message: string;
}

export interface TopicSubscribeOptions {
  /** The broker's base URL, e.g. https://broker.example.com */
  url: string;
  topics: readonly string[];
  /**
   * A `subscribe` token listing every topic, or a function returning one (called for every connection,
   * so a fresh token replaces one that expired).
   */
  token: string | (() => string | Promise<string>);
  /** Resume after this id (e.g. kept from an earlier session); default: start live. */
  after?: number;
  onMessage(message: TopicMessage): void;
  /** A connection failed or was refused (401/403 end the subscription); it reconnects unless final. */
  onError?(error: BrokerError, final: boolean): void;
  /** A resume from before the retained history: what follows starts over. */
  onReset?(): void;
  fetch?: typeof fetch;
  /** Abort a connection silent for this long (the broker sends a heartbeat every --heartbeat s). Default 45000. */
  idleMs?: number;
}

export interface TopicSubscription {
  /** The last id delivered (the position a later subscription can resume `after`). */
  readonly lastId: number | undefined;
  close(): void;
}

export function subscribeTopics(options: TopicSubscribeOptions): TopicSubscription {
  const fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
  let lastId = options.after;
  let closed = false;
  let controller: AbortController | undefined;
  let retryMs = DEFAULT_INITIAL_DELAY_MS;
  const query = `topics=${options.topics.map(encodeURIComponent).join(',')}`;

  const run = async () => {
    for (let attempt = 0; !closed; ) {
      controller = new AbortController();
      try {
        const token = typeof options.token === 'function' ? await options.token() : options.token;
        let delivered = false;
        const end = await readStream(
          (signal) =>
            fetchImpl(`${options.url.replace(/\/$/, '')}/sse?${query}`, {
              signal,
              headers: {
                authorization: `Bearer ${token}`,
                ...(lastId === undefined ? {} : { 'last-event-id': String(lastId) }),
              },
            }),
          controller,
          options.idleMs ?? 45_000,
          {
            onOpen: () => {
              attempt = 0;
            },
            onRetry: (ms) => {
              retryMs = ms;
            },
            onMessage: (m) => {
              if (m.type === RESET_EVENT) return options.onReset?.();
              const id = Number(m.lastEventId);
              if (!Number.isSafeInteger(id) || (lastId !== undefined && id <= lastId)) return;
              lastId = id;
              delivered = true;
              options.onMessage({ topic: m.type, id, message: JSON.parse(m.data) as string });
            },
          },
        );
        if (end !== 'ended') throw new BrokerError(401, 'subscribe: token refused');
        // A clean end (the token expired, a restart): reconnect at once, then back off if it repeats.
        if (delivered) continue;
      } catch (err) {
        if (closed) return;
        const error = err instanceof BrokerError ? err : new BrokerError(0, String((err as Error).message ?? err));
        const final = error.status === 401 && typeof options.token === 'string' ? true : error.status === 403;
        options.onError?.(error, final);
        if (final) return;
      }
      await new Promise((r) => setTimeout(r, backoffDelay(attempt++, retryMs)));
    }
  };
  void run();
  return {
    get lastId() {
      return lastId;
    },
    close() {
      closed = true;
      controller?.abort();
    },
  };
}
