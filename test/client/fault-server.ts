// A small real node:http server whose every answer a test decides: the way to inject the faults a real
// broker rarely shows on demand (a frame cut in half, a silent half-open stream, 503s, 401s, replays
// that overlap) and to see exactly what the client sent (Last-Event-ID, Authorization).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Seen {
  url: string;
  headers: IncomingMessage['headers'];
  at: number;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, n: number) => void;

export class FaultServer {
  readonly seen: Seen[] = [];
  private server: Server | undefined;
  private portNumber = 0;
  private open = new Set<ServerResponse>();

  constructor(public handler: Handler) {}

  get url(): string {
    return `http://127.0.0.1:${this.portNumber}`;
  }

  /** Listens on an ephemeral port, or on `port` again after stop() (a restart). */
  async start(port = this.portNumber): Promise<this> {
    const server = createServer((req, res) => {
      this.seen.push({ url: req.url ?? '', headers: req.headers, at: Date.now() });
      this.open.add(res);
      res.once('close', () => this.open.delete(res));
      this.handler(req, res, this.seen.length);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.portNumber = (server.address() as AddressInfo).port;
    return this;
  }

  /** Stops listening and cuts every open connection, as a crashing server would. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Responses still open (streams the client holds). */
  get openStreams(): number {
    return this.open.size;
  }

  /** The requests to /sse so far. */
  get streams(): Seen[] {
    return this.seen.filter((s) => s.url.startsWith('/sse'));
  }
}

export interface Ev {
  id: number;
  event: string;
  data: unknown;
}

export function frame(e: Ev): string {
  return `event:${e.event}\nid:${e.id}\ndata:${JSON.stringify(e.data)}\n\n`;
}

export function startSse(res: ServerResponse, retryMs?: number, headers: Record<string, string> = {}): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', ...headers });
  if (retryMs !== undefined) res.write(`retry:${retryMs}\n\n`);
}

export function lastEventId(req: IncomingMessage): number | undefined {
  const value = req.headers['last-event-id'];
  return typeof value === 'string' ? Number(value) : undefined;
}

/** A request's query parameter (`epoch`, `events`), as the broker would read it. */
export function queryParam(req: { url: string }, name: string): string | null {
  return new URL(req.url, 'http://x').searchParams.get(name);
}

/** Polls until the predicate holds. */
export async function until(predicate: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A JWT-shaped token (unsigned: the fault server does not check it) with these times. */
export function fakeJwt(claims: { iat: number; exp: number; sub?: string }): string {
  const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${enc({ alg: 'HS256', typ: 'JWT' })}.${enc({ sub: 'tester', ...claims })}.sig`;
}
