// Server-Sent Events framing. No space after the colon, so the original fetch-based broker-client,
// which splits on ':' without trimming, parses our frames too.
import type { FastifyReply } from 'fastify';
import type { OutgoingHttpHeaders } from 'node:http';
import type { ServerHttp2Stream } from 'node:http2';
import type { EventRecord } from '../storage/event-log.js';

export function frame(record: Pick<EventRecord, 'event' | 'id' | 'data'>): string {
  return `event:${record.event}\nid:${record.id}\ndata:${record.data}\n\n`;
}

/** The server's own event name (client/subscription.ts knows it as RESET_EVENT); users may not insert it. */
export const RESET_EVENT = 'reset';
/** Sent first on a resume whose Last-Event-ID is older than the retained history, or newer than the log. */
export const RESET_FRAME = `event:${RESET_EVENT}\ndata:{}\n\n`;
export const RETRY_MS = 2000;
export const HEARTBEAT = Buffer.from(':\n\n');
export const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  'x-accel-buffering': 'no',
  // The body ends when the connection closes (no chunked framing), so the connection is not reused.
  connection: 'close',
} as const;

/**
 * Where a subscriber's bytes go: over HTTP/1.1 the connection's socket itself, over HTTP/2 the
 * request's own stream (the connection is shared with the browser's other requests and tabs, so a
 * cut or an end applies to this stream alone).
 */
export interface EventSink {
  write(bytes: Buffer | string): boolean;
  end(): void;
  destroy(): void;
  readonly writableLength: number;
  readonly destroyed: boolean;
  once(event: 'close' | 'drain', listener: () => void): unknown;
}

/** Connection-specific headers HTTP/2 forbids (RFC 9113 8.2.2); Node refuses a response carrying one. */
const NOT_IN_H2 = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

/**
 * Takes the connection over from fastify and writes the response head itself. An SSE body only ends
 * when the connection closes, so it needs no chunked encoding: every frame can then go to the socket as
 * it is, and one Buffer serves every subscriber (res.write would wrap each write in chunk framing and
 * a cork/nextTick per subscriber). Over HTTP/2 the stream is the sink (h2 frames the data itself).
 * Returns undefined when the client is already gone.
 */
export function openEventStream(reply: FastifyReply): EventSink | undefined {
  reply.hijack();
  const h2 = (reply.raw as unknown as { stream?: ServerHttp2Stream }).stream;
  if (h2) return openHttp2Stream(reply, h2);
  const socket = reply.raw.socket;
  if (!socket || socket.destroyed) return undefined;
  const headers: Record<string, unknown> = { ...reply.getHeaders(), ...SSE_HEADERS };
  let head = 'HTTP/1.1 200 OK\r\n';
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    head += `${name}: ${Array.isArray(value) ? value.join(', ') : String(value)}\r\n`;
  }
  socket.setNoDelay(true);
  socket.write(`${head}\r\nretry:${RETRY_MS}\n\n`);
  return socket;
}

function openHttp2Stream(reply: FastifyReply, stream: ServerHttp2Stream): EventSink | undefined {
  if (stream.destroyed || stream.closed || stream.headersSent) return undefined;
  const headers: OutgoingHttpHeaders = { ':status': 200 };
  for (const [name, value] of Object.entries({ ...reply.getHeaders(), ...SSE_HEADERS })) {
    if (value !== undefined && !NOT_IN_H2.has(name.toLowerCase()))
      headers[name.toLowerCase()] = value as OutgoingHttpHeaders[string];
  }
  stream.respond(headers);
  stream.write(`retry:${RETRY_MS}\n\n`);
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
