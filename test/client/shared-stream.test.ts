// Sharing one stream between "tabs" in Node: Node 20 has BroadcastChannel but no Web Locks, so the test
// installs a small in-process Web Locks (the platform, not our code) on globalThis.navigator, and runs
// several BrokerClient subscriptions, each one a tab, against the real broker.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BrokerClient, EPOCH_HEADER, type BrokerEvent, type ErrorInfo, type Subscription } from '../../client/index.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { makeUser } from '../helpers/http.js';
import { sharingKey } from '../../client/shared-stream.js';
import { waitUntil } from '../helpers/wait.js';
import { FaultServer, fakeJwt, frame, queryParam, startSse } from './fault-server.js';

type Callback = () => Promise<void>;

/**
 * Exclusive locks as browsers grant them: the next waiter a moment after a release (the hand-over goes
 * through another process), and `steal` takes a held lock at once, rejecting its holder's request.
 */
class TestLocks {
  failWith: Error | undefined;
  private readonly holders = new Map<string, object>();
  private readonly queues = new Map<string, Array<() => void>>();
  constructor(private readonly handoverMs = 30) {}

  request(name: string, options: { signal?: AbortSignal; steal?: boolean }, callback: Callback): Promise<unknown> {
    if (this.failWith) return Promise.reject(this.failWith);
    return new Promise((resolve, reject) => {
      const signal = options.signal;
      if (signal?.aborted) return reject(new DOMException('aborted', 'AbortError'));
      const queue = this.queues.get(name) ?? [];
      this.queues.set(name, queue);
      const entry = { reject };
      const onAbort = () => {
        const at = queue.indexOf(grant);
        if (at >= 0) queue.splice(at, 1);
        reject(new DOMException('aborted', 'AbortError'));
      };
      const grant = () => {
        signal?.removeEventListener('abort', onAbort);
        this.holders.set(name, entry);
        void callback()
          .then(resolve, reject)
          .finally(() => {
            // A stolen lock is not ours to release any more.
            if (this.holders.get(name) !== entry) return;
            setTimeout(() => {
              if (this.holders.get(name) !== entry) return;
              this.holders.delete(name);
              this.pump(name);
            }, this.handoverMs);
          });
      };
      if (options.steal) {
        (this.holders.get(name) as typeof entry | undefined)?.reject(new DOMException('stolen', 'AbortError'));
        return grant();
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      queue.push(grant);
      this.pump(name);
    });
  }

  private pump(name: string): void {
    const queue = this.queues.get(name);
    if (!this.holders.has(name) && queue?.length) queue.shift()!();
  }
}

const locks = new TestLocks();
const subs: Subscription[] = [];
let broker: TestBroker;

beforeAll(async () => {
  Object.defineProperty(globalThis, 'navigator', { value: { locks }, configurable: true, writable: true });
  broker = await startBroker();
});
afterAll(async () => {
  delete (globalThis as { navigator?: unknown }).navigator;
  await broker.stop();
});
afterEach(async () => {
  locks.failWith = undefined;
  for (const s of subs.splice(0)) s.close();
});

function tab(client: BrokerClient, options: Parameters<BrokerClient['subscribe']>[0] = {}) {
  const events: BrokerEvent[] = [];
  const errors: Array<{ error: Error; info: ErrorInfo }> = [];
  const sub = client.subscribe({
    shareAcrossTabs: true,
    onEvent: (e) => events.push(e),
    onError: (error, info) => errors.push({ error, info }),
    ...options,
  });
  subs.push(sub);
  return { sub, events, errors };
}

async function user(tenant: string) {
  const u = await makeUser(broker.url, { tenant_name: tenant });
  const client = new BrokerClient({ url: broker.url, token: u.jwt });
  return { ...u, client };
}

/** The same user's token with a broken signature: its `sub` reads right, the broker refuses it. */
function forged(jwt: string): string {
  const last = jwt.at(-2) === 'A' ? 'B' : 'A';
  return jwt.slice(0, -2) + last + jwt.at(-1);
}

describe('shared stream between tabs', () => {
  it('does not share by default outside a browser page, even where Web Locks exist', async () => {
    const alice = await user('sh-default');
    const { sub } = tab(alice.client, { shareAcrossTabs: undefined });
    expect(sub.sharing).toBe('direct');
    await waitUntil(() => sub.connected);
  });

  it('a subscription made with an aborted signal ends at once, even while another tab leads', async () => {
    const alice = await user('sh-aborted');
    const leader = tab(alice.client);
    await waitUntil(() => leader.sub.connected);
    const { sub } = tab(alice.client, { signal: AbortSignal.abort() });
    const ended = await Promise.race([sub.done.then(() => true), new Promise((r) => setTimeout(() => r(false), 1000))]);
    expect(ended).toBe(true);
    expect(sub.closed).toBe(true);
  });

  it('falls back to a stream of its own when the lock cannot be had (sandboxed iframe)', async () => {
    locks.failWith = new DOMException('opaque origin', 'SecurityError');
    const alice = await user('sh-sandbox');
    const t = tab(alice.client);
    let failed: unknown;
    t.sub.done.catch((err) => (failed = err));
    await waitUntil(() => t.sub.connected || failed !== undefined);
    expect(failed).toBeUndefined();
    expect(t.sub.sharing).toBe('direct');
    const { id } = await alice.client.insert('note', 'x');
    await waitUntil(() => t.events.some((e) => e.id === id));
  });

  it("a leader's final error does not end the followers: the next one takes over with its own token", async () => {
    const alice = await user('sh-final');
    const bad = new BrokerClient({ url: broker.url, token: forged(alice.jwt) });
    const leader = tab(bad);
    const follower = tab(alice.client);
    await waitUntil(() => leader.sub.closed, 5000, 'the leader ends on its 401');
    expect(leader.errors.at(-1)?.info.retrying).toBe(false);
    await waitUntil(() => follower.sub.connected, 5000, 'the follower streams itself');
    expect(follower.sub.closed).toBe(false);
    expect(follower.sub.leading).toBe(true);
    const { id } = await alice.client.insert('note', 'after');
    await waitUntil(() => follower.events.some((e) => e.id === id));
  });

  it("a follower whose client switched user stops instead of showing the old user's events", async () => {
    const alice = await user('sh-switch-a');
    const bob = await user('sh-switch-b');
    const other = new BrokerClient({ url: broker.url, token: alice.jwt });
    const leader = tab(alice.client);
    const follower = tab(other);
    await waitUntil(() => leader.sub.connected && follower.sub.connected);
    await other.login(bob.username, bob.password);
    const { id } = await alice.client.insert('secret', 'for alice only');
    await waitUntil(() => leader.events.some((e) => e.id === id));
    await waitUntil(() => follower.sub.closed, 2000, 'the follower stops');
    expect(follower.events.some((e) => e.id === id)).toBe(false);
    expect(follower.errors.at(-1)?.info.retrying).toBe(false);
  });

  it("a leader whose relogin becomes another user does not relay that user's stream", async () => {
    const alice = await user('sh-relogin-a');
    const bob = await user('sh-relogin-b');
    // Alice's leader tab holds a refused token; its relogin hook signs in as bob (an account switch).
    const switching = new BrokerClient({
      url: broker.url,
      token: forged(alice.jwt),
      relogin: (c) => c.login(bob.username, bob.password),
    });
    const leader = tab(switching);
    const follower = tab(alice.client);
    await waitUntil(() => leader.sub.connected || leader.sub.closed, 5000, 'the leader connects or stops');
    await waitUntil(() => switching.token !== forged(alice.jwt));
    const bobs = await switching.insert('secret', 'for bob only');
    const alices = await alice.client.insert('note', 'for alice');
    await waitUntil(() => follower.events.some((e) => e.id === alices.id), 5000, "alice's event");
    expect(follower.events.map((e) => e.data)).not.toContain('for bob only');
    expect(leader.sub.closed).toBe(true);
    void bobs;
  });

  it('a follower takes the lock from a leader that holds it but has gone silent', async () => {
    const alice = await user('sh-silent');
    const client = new BrokerClient({ url: broker.url, token: alice.jwt, idleTimeoutMs: 300 });
    // A hung tab: it holds the lock and says nothing.
    let hung!: () => void;
    void locks
      .request(sharingKey(client.url, alice.username, undefined), {}, () => new Promise<void>((r) => (hung = r)))
      .catch(() => {}); // taken from it
    const follower = tab(client);
    await waitUntil(() => follower.sub.connected, 5000, 'the follower streams itself');
    expect(follower.sub.leading).toBe(true);
    const { id } = await alice.client.insert('note', 'x');
    await waitUntil(() => follower.events.some((e) => e.id === id));
    hung();
  });

  it('a leader whose lock is stolen stops streaming and follows, and no event is lost or doubled', async () => {
    const alice = await user('sh-stolen');
    const first = tab(alice.client);
    const second = tab(new BrokerClient({ url: broker.url, token: alice.jwt }));
    await waitUntil(() => first.sub.connected && second.sub.connected);
    expect(first.sub.leading).toBe(true);
    const before = await alice.client.insert('n', 1);
    await waitUntil(() => second.events.some((e) => e.id === before.id));
    let release!: () => void;
    void locks
      .request(
        sharingKey(alice.client.url, alice.username, undefined),
        { steal: true },
        () => new Promise<void>((r) => (release = r)),
      )
      .catch(() => {});
    await waitUntil(() => !first.sub.leading && !first.sub.connected, 2000, 'the old leader stops');
    expect(first.sub.closed).toBe(false);
    const during = await alice.client.insert('n', 2);
    release();
    await waitUntil(
      () => (first.sub.leading || second.sub.leading) && first.sub.connected && second.sub.connected,
      5000,
      'a new leader',
    );
    const after = await alice.client.insert('n', 3);
    for (const t of [first, second]) {
      await waitUntil(() => t.events.some((e) => e.id === after.id));
      expect(t.events.map((e) => e.id).filter((id) => id >= before.id)).toEqual([before.id, during.id, after.id]);
    }
  });

  it("a follower that takes over resumes with the leader's epoch beside the last id", async () => {
    // The broker's side of epochs is another branch's: a fault server names one on every stream.
    const server = await new FaultServer((_req, res, n) => {
      startSse(res, undefined, { [EPOCH_HEADER]: 'E9' });
      if (n === 1) res.write([1, 2, 3].map((id) => frame({ id, event: `e${id}`, data: id })).join(''));
    }).start();
    try {
      const token = fakeJwt({ iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 3600 });
      const leader = tab(new BrokerClient({ url: server.url, token }));
      await waitUntil(() => leader.events.length === 3);
      expect(leader.sub.epoch).toBe('E9');
      // A tab that joins now learns the position, and its epoch, from the leader's state.
      const follower = tab(new BrokerClient({ url: server.url, token }));
      await waitUntil(() => follower.events.length === 3 && follower.sub.connected);
      expect(follower.sub.leading).toBe(false);
      expect(follower.sub.epoch).toBe('E9');
      leader.sub.close();
      await waitUntil(() => server.streams.length === 2, 5000, 'the follower resumes the stream');
      expect(server.streams[1].headers['last-event-id']).toBe('3');
      expect(queryParam(server.streams[1], 'epoch')).toBe('E9');
    } finally {
      await server.stop();
    }
  });
});
