// One WebSocket connection at /ws: notiflux's text commands (its exact replies), or with the `broker.v1`
// subprotocol JSON frames with `after` resume and error frames. Each subscription is a Subscriber of the
// hub whose sink writes pre-framed bytes (ws-frames.ts) to the connection's socket: the same Buffer for
// every subscriber of a topic, and --max_buffer applies as on SSE (a reader that never reads is cut).
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import type { Sink, Subscriber } from '../subscriber.js';
import { MAX_TOPICS, type Topics } from './topics.js';
import { invalidTopic } from './stream.js';
import { NOTIFLUX_FRAMING, V1_FRAMING } from './ws-frames.js';

export const V1_PROTOCOL = 'broker.v1';
/**
 * A ping every 15 s; a connection that has not answered (any pong) for 30 s is closed (notiflux's
 * timings). An object so that tests can shorten them for the servers they start in-process.
 */
export const KEEPALIVE = { pingMs: 15_000, pongTimeoutMs: 30_000 };
export const INVALID_SUBSCRIBE = 'Invalid subscribe command, it should be: /subscribe <topic> <token>';
export const UNKNOWN_COMMAND = 'Unknown command';

/** Commands received and not yet handled, per connection. */
const MAX_PENDING_COMMANDS = 1000;

type Log = (message: string, fields: Record<string, unknown>) => void;

/** A subscription's sink: bytes to the shared socket; its end is the subscription's, a cut the connection's. */
class SubscriptionSink implements Sink {
  private closed = false;
  private ending = false;
  private readonly onClose: (() => void)[] = [];

  constructor(
    private readonly socket: Socket,
    private readonly connection: Connection,
    private readonly topic: string,
  ) {}

  write(bytes: Buffer | string): boolean {
    return this.socket.write(bytes);
  }

  /** The subscription ended (its token expired): the connection stays. */
  end(): void {
    if (this.ending) return;
    this.ending = true;
    this.connection.ended(this.topic);
  }

  /** Fallen more than --max_buffer behind: the whole connection goes (its socket is what is behind). */
  destroy(): void {
    if (this.ending || this.closed) return;
    this.connection.cut();
  }

  get writableLength(): number {
    return this.socket.writableLength;
  }

  get destroyed(): boolean {
    return this.closed || this.socket.destroyed;
  }

  once(event: 'close' | 'drain', listener: () => void): unknown {
    if (event === 'drain') return this.socket.once('drain', listener);
    if (this.closed) queueMicrotask(listener);
    else this.onClose.push(listener);
    return this;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const l of this.onClose.splice(0)) l();
  }
}

export class Connection {
  private readonly subs = new Map<string, { sub: Subscriber; sink: SubscriptionSink }>();
  private readonly v1: boolean;
  private lastPong: number;
  private commands: Promise<void> = Promise.resolve();
  private pending = 0;
  private readonly pinger: NodeJS.Timeout;

