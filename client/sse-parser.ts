// A Server-Sent Events parser that follows the WHATWG HTML "event stream interpretation" rules, fed with
// whatever chunks the network delivers. The chunk boundaries carry no meaning in SSE, so every piece of
// state that can straddle one is kept here: a partial line, a CR whose LF may start the next chunk, a
// UTF-8 sequence cut in the middle (TextDecoder in streaming mode), and the BOM test at stream start.
// https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation

export interface SseMessage {
  /** The `event:` field, or "message" when the frame had none. */
  type: string;
  /** The `data:` lines joined with "\n". */
  data: string;
  /** The last `id:` seen on this stream so far (it persists across frames, as the spec says). */
  lastEventId: string;
}

export interface SseHandlers {
  onMessage(message: SseMessage): void;
  /** A `retry:` field made only of ASCII digits: the server's reconnection time in ms. */
  onRetry?(ms: number): void;
  /** A line starting with ":" (servers send these as heartbeats); the text after the colon. */
  onComment?(text: string): void;
}

const LF = 10;
const CR = 13;

export class SseParser {
  // ignoreBOM: true because the BOM rule is ours to apply, once, at the very start of the stream, and it
  // must hold for string input too.
  private readonly decoder = new TextDecoder('utf-8', { ignoreBOM: true });
  private started = false;
  /** Text after the last complete line. */
  private pending = '';
  /** The previous chunk ended with CR: an LF at the start of the next one belongs to that line end. */
  private skipLf = false;
  private data: string[] = [];
  private eventType = '';
  private lastEventId = '';
  private ended = false;

  constructor(private readonly handlers: SseHandlers) {}

  /** Feeds bytes (decoded as UTF-8, invalid sequences become U+FFFD) or already decoded text. */
  feed(chunk: Uint8Array | string): void {
    if (this.ended) throw new Error('SseParser: feed() after end()');
    const text = typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true });
    this.push(text);
  }

  /**
   * The stream is over. Per the spec, a frame not terminated by a blank line is discarded: a stream cut
   * in the middle of a frame must not deliver half of it.
   */
  end(): void {
    if (this.ended) return;
    this.push(this.decoder.decode());
    this.ended = true;
    this.pending = '';
    this.data = [];
    this.eventType = '';
  }

  /** The last event id seen (what a reconnecting client sends as Last-Event-ID). */
  get lastId(): string {
    return this.lastEventId;
  }

  private push(input: string): void {
    let text = input;
    if (text.length === 0) return;
    if (!this.started) {
      this.started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    let pos = 0;
    if (this.skipLf) {
      this.skipLf = false;
      if (text.charCodeAt(0) === LF) pos = 1;
    }
    if (this.pending) {
      text = this.pending + text.slice(pos);
      pos = 0;
      this.pending = '';
    }
    // indexOf per terminator, each remembered until passed: scanning for a CR that never comes (our
    // server writes LF only) would otherwise rescan the rest of the chunk for every line.
    let nextLf = -2;
    let nextCr = -2;
    const length = text.length;
    while (pos < length) {
      if (nextLf !== -1 && nextLf < pos) nextLf = text.indexOf('\n', pos);
      if (nextCr !== -1 && nextCr < pos) nextCr = text.indexOf('\r', pos);
      let end: number;
      if (nextLf === -1) end = nextCr;
      else if (nextCr === -1) end = nextLf;
      else end = Math.min(nextLf, nextCr);
      if (end === -1) break;
      const line = text.slice(pos, end);
      if (text.charCodeAt(end) === CR) {
        if (end + 1 < length) pos = text.charCodeAt(end + 1) === LF ? end + 2 : end + 1;
        else {
          this.skipLf = true;
          pos = end + 1;
        }
      } else pos = end + 1;
      this.line(line);
    }
    if (pos < length) this.pending = text.slice(pos);
  }

  private line(line: string): void {
    if (line.length === 0) {
      this.dispatch();
      return;
    }
    const colon = line.indexOf(':');
    if (colon === 0) {
      this.handlers.onComment?.(line.slice(1));
      return;
    }
    let field: string;
    let value: string;
    if (colon < 0) {
      // "field" alone is the field with an empty value ("data" alone adds an empty line).
      field = line;
      value = '';
    } else {
      field = line.slice(0, colon);
      value = line.charCodeAt(colon + 1) === 32 ? line.slice(colon + 2) : line.slice(colon + 1);
    }
    switch (field) {
      case 'event':
        this.eventType = value;
        break;
      case 'data':
        this.data.push(value);
        break;
      case 'id':
        if (!value.includes('\0')) this.lastEventId = value;
        break;
      case 'retry':
        if (/^[0-9]+$/.test(value)) this.handlers.onRetry?.(Number(value));
        break;
      default:
      // Unknown fields are ignored.
    }
  }

  private dispatch(): void {
    // An `id:` without `data:` still moves the last event id (it already did, in line()), but a frame
    // with no data line is not an event.
    if (this.data.length === 0) {
      this.eventType = '';
      return;
    }
    const message: SseMessage = {
      type: this.eventType || 'message',
      data: this.data.join('\n'),
      lastEventId: this.lastEventId,
    };
    this.data = [];
    this.eventType = '';
    this.handlers.onMessage(message);
  }
}
