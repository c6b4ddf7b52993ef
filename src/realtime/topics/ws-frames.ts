// WebSocket frames built by hand, once per message and transport: a server's frames are not masked, so
// the very same bytes go to every subscriber's socket (the hub's framing cache, FramedBatch.framed). Only
// text frames, FIN set, no compression (the server is created with perMessageDeflate off).
import type { EventRecord } from '../../storage/event-log.js';
import type { Framing } from '../subscriber.js';

export function textFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  const n = payload.length;
  const head = n < 126 ? Buffer.alloc(2) : n < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
  head[0] = 0x81;
  if (n < 126) head[1] = n;
  else if (n < 65536) {
    head[1] = 126;
    head.writeUInt16BE(n, 2);
  } else {
    head[1] = 127;
    head.writeBigUInt64BE(BigInt(n), 2);
  }
  return Buffer.concat([head, payload]);
}

/** notiflux's protocol: one text frame holding exactly the message (stored as a JSON string). */
export const NOTIFLUX_FRAMING: Framing = {
  name: 'ws-text',
  frame: (record: EventRecord) => textFrame(JSON.parse(record.data) as string),
  reset: Buffer.alloc(0),
  heartbeat: undefined,
};

/** broker.v1: `{"type":"message","topic","id","message"}`, the stored JSON string spliced in as it is. */
export const V1_FRAMING: Framing = {
  name: 'ws-v1',
  frame: (record: EventRecord) =>
    textFrame(`{"type":"message","topic":${JSON.stringify(record.event)},"id":${record.id},"message":${record.data}}`),
  reset: Buffer.alloc(0),
  heartbeat: undefined,
};
