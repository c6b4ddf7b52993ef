// Server-Sent Events framing. No space after the colon, so the original fetch-based broker-client,
// which splits on ':' without trimming, parses our frames too.
import type { EventRecord } from '../storage/event-log.js';

export function frame(record: Pick<EventRecord, 'event' | 'id' | 'data'>): string {
  return `event:${record.event}\nid:${record.id}\ndata:${record.data}\n\n`;
}

/** Sent first on a resume whose Last-Event-ID is older than the retained history. */
export const RESET_FRAME = 'event:reset\ndata:{}\n\n';
export const RETRY_MS = 2000;
export const HEARTBEAT = Buffer.from(':\n\n');
export const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  'x-accel-buffering': 'no',
  connection: 'keep-alive',
} as const;

/** Event names travel in the `event:` line: a line break would forge frames. */
export function invalidEventName(name: string): string | undefined {
  if (name.length === 0) return 'event must not be empty';
  if (name.length > 256) return 'event must be at most 256 characters';
  if (/[\r\n\0]/.test(name)) return 'event must not contain line breaks';
  if (name === 'reset') return '"reset" is reserved for the server';
  return undefined;
}
