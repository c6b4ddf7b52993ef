// A test reader of a real SSE stream over fetch: collects frames and comments as they arrive.
export interface Frame {
  event?: string;
  id?: string;
  data: string;
  retry?: string;
}

export class SseReader {
  frames: Frame[] = [];
  comments = 0;
  status = 0;
  headers: Headers | undefined;
  ended = false;
  private waiters: Array<() => void> = [];
  private controller = new AbortController();
  readonly done: Promise<void>;

  constructor(url: string, headers: Record<string, string> = {}) {
    this.done = this.run(url, headers).catch(() => {}).finally(() => {
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
    const decoder = new TextDecoder();
    let buffer = '';
    let current: Frame = { data: '' };
    let hasData = false;
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl).replace(/\r$/, '');
        buffer = buffer.slice(nl + 1);
        if (line === '') {
          if (hasData || current.event) this.frames.push(current);
          else if (current.retry) this.frames.push(current);
          current = { data: '' };
          hasData = false;
          continue;
        }
        if (line.startsWith(':')) {
          this.comments++;
          continue;
        }
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1);
        if (field === 'data') {
          current.data = hasData ? `${current.data}\n${value}` : value;
          hasData = true;
        } else if (field === 'event') current.event = value;
        else if (field === 'id') current.id = value;
        else if (field === 'retry') current.retry = value;
      }
      this.notify();
    }
  }

  /** Frames that carry an event (not the retry line). */
  get events(): Frame[] {
    return this.frames.filter((f) => f.event !== undefined);
  }

  async waitFor(predicate: (r: SseReader) => boolean, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this)) {
      if (this.ended && !predicate(this)) throw new Error(`stream ended before the condition held (${this.events.length} events)`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting on the stream (${this.events.length} events, status ${this.status})`);
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

export function openSse(base: string, jwt: string | undefined, options: { lastEventId?: string | number; query?: string; headers?: Record<string, string> } = {}): SseReader {
  const headers: Record<string, string> = { ...options.headers };
  if (jwt) headers.authorization = `Bearer ${jwt}`;
  if (options.lastEventId !== undefined) headers['last-event-id'] = String(options.lastEventId);
  return new SseReader(`${base}/sse${options.query ? `?${options.query}` : ''}`, headers);
}
