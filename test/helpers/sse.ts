// A test reader of a real SSE stream over fetch: collects frames and comments as they arrive.
import { SseParser } from '../../client/sse-parser.js';

export interface Frame {
  event?: string;
  id?: string;
  data: string;
  retry?: string;
}

export class SseReader {
  frames: Frame[] = [];
  /** Comments other than the stream's first `:epoch <epoch>` line: the heartbeats. */
  comments = 0;
  /** The epoch the stream announced in its `:epoch` comment. */
  epoch: string | undefined;
  status = 0;
  headers: Headers | undefined;
  ended = false;
  private waiters: Array<() => void> = [];
  private controller = new AbortController();
  readonly done: Promise<void>;

  constructor(url: string, headers: Record<string, string> = {}) {
    this.done = this.run(url, headers)
      .catch(() => {})
      .finally(() => {
        this.ended = true;
        this.notify();
      });
  }

  private notify() {
    for (const w of this.waiters.splice(0)) w();
  }

  private async run(url: string, headers: Record<string, string>) {
    const res = await fetch(url, { headers, signal: this.controller.signal });
    this.status = res.status;
    this.headers = res.headers;
    this.notify();
    if (!res.body || res.status !== 200) return;
    // The client's spec-conformant parser (client/sse-parser.ts, tested on its own): the server's frames
    // are read here exactly as a browser app using broker/client reads them.
    const parser = new SseParser({
      onMessage: (m) => this.frames.push({ event: m.type, id: m.lastEventId, data: m.data }),
      onRetry: (ms) => this.frames.push({ retry: String(ms), data: '' }),
      onComment: (text) => {
        if (this.epoch === undefined && text.startsWith('epoch ')) this.epoch = text.slice('epoch '.length);
        else this.comments++;
      },
    });
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      parser.feed(chunk);
      this.notify();
    }
    parser.end();
  }

  /** Frames that carry an event (not the retry line). */
  get events(): Frame[] {
    return this.frames.filter((f) => f.event !== undefined);
  }

  async waitFor(predicate: (r: SseReader) => boolean, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this)) {
      if (this.ended && !predicate(this))
        throw new Error(`stream ended before the condition held (${this.events.length} events)`);
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`timed out waiting on the stream (${this.events.length} events, status ${this.status})`);
      await new Promise<void>((res) => {
        const t = setTimeout(res, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(t);
          res();
        });
      });
    }
  }

  waitForEvents(n: number, timeoutMs?: number): Promise<void> {
    return this.waitFor((r) => r.events.length >= n, timeoutMs);
  }

  close(): void {
    this.controller.abort();
  }
}

export function openSse(
  base: string,
  jwt: string | undefined,
  options: { lastEventId?: string | number; query?: string; headers?: Record<string, string> } = {},
): SseReader {
  const headers: Record<string, string> = { ...options.headers };
  if (jwt) headers.authorization = `Bearer ${jwt}`;
  if (options.lastEventId !== undefined) headers['last-event-id'] = String(options.lastEventId);
  return new SseReader(`${base}/sse${options.query ? `?${options.query}` : ''}`, headers);
}
