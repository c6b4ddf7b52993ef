// Starting a subscriber's stream: replay from the log, then live, with no gap and no duplicate.
// The switch to live happens in the same synchronous turn as the last read of the log, and the hub
// skips live events at or below the last id written: an event committed before that read is in it,
// and one committed after it reaches the hub later with a higher id.
//
// Replay is bounded three ways, so that a client that never reads costs one page, not its history:
// pages hold at most PAGE events and pageBytes() of data (always at least one event); after a write
// the socket refused to take in, the next page waits for 'drain' (--max_buffer is respected while
// replaying, not only checked before a write); and a filtered scan looks at a bounded number of
// records per turn of the event loop, so a filter that matches nothing does not hold everyone else.
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { EventLog, EventRecord } from '../storage/event-log.js';
import type { Hub, Subscriber } from './hub.js';
import { RESET_FRAME, frame } from './sse.js';

const PAGE = 500;
/** Records a filtered replay looks at per turn (and their bytes): ~a few ms of work. */
export const EXAMINE_PER_TURN = 2_000;
export const EXAMINE_BYTES_PER_TURN = 4 * 1024 * 1024;

function encode(records: EventRecord[]): string {
  let out = '';
  for (const r of records) out += frame(r);
  return out;
}

/** Half of --max_buffer, at most 256 KiB: a page never gets a stream cut on its own. */
function pageBytes(hub: Hub): number {
  return Math.max(512, Math.min(256 * 1024, Math.floor(hub.maxBuffer / 2)));
}

class Replay {
  /** One close listener for the whole replay (a listener per page would pile up on a long history). */
  private closed: Promise<void> | undefined;

  constructor(
    private readonly hub: Hub,
    private readonly sub: Subscriber,
  ) {}

  /**
   * Writes a page; false when the stream is gone. Waits for the socket to drain when it asked to, and
   * otherwise yields a turn to other requests before the next page (`last`: there is none, go on now).
   */
  async write(text: string, last = false): Promise<boolean> {
    const accepted = text === '' ? true : this.hub.write(this.sub, text);
    if (accepted === undefined) return false;
    if (!accepted) {
      const sink = this.sub.init.sink;
      this.closed ??= new Promise<void>((resolve) => sink.once('close', resolve));
      await Promise.race([new Promise<void>((resolve) => sink.once('drain', resolve)), this.closed]);
    } else if (!last) {
      await yieldToLoop();
    }
    return !this.sub.closed;
  }
}

/**
 * The latest event of every name (in id order), paged, then everything committed since: the ids are
 * read in the same turn as the log's committed position, so the events after it are exactly those the
 * snapshot could not hold.
 */
async function sendSnapshot(hub: Hub, log: EventLog, sub: Subscriber, prefix: string): Promise<void> {
  const replay = new Replay(hub, sub);
  const ids = log.latestIds(sub.tenant, sub.init.names);
  // Every commit writes its events' names' latest ids, and retention never deletes a latest event: so
  // without a filter the highest latest id is the highest committed one (the prune marker aside), read
  // from the same snapshot as the ids, for free. A filter hides other names' ids: then ask the log.
  const through = sub.init.names
    ? log.committedId(sub.tenant)
    : Math.max(ids.length > 0 ? ids[ids.length - 1] : 0, log.prunedThrough(sub.tenant));
  let text = prefix;
  let i = 0;
  do {
    if (i < ids.length) {
      const { records, taken } = log.getMany(sub.tenant, ids.slice(i, i + PAGE), pageBytes(hub));
      i += taken;
      text += encode(records);
    }
    // The last page goes on to the catch-up read at once: most snapshots are one page.
    if (!(await replay.write(text, i >= ids.length))) return;
    text = '';
  } while (i < ids.length);
  return replayAfter(hub, log, sub, through, replay);
}

async function replayAfter(hub: Hub, log: EventLog, sub: Subscriber, from: number, replay: Replay): Promise<void> {
  sub.lastId = from;
  const names = sub.init.names;
  for (;;) {
    if (sub.closed) return;
    const page = log.scan(sub.tenant, {
      after: sub.lastId,
      limit: PAGE,
      maxBytes: pageBytes(hub),
      maxExamined: EXAMINE_PER_TURN,
      maxExaminedBytes: EXAMINE_BYTES_PER_TURN,
      names,
    });
    // Records looked at but filtered out are covered too: the hub would filter them out anyway.
    if (page.through !== undefined) sub.lastId = page.through;
    if (page.end) {
      if (page.records.length > 0) hub.write(sub, encode(page.records));
      sub.live = true;
      return;
    }
    if (!(await replay.write(encode(page.records)))) return;
    // A slow reader's replay can span a retention run: events it had not reached may be gone, and
    // skipping them silently would be a gap. Start over from the snapshot, as a resume from before
    // the retained history does.
    if (log.prunedThrough(sub.tenant) > sub.lastId) return sendSnapshot(hub, log, sub, RESET_FRAME);
  }
}

/**
 * lastEventId undefined: the latest event of every name, then live.
 * lastEventId n: every event after n (0 = the whole history), then live; if retention has deleted
 * events after n, or n is beyond the log's last id, `event:reset` and the latest-per-name snapshot.
 */
export async function startStream(
  hub: Hub,
  log: EventLog,
  sub: Subscriber,
  lastEventId: number | undefined,
): Promise<void> {
  if (lastEventId === undefined) return sendSnapshot(hub, log, sub, '');
  if (lastEventId < log.prunedThrough(sub.tenant)) return sendSnapshot(hub, log, sub, RESET_FRAME);
  // An id this log never issued (a restored older backup, a wiped database): the client's state is
  // from another history, and resuming after it would silently skip every new event up to it.
  if (lastEventId > log.lastId(sub.tenant)) return sendSnapshot(hub, log, sub, RESET_FRAME);
  return replayAfter(hub, log, sub, lastEventId, new Replay(hub, sub));
}
