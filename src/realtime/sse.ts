// Server-Sent Events framing. No space after the colon, so the original fetch-based broker-client,
// which splits on ':' without trimming, parses our frames too.
import type { OutgoingHttpHeaders } from 'node:http';
import type { ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import { RESET_EVENT } from '../../client/protocol.js';
import type { EventRecord } from '../storage/event-log.js';
import type { Framing, Sink } from './subscriber.js';

export function frame(record: Pick<EventRecord, 'event' | 'id' | 'data'>): string {
  return `event:${record.event}\nid:${record.id}\ndata:${record.data}\n\n`;
}

/**
 * Sent first on a resume whose Last-Event-ID is older than the retained history, newer than the log, or
 * from another epoch: drop local state, a fresh snapshot follows.
 */
export const RESET_FRAME = `event:${RESET_EVENT}\ndata:{}\n\n`;
export const RETRY_MS = 2000;
export const HEARTBEAT = Buffer.from(':\n\n');
export const SSE_FRAMING: Framing = {
  name: 'sse',
  frame: (record) => Buffer.from(frame(record)),
  reset: RESET_FRAME,
  heartbeat: HEARTBEAT,
};
export const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  'x-accel-buffering': 'no',
  // The body ends when the connection closes (no chunked framing), so the connection is not reused.
  connection: 'close',
} as const;

/** Connection-specific headers HTTP/2 forbids (RFC 9113 8.2.2); Node refuses a response carrying one. */
const NOT_IN_H2 = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

/** What carries the response: the HTTP/1.1 connection's socket, or the request's HTTP/2 stream. */
export type EventStreamTarget = { socket: Socket | null | undefined } | { h2: ServerHttp2Stream };

/**
 * The stream's first lines: the reconnection delay, then the log's epoch as a comment (a client keeps it
 * with its last id; parsers that do not know it skip a comment).
 */
function preamble(epoch: string): string {
  return `retry:${RETRY_MS}\n:epoch ${epoch}\n\n`;
}

/**
 * Writes the response head and the preamble on a connection the HTTP layer has handed over. An SSE body
 * only ends when the connection closes, so it needs no chunked encoding: every frame can then go to the
 * socket as it is, and one Buffer serves every subscriber (res.write would wrap each write in chunk
 * framing and a cork/nextTick per subscriber). Over HTTP/2 the stream is the sink (h2 frames the data
 * itself). Returns undefined when the client is already gone.
 */
export function openEventStream(
  target: EventStreamTarget,
  headers: Record<string, unknown>,
  epoch: string,
): Sink | undefined {
  if ('h2' in target) return openHttp2Stream(target.h2, headers, epoch);
  const socket = target.socket;
  if (!socket || socket.destroyed) return undefined;
  let head = 'HTTP/1.1 200 OK\r\n';
  for (const [name, value] of Object.entries({ ...headers, ...SSE_HEADERS })) {
    if (value === undefined) continue;
    head += `${name}: ${Array.isArray(value) ? value.join(', ') : String(value)}\r\n`;
  }
  socket.setNoDelay(true);
  socket.write(`${head}\r\n${preamble(epoch)}`);
  return socket;
}

function openHttp2Stream(stream: ServerHttp2Stream, headers: Record<string, unknown>, epoch: string): Sink | undefined {
  if (stream.destroyed || stream.closed || stream.headersSent) return undefined;
  const out: OutgoingHttpHeaders = { ':status': 200 };
  for (const [name, value] of Object.entries({ ...headers, ...SSE_HEADERS })) {
    if (value !== undefined && !NOT_IN_H2.has(name.toLowerCase()))
      out[name.toLowerCase()] = value as OutgoingHttpHeaders[string];
  }
  stream.respond(out);
  stream.write(preamble(epoch));
  return stream;
}

/**
 * Event names travel in the `event:` line: a line break would forge frames. Every SSE parser strips
 * one leading space from a field's value, so `" reset"` would arrive as the server's own `reset`;
 * surrounding whitespace is refused for that reason, and control (Cc) and format (Cf: zero-width,
 * bidi overrides) characters because they make one name look like another.
 */
export function invalidEventName(name: string): string | undefined {
  if (name.length === 0) return 'event must not be empty';
  if (Buffer.byteLength(name) > 512) return 'event must be at most 512 bytes';
  if (/[\r\n\0]/.test(name)) return 'event must not contain line breaks';
  if (/\p{Cc}|\p{Cf}/u.test(name)) return 'event must not contain control or format characters';
  if (name.trim() !== name) return 'event must not start or end with whitespace';
  if (name === RESET_EVENT) return `"${RESET_EVENT}" is reserved for the server`;
  return undefined;
}
