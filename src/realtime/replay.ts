// A subscriber's replay: the latest event of every name, or everything after a position, written page by
// page while its live batches queue (subscriber.ts). It returns the id it covered, so the queue drains
// without a gap or a duplicate; nothing here depends on the log answering in the same turn, so the
// reads are awaited (an engine whose reads are async, a cluster's, fits the same code).
//
// Replay is bounded three ways, so that a client that never reads costs one page, not its history:
// pages hold at most PAGE events and pageBytes() of data (always at least one event); after a write
// the sink refused to take in, the next page waits for 'drain' (--max_buffer is respected while
// replaying, not only checked before a write); and a filtered scan looks at a bounded number of
// records per turn of the event loop, so a filter that matches nothing does not hold everyone else.
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { EventLog, EventRecord } from '../storage/event-log.js';
import { RESET_FRAME, frame } from './sse.js';
import type { Subscriber } from './subscriber.js';

const PAGE = 500;
/** Records a filtered replay looks at per turn (and their bytes): ~a few ms of work. */
export const EXAMINE_PER_TURN = 2_000;
export const EXAMINE_BYTES_PER_TURN = 4 * 1024 * 1024;

type Awaitable<T> = T | Promise<T>;
type ReadName = 'latestIds' | 'getMany' | 'scan' | 'prunedThrough' | 'lastId' | 'committedId';
/** The log's reads a replay uses, each of which may answer now or later. */
export type ReplayReads = {
  [K in ReadName]: (...args: Parameters<EventLog[K]>) => Awaitable<ReturnType<EventLog[K]>>;
} & Pick<EventLog, 'epoch'>;

/**
 * Where a stream starts. undefined: the latest event of every name, then live. `after` n: every event
 * after n (0 = the whole history), then live; if retention has deleted events after n, n is beyond the
 * log's last id, or `epoch` is given and is not the log's, `event:reset` and the latest-per-name snapshot.
 */
export interface StartPosition {
  after: number;
  /** The epoch the client's id is from; absent (older clients): the id is taken as this log's. */
  epoch?: string;
}

/** The records framed for this subscriber's transport (SSE text unless it has another framing). */
function encode(sub: Subscriber, records: readonly EventRecord[]): string | Buffer {
  const framing = sub.framing;
  if (framing) return records.length === 1 ? framing.frame(records[0]) : Buffer.concat(records.map(framing.frame));
  let out = '';
  for (const r of records) out += frame(r);
  return out;
}

/** Half of --max_buffer, at most 256 KiB: a page never gets a stream cut on its own. */
export function pageBytes(maxBuffer: number): number {
  return Math.max(512, Math.min(256 * 1024, Math.floor(maxBuffer / 2)));
}

class Replay {
  /** One close listener for the whole replay (a listener per page would pile up on a long history). */
  private closed: Promise<void> | undefined;
  readonly pageBytes: number;

  constructor(
    readonly log: ReplayReads,
    readonly sub: Subscriber,
    maxBuffer: number,
  ) {
    this.pageBytes = pageBytes(maxBuffer);
  }

  get stream(): string {
    return this.sub.stream;
  }

  /**
   * Writes a page; false when the stream is gone. Waits for the sink to drain when it asked to, and
   * otherwise yields a turn to other requests before the next page (`last`: there is none, go on now).
   */
  async write(text: string | Buffer, last = false): Promise<boolean> {
    const accepted = text.length === 0 ? true : this.sub.write(text);
    if (accepted === undefined) return false;
    if (!accepted) {
      const sink = this.sub.sink;
      this.closed ??= new Promise<void>((resolve) => sink.once('close', resolve));
      await Promise.race([new Promise<void>((resolve) => sink.once('drain', resolve)), this.closed]);
    } else if (!last) {
      await yieldToLoop();
    }
    return !this.sub.closed;
  }
}

