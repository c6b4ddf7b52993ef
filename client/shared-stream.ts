// One stream per browser profile, however many tabs subscribe. A browser allows six HTTP/1.1
// connections per host and each open stream holds one, so the 7th tab of an app could not even sign in.
// Tabs subscribing alike (same broker, user and filter) elect a leader with a Web Lock: the leader holds
// the lock for as long as it subscribes and runs the real stream; it relays every frame to the other
// tabs over a BroadcastChannel. When the leader tab closes, the browser grants the lock to the next tab
// waiting for it, which resumes the stream from the last id it got (the broker replays the rest), so no
// tab sees a gap; every tab drops ids it already delivered, so none sees a duplicate either.
import { tokenSubject } from './jwt.js';
import type { LatestView } from './latest.js';
import type { SseMessage } from './sse-parser.js';
import type { StreamClient } from './stream-client.js';

/** What the leader tells the other tabs. */
export type Relayed =
  | { kind: 'message'; message: SseMessage }
  | { kind: 'open'; epoch: string | undefined }
  | { kind: 'down' }
  | { kind: 'error'; message: string; retrying: boolean; delayMs?: number };

type Wire =
  | Relayed
  /** A tab that just subscribed asks the leader for the state so far. */
  | { kind: 'hello' }
  /** The leader's answer: the latest frame of each name, and the position (with its epoch) they bring one to. */
  | {
      kind: 'state';
      messages: SseMessage[];
      position: number | undefined;
      epoch: string | undefined;
      connected: boolean;
    }
  /** A new leader: whoever still waits for a state asks again. */
  | { kind: 'leader' }
  /** The leader is alive (sent every few seconds, however quiet the stream). */
  | { kind: 'beat' };

/** What the sharing needs from a Subscription (its internals). */
export interface SharedSubscriber {
  readonly closed: boolean;
  role: 'direct' | 'shared';
  /** Called before each connect; an error returned ends the subscription for good. */
  beforeConnect: (() => Error | undefined) | undefined;
  readonly connected: boolean;
  position: number | undefined;
  /** The epoch of the log `position` is in: a new leader resumes with both. */
  positionEpoch: string | undefined;
  relay: ((event: Relayed) => void) | undefined;
  onStop: (() => void) | undefined;
  /** The subscription's own connect-and-reconnect loop: the leader runs it, while `leading`. */
  runDirect(): Promise<void>;
  /** Ends the open stream and any wait of runDirect (which then returns once no longer leading). */
  interrupt(): void;
  handle(message: SseMessage): void;
  setConnected(connected: boolean, opened: boolean, epoch?: string): void;
  report(error: Error, info: { retrying: boolean; delayMs?: number }): void;
  close(): void;
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
  request(
    name: string,
    options: { signal?: AbortSignal; steal?: boolean },
    callback: () => Promise<void>,
  ): Promise<unknown>;
}

function lockManager(): LockManagerLike | undefined {
  const locks = (globalThis as { navigator?: { locks?: LockManagerLike } }).navigator?.locks;
  return locks && typeof locks.request === 'function' ? locks : undefined;
}

/** Whether this runtime can share at all: Web Locks and BroadcastChannel. */
export function canShareAcrossTabs(): boolean {
  return lockManager() !== undefined && typeof BroadcastChannel === 'function';
}

/**
 * Whether subscriptions share unless told otherwise: only in a browser page. Newer Node has Web Locks and
 * BroadcastChannel too, but its processes are not tabs, and its README promises a stream of its own.
 */
export function sharesByDefault(): boolean {
  return typeof (globalThis as { document?: unknown }).document !== 'undefined' && canShareAcrossTabs();
}

/** The name of the lock and channel: tabs share only with the same broker, user and filter. */
export function sharingKey(url: string, username: string, events: string[] | undefined): string {
  return `broker-client/v1 ${JSON.stringify([url, username, events?.length ? [...events].sort() : null])}`;
}

/** Starts `sub` sharing when it should (SubscribeOptions.shareAcrossTabs); undefined: it runs alone. */
export function shareIfAlike(
  sub: SharedSubscriber,
  client: StreamClient,
  options: { shareAcrossTabs?: boolean; lastEventId?: number; events?: string[] },
): Promise<void> | undefined {
  const user = tokenSubject(client.token);
  if (
    !(options.shareAcrossTabs ?? sharesByDefault()) ||
    options.lastEventId !== undefined ||
    user === undefined ||
    !canShareAcrossTabs()
  )
    return undefined;
  sub.role = 'shared';
  return runShared(sub, client, sharingKey(client.url, user, options.events), user);
}

/**
 * Runs a subscription of `client` as a leader or follower of the tabs sharing `key` (as `user`); resolves once it
 * stops. Where the lock cannot be had at all (a sandboxed iframe's opaque origin: SecurityError) the
 * subscription runs a stream of its own instead.
 */
