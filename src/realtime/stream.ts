// Starting a subscriber's stream: replay from the log, then live, with no gap and no duplicate.
// The switch to live happens in the same synchronous turn as the last read of the log, and the hub
// skips live events at or below the last id written: an event committed before that read is in it,
// and one committed after it reaches the hub later with a higher id.
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { EventLog, EventRecord } from '../storage/event-log.js';
import type { Hub, Subscriber } from './hub.js';
import { RESET_FRAME, frame } from './sse.js';

const PAGE = 500;

function encode(records: EventRecord[]): string {
  let out = '';
  for (const r of records) out += frame(r);
  return out;
}

function sendSnapshot(hub: Hub, log: EventLog, sub: Subscriber, prefix: string): void {
  const snapshot = log.latest(sub.tenant, sub.init.names);
  const text = prefix + encode(snapshot);
  if (text) hub.write(sub, text);
  if (snapshot.length > 0) sub.lastId = snapshot[snapshot.length - 1].id;
  sub.live = true;
}

/**
 * lastEventId undefined: the latest event of every name, then live.
 * lastEventId n: every event after n (0 = the whole history), then live; if retention has deleted
 * events after n, or n is beyond the log's last id, `event:reset` and the latest-per-name snapshot.
 */
export async function startStream(hub: Hub, log: EventLog, sub: Subscriber, lastEventId: number | undefined): Promise<void> {
  if (lastEventId === undefined) return sendSnapshot(hub, log, sub, '');
  if (lastEventId < log.prunedThrough(sub.tenant)) return sendSnapshot(hub, log, sub, RESET_FRAME);
  // An id this log never issued (a restored older backup, a wiped database): the client's state is
  // from another history, and resuming after it would silently skip every new event up to it.
  if (lastEventId > log.lastId(sub.tenant)) return sendSnapshot(hub, log, sub, RESET_FRAME);
  sub.lastId = lastEventId;
  const sink = sub.init.sink;
  for (;;) {
    if (sub.closed) return;
    const page = log.after(sub.tenant, sub.lastId, PAGE, sub.init.names);
    if (page.length > 0) {
      hub.write(sub, encode(page));
      sub.lastId = page[page.length - 1].id;
    }
    if (page.length < PAGE) {
      sub.live = true;
      return;
    }
    // A long history: let the socket drain and other requests run between pages.
    if (sink.writableLength > 256 * 1024) await new Promise<void>((resolve) => {
      sink.once('drain', resolve);
      sink.once('close', resolve);
    });
    else await yieldToLoop();
  }
}