  constructor(
    private readonly ws: WebSocket,
    private readonly topics: Topics,
    private readonly log: Log,
    private readonly now: () => number = Date.now,
  ) {
    this.v1 = ws.protocol === V1_PROTOCOL;
    this.lastPong = now();
    ws.on('pong', () => {
      this.lastPong = this.now();
    });
    this.pinger = setInterval(() => {
      if (this.now() - this.lastPong > KEEPALIVE.pongTimeoutMs) return this.cut();
      ws.ping();
    }, KEEPALIVE.pingMs);
    this.pinger.unref();
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      // In order, one at a time (a token check awaits): answers come in the order the commands were sent.
      // A client that sends faster than its tokens are checked is bounded, not queued without end.
      if (++this.pending > MAX_PENDING_COMMANDS) return ws.close(1008, 'too many commands in flight');
      const text = data.toString();
      this.commands = this.commands
        .then(() => this.command(text))
        .catch((err) => this.log('ws command failed', { err }))
        .finally(() => this.pending--);
    });
    ws.on('close', () => this.closeAll());
    ws.on('error', () => this.closeAll());
  }

  /** ws keeps the raw socket private; frames are written to it directly (see ws-frames.ts for why it is safe). */
  private get socket(): Socket {
    return (this.ws as unknown as { _socket: Socket })._socket;
  }

  private send(text: string): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(text);
  }

  private error(topic: string | undefined, code: string, message: string): void {
    this.send(JSON.stringify({ type: 'error', ...(topic === undefined ? {} : { topic }), code, message }));
  }

  private async command(text: string): Promise<void> {
    if (this.v1) return this.v1Command(text);
    if (!text.startsWith('/')) return;
    const space = text.indexOf(' ');
    const name = space < 0 ? text : text.slice(0, space);
    const rest = space < 0 ? '' : text.slice(space + 1);
    if (name === '/subscribe' && space >= 0) {
      const args = rest.split(' ');
      if (args.length !== 2 || args[0] === '' || args[1] === '') return this.send(INVALID_SUBSCRIBE);
      const refused = await this.subscribe(args[0], args[1], undefined);
      if (refused) this.log('topic subscription refused', { topic: args[0], reason: refused.message });
    } else if (name === '/unsubscribe' && space >= 0 && rest !== '') this.unsubscribe(rest);
    else if (text === '/unsubscribe-all') for (const topic of [...this.subs.keys()]) this.unsubscribe(topic);
    else this.send(UNKNOWN_COMMAND);
  }

  private async v1Command(text: string): Promise<void> {
    let msg: { type?: unknown; topic?: unknown; token?: unknown; after?: unknown };
    try {
      msg = JSON.parse(text);
    } catch {
      return this.error(undefined, 'bad_frame', 'frames must be JSON objects');
    }
    if (typeof msg !== 'object' || msg === null)
      return this.error(undefined, 'bad_frame', 'frames must be JSON objects');
    const topic = typeof msg.topic === 'string' ? msg.topic : undefined;
    if (msg.type === 'unsubscribe' && topic !== undefined) return this.unsubscribe(topic);
    if (msg.type !== 'subscribe') return this.error(topic, 'bad_frame', 'type must be subscribe or unsubscribe');
    if (topic === undefined) return this.error(undefined, 'invalid_topic', 'topic must be a string');
    const after = msg.after;
    if (after !== undefined && !(Number.isSafeInteger(after) && (after as number) >= 0))
      return this.error(topic, 'bad_frame', 'after must be a non-negative integer');
    const refused = await this.subscribe(topic, typeof msg.token === 'string' ? msg.token : '', after as number);
    if (refused) this.error(topic, refused.code, refused.message);
  }

  /** Subscribes, or says why not. */
  private async subscribe(
    topic: string,
    token: string,
    after: number | undefined,
  ): Promise<{ code: string; message: string } | undefined> {
    const problem = invalidTopic(topic);
    if (problem) return { code: 'invalid_topic', message: problem };
    let claims: Awaited<ReturnType<Topics['authorize']>>;
    try {
      claims = await this.topics.authorize(token, 'subscribe', [topic]);
    } catch (err) {
      const status = (err as { statusCode?: number }).statusCode;
      return { code: status === 403 ? 'forbidden' : 'unauthorized', message: (err as Error).message };
    }
    // Re-checked after the await: the connection may have closed, or the topic been taken meanwhile.
    const socket = this.socket;
    if (this.ws.readyState !== this.ws.OPEN || !socket || socket.destroyed)
      return { code: 'closed', message: 'connection closed' };
    if (this.subs.has(topic)) return undefined;
    if (this.subs.size >= MAX_TOPICS)
      return { code: 'too_many_topics', message: `at most ${MAX_TOPICS} topics per connection` };
    // The `subscribed` answer goes first: the replay may write its first page in this very turn.
    if (this.v1) this.send(JSON.stringify({ type: 'subscribed', topic }));
    const sink = new SubscriptionSink(socket, this, topic);
    const { sub, attached } = this.topics.subscribe({
      topics: [topic],
      claims,
      sink,
      framing: this.v1 ? V1_FRAMING : NOTIFLUX_FRAMING,
      after: after === undefined ? undefined : { after },
    });
    this.subs.set(topic, { sub, sink });
    void attached.catch((err) => this.log('topic replay failed', { err }));
    return undefined;
  }

  private unsubscribe(topic: string): void {
    const entry = this.subs.get(topic);
    if (!entry) return;
    this.subs.delete(topic);
    entry.sink.close();
  }

  /** A subscription's token expired: it ends, the connection stays (broker.v1 is told). */
  ended(topic: string): void {
    if (!this.subs.has(topic)) return;
    this.unsubscribe(topic);
    if (this.v1) this.error(topic, 'token_expired', 'the subscription token expired');
  }

  /** Too far behind or silent: the connection goes, at once. */
  cut(): void {
    this.closeAll();
    this.ws.terminate();
  }

  private closeAll(): void {
    clearInterval(this.pinger);
    for (const topic of [...this.subs.keys()]) this.unsubscribe(topic);
  }
}
