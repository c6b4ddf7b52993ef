// One stream per browser profile, however many tabs subscribe. A browser allows six HTTP/1.1
// connections per host and each open stream holds one, so the 7th tab of an app could not even sign in.
// Tabs subscribing alike (same broker, user and filter) elect a leader with a Web Lock: the leader holds
// the lock for as long as it subscribes and runs the real stream; it relays every frame to the other
// tabs over a BroadcastChannel. When the leader tab closes, the browser grants the lock to the next tab
// waiting for it, which resumes the stream from the last id it got (the broker replays the rest), so no
// tab sees a gap; every tab drops ids it already delivered, so none sees a duplicate either.
import type { LatestView } from './latest.js';
import type { SseMessage } from './sse-parser.js';

/** What the leader tells the other tabs. */
export type Relayed =
  | { kind: 'message'; message: SseMessage }
  | { kind: 'open' }
  | { kind: 'down' }
  | { kind: 'error'; message: string; retrying: boolean; delayMs?: number };

type Wire =
  | Relayed
  /** A tab that just subscribed asks the leader for the state so far. */
  | { kind: 'hello' }
  /** The leader's answer: the latest frame of each name, and the position they bring one to. */
  | { kind: 'state'; messages: SseMessage[]; position: number | undefined; connected: boolean }
  /** A new leader: whoever still waits for a state asks again. */
  | { kind: 'leader' };

/** What the sharing needs from a Subscription (its internals). */
export interface SharedSubscriber {
  readonly closed: boolean;
  readonly connected: boolean;
  position: number | undefined;
  relay: ((event: Relayed) => void) | undefined;
  onStop: (() => void) | undefined;
  /** The subscription's own connect-and-reconnect loop: the leader runs it. */
  runDirect(): Promise<void>;
  handle(message: SseMessage): void;
  setConnected(connected: boolean, opened: boolean): void;
  relayedError(error: Error, retrying: boolean, delayMs: number | undefined): void;
  readonly latest: LatestView;
}

/** The latest frame of each name in id order: a new follower's starting state. */
function latestFrames(view: LatestView): SseMessage[] {
  return view
    .names()
    .map((type) => ({ type, entry: view.entry(type)! }))
    .sort((a, b) => a.entry.id - b.entry.id)
    .map(({ type, entry }) => ({ type, data: JSON.stringify(entry.data), lastEventId: String(entry.id) }));
}

interface LockManagerLike {
  request(name: string, options: { signal?: AbortSignal }, callback: () => Promise<void>): Promise<unknown>;
}

function lockManager(): LockManagerLike | undefined {
  const locks = (globalThis as { navigator?: { locks?: LockManagerLike } }).navigator?.locks;
  return locks && typeof locks.request === 'function' ? locks : undefined;
}

/** Whether this runtime can share (browsers: Web Locks and BroadcastChannel; Node has no Web Locks). */
export function canShareAcrossTabs(): boolean {
  return lockManager() !== undefined && typeof BroadcastChannel === 'function';
}

/** The name of the lock and channel: tabs share only with the same broker, user and filter. */
export function sharingKey(url: string, username: string, events: string[] | undefined): string {
  return `broker-client/v1 ${JSON.stringify([url, username, events?.length ? [...events].sort() : null])}`;
}

/** Runs a subscription as a leader or follower of the tabs sharing `key`; resolves once it stops. */
export async function runShared(sub: SharedSubscriber, key: string): Promise<void> {
  const locks = lockManager()!;
  const channel = new BroadcastChannel(key);
  const waiting = new AbortController();
  let leading = false;
  // A follower ignores frames until it has the leader's state: applied first, frames relayed
  // meanwhile (all at or below the state's position) would hide older names' latest values.
  let synced = false;
  const post = (wire: Wire) => {
    try {
      channel.postMessage(wire);
    } catch {
      // The channel closed under us (the tab is going away).
    }
  };

  channel.onmessage = (e: MessageEvent<Wire>) => {
    const wire = e.data;
    if (sub.closed || !wire || typeof wire !== 'object') return;
    if (leading) {
      if (wire.kind === 'hello') post({ kind: 'state', messages: latestFrames(sub.latest), position: sub.position, connected: sub.connected });
      return;
    }
    switch (wire.kind) {
      case 'state':
        if (synced) return;
        synced = true;
        for (const message of wire.messages) sub.handle(message);
        if (wire.position !== undefined && (sub.position === undefined || wire.position > sub.position)) sub.position = wire.position;
        sub.setConnected(wire.connected, wire.connected);
        return;
      case 'leader':
        if (!synced) post({ kind: 'hello' });
        return;
      case 'message':
        if (synced) sub.handle(wire.message);
        return;
      case 'open':
        if (synced) sub.setConnected(true, true);
        return;
      case 'down':
        sub.setConnected(false, false);
        return;
      case 'error':
        sub.setConnected(false, false);
        sub.relayedError(new Error(wire.message), wire.retrying, wire.delayMs);
        return;
    }
  };
  sub.onStop = () => waiting.abort();
  post({ kind: 'hello' });
  try {
    await locks.request(key, { signal: waiting.signal }, async () => {
      if (sub.closed) return;
      leading = true;
      sub.relay = (event) => post(event);
      post({ kind: 'leader' });
      try {
        // From our own position: everything relayed to us so far is delivered; the broker replays the rest.
        await sub.runDirect();
      } finally {
        post({ kind: 'down' });
        sub.relay = undefined;
      }
    });
  } catch (err) {
    // Closed while waiting for the lock: a follower's normal end.
    if ((err as Error)?.name !== 'AbortError') throw err;
  } finally {
    sub.onStop = undefined;
    channel.close();
  }
}