export async function runShared(sub: SharedSubscriber, client: StreamClient, key: string, user: string): Promise<void> {
  if (sub.closed) return;
  const idleTimeoutMs = client.options.idleTimeoutMs ?? 45_000;
  const locks = lockManager()!;
  const channel = new BroadcastChannel(key);
  let waiting = new AbortController();
  let leading = false;
  let led = false;
  let steal = false;
  let leaderRun: Promise<void> | undefined;
  // The key names the user the subscription started as; after an account switch (login as someone else,
  // or a relogin hook that does) this tab must neither relay the new user's stream to the old user's
  // tabs nor show the old user's frames. Decoded only when the token changes: it runs per relayed frame.
  let checked: string | undefined;
  let sameUser = true;
  const userChanged = (): Error | undefined => {
    const token = client.token;
    if (token !== checked) {
      checked = token;
      sameUser = tokenSubject(token) === user;
    }
    return sameUser ? undefined : new Error(`subscribe: the client's user is no longer "${user}"; subscribe again`);
  };
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
  // A leader that holds the lock but has stopped working (a frozen or hung tab) would starve every
  // follower: the leader beats, and a follower that hears nothing for idleTimeoutMs takes the lock from it.
  let watchdog: ReturnType<typeof setTimeout> | undefined;
  const watch = () => {
    if (watchdog !== undefined) clearTimeout(watchdog);
    watchdog =
      leading || sub.closed
        ? undefined
        : setTimeout(() => {
            steal = true;
            waiting.abort();
          }, idleTimeoutMs);
  };

  channel.onmessage = (e: MessageEvent<Wire>) => {
    const wire = e.data;
    if (sub.closed || !wire || typeof wire !== 'object') return;
    if (leading) {
      if (wire.kind === 'hello')
        post({
          kind: 'state',
          messages: latestFrames(sub.latest),
          position: sub.position,
          epoch: sub.positionEpoch,
          connected: sub.connected,
        });
      return;
    }
    watch();
    const changed = userChanged();
    if (changed) {
      sub.report(changed, { retrying: false });
      sub.close();
      return;
    }
    switch (wire.kind) {
      case 'state':
        if (synced) return;
        synced = true;
        for (const message of wire.messages) sub.handle(message);
        // The state's frames came from the leader's log: its epoch goes with the position they bring.
        if (wire.position !== undefined && (sub.position === undefined || wire.position >= sub.position)) {
          sub.position = wire.position;
          sub.positionEpoch = wire.epoch;
        }
        sub.setConnected(wire.connected, wire.connected, wire.epoch);
        return;
      case 'leader':
        if (!synced) post({ kind: 'hello' });
        return;
      case 'message':
        if (synced) sub.handle(wire.message);
        return;
      case 'open':
        if (synced) sub.setConnected(true, true, wire.epoch);
        return;
      case 'down':
        sub.setConnected(false, false);
        return;
      case 'error':
        // The leader's final error (its token refused, its relogin failed) is its own: this tab waits on
        // for the lock, which that leader is about to give up, and then tries with its own token.
        sub.setConnected(false, false);
        sub.report(
          new Error(wire.message),
          wire.retrying ? { retrying: true, delayMs: wire.delayMs } : { retrying: true },
        );
        return;
    }
  };
  const lead = async () => {
    if (sub.closed) return;
    leading = led = true;
    watch();
    sub.relay = (event) => post(event);
    post({ kind: 'leader' });
    const beat = setInterval(() => post({ kind: 'beat' }), Math.max(10, Math.min(5_000, idleTimeoutMs / 3)));
    try {
      // From our own position: everything relayed to us so far is delivered; the broker replays the rest.
      await (leaderRun = sub.runDirect());
    } finally {
      clearInterval(beat);
      // After a steal the new leader speaks for the stream: a 'down' from us would mislead its followers.
      if (leading) post({ kind: 'down' });
      leading = false;
      sub.relay = undefined;
    }
  };
  sub.onStop = () => waiting.abort();
  sub.beforeConnect = userChanged;
  post({ kind: 'hello' });
  let fallBack = false;
  try {
    while (!sub.closed) {
      waiting = new AbortController();
      const stealing = steal;
      steal = false;
      watch();
      try {
        await locks.request(key, stealing ? { steal: true } : { signal: waiting.signal }, lead);
        break;
      } catch (err) {
        if ((err as Error)?.name !== 'AbortError') {
          if (led) throw err;
          fallBack = true;
          break;
        }
        if (leading) {
          // Our lock was stolen (we looked dead to a follower): stop streaming, and follow from here on.
          leading = false;
          sub.relay = undefined;
          sub.interrupt();
          await leaderRun;
        } else if (!steal) break; // Closed while waiting for the lock: a follower's normal end.
      }
    }
  } finally {
    if (watchdog !== undefined) clearTimeout(watchdog);
    sub.onStop = undefined;
    channel.close();
  }
  if (fallBack && !sub.closed) {
    sub.role = 'direct';
    await sub.runDirect();
  }
}
