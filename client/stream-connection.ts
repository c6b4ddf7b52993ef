// One connection to GET /sse, from the request to the end of the body: the response is checked (a proxy's
// error page is not a stream), frames go to the parser as they arrive, and a watchdog aborts a
// connection that stays silent (a half-open TCP connection looks exactly like a quiet stream otherwise).
// Reconnecting, positions and delivery are the subscription's (subscription.ts).
import { BrokerError, errorFrom } from './errors.js';
import { SseParser, type SseMessage } from './sse-parser.js';

class IdleTimeout extends Error {
  override readonly name = 'IdleTimeout';
}

export interface StreamHandlers {
  /** The stream is established (a 2xx event stream); `res` carries its headers. */
  onOpen(res: Response): void;
  onMessage(message: SseMessage): void;
  onRetry(ms: number): void;
}

/** How a connection ended without an error: cleanly, or refused with a 401 (its body already dropped). */
export type StreamEnd = 'ended' | { unauthorized: Response };

/**
 * Opens the stream with `open` and reads it to its end. `controller` aborts it (close, a lost lock);
 * no data for `idleMs`, the wait for the response headers included, throws IdleTimeout.
 */
export async function readStream(
  open: (signal: AbortSignal) => Promise<Response>,
  controller: AbortController,
  idleMs: number,
  handlers: StreamHandlers,
): Promise<StreamEnd> {
  // The watchdog covers the wait for the response headers too: a server (or a proxy) that accepts the
  // connection and then says nothing is as dead as a stream that goes quiet.
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
    const res = await open(controller.signal);
    if (res.status === 401) {
      disarm();
      await res.body?.cancel().catch(() => {});
      return { unauthorized: res };
    }
    if (!res.ok) throw await errorFrom(res, 'subscribe');
    const type = res.headers.get('content-type') ?? '';
    if (!type.toLowerCase().startsWith('text/event-stream') || !res.body) {
      await res.body?.cancel().catch(() => {});
      // A proxy's error page or a captive portal: not the broker; try again later.
      throw new BrokerError(502, `subscribe: expected text/event-stream, got "${type}"`);
    }
    handlers.onOpen(res);
    const parser = new SseParser(handlers);
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
    // because the subscription's position only moves with complete frames.
    parser.end();
    return 'ended';
  } catch (err) {
    if (idle) throw new IdleTimeout(`subscribe: no data for ${idleMs} ms`);
    throw err;
  } finally {
    disarm();
  }
}