/**
 * The latest event of every name (in id order), paged, then everything committed since. The position
 * is read before the ids: an id above it (committed between the two reads) is left to the catch-up scan,
 * which sends it in order, so the snapshot and the scan neither overlap nor leave a gap.
 */
const resetOf = (sub: Subscriber) => sub.framing?.reset ?? RESET_FRAME;

async function snapshot(replay: Replay, prefix: string | Buffer): Promise<number | undefined> {
  const { log, sub, stream } = replay;
  const names = sub.init.names;
  // Every commit writes its events' names' latest ids, and retention never deletes a latest event: so
  // without a filter the highest latest id is the highest committed one (the prune marker aside), read
  // from the same answer as the ids, for free. A filter hides other names' ids: then ask the log.
  const floor = names ? await log.committedId(stream) : await log.prunedThrough(stream);
  const latest = await log.latestIds(stream, names);
  const ids = names ? latest.filter((id) => id <= floor) : latest;
  const through = names ? floor : Math.max(ids.length > 0 ? ids[ids.length - 1] : 0, floor);
  sub.covered(through);
  let text: string | Buffer = prefix;
  let i = 0;
  do {
    if (i < ids.length) {
      const { records, taken } = await log.getMany(stream, ids.slice(i, i + PAGE), replay.pageBytes);
      i += taken;
      const page = encode(sub, records);
      if (typeof text === 'string' && typeof page === 'string') text += page;
      else text = text.length === 0 ? page : Buffer.concat([Buffer.from(text), Buffer.from(page)]);
    }
    // The last page goes on to the catch-up read at once: most snapshots are one page.
    if (!(await replay.write(text, i >= ids.length))) return undefined;
    text = '';
  } while (i < ids.length);
  return after(replay, through);
}

async function after(replay: Replay, from: number): Promise<number | undefined> {
  const { log, sub, stream } = replay;
  const names = sub.init.names;
  let position = from;
  for (;;) {
    if (sub.closed) return undefined;
    const page = await log.scan(stream, {
      after: position,
      limit: PAGE,
      maxBytes: replay.pageBytes,
      maxExamined: EXAMINE_PER_TURN,
      maxExaminedBytes: EXAMINE_BYTES_PER_TURN,
      names,
    });
    // Records looked at but filtered out are covered too: the live queue would filter them out anyway.
    if (page.through !== undefined) position = page.through;
    // Live batches dropped from an overfull queue meanwhile (takeBehind): they are in the log, read on.
    if (page.end && !sub.takeBehind()) {
      if (page.records.length > 0 && sub.write(encode(sub, page.records)) === undefined) return undefined;
      return position;
    }
    if (!(await replay.write(encode(sub, page.records)))) return undefined;
    sub.covered(position);
    // A slow reader's replay can span a retention run: events it had not reached may be gone, and
    // skipping them silently would be a gap. Start over from the snapshot, as a resume from before
    // the retained history does.
    if ((await log.prunedThrough(stream)) > position) return snapshot(replay, resetOf(sub));
  }
}

/**
 * Writes the subscriber's replay from `from` (see StartPosition). Returns the highest id it covered, or
 * undefined when the stream ended meanwhile.
 */
export async function replay(
  log: ReplayReads,
  sub: Subscriber,
  from: StartPosition | undefined,
  maxBuffer: number,
): Promise<number | undefined> {
  const r = new Replay(log, sub, maxBuffer);
  if (from === undefined) return snapshot(r, '');
  // An id from another history (a restored backup, a wiped database): positions there mean nothing here,
  // even one the log has since grown past.
  if (from.epoch !== undefined && from.epoch !== log.epoch) return snapshot(r, resetOf(sub));
  if (from.after < (await log.prunedThrough(sub.stream))) return snapshot(r, resetOf(sub));
  // An id this log never issued (a client without the epoch whose database was restored or wiped): its
  // state is from another history, and resuming after it would silently skip every new event up to it.
  if (from.after > (await log.lastId(sub.stream))) return snapshot(r, resetOf(sub));
  return after(r, from.after);
}
