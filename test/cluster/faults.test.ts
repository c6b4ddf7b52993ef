// Faults of a 3-node Broker cluster on 3 nats-servers, each with the acknowledged writes counted after the
// fact (0 lost, 0 duplicated): a Broker node's SIGKILL (its clients resume elsewhere), one nats-server's
// SIGKILL (inserts resume within 5 s, 15 s when it led the stream), no quorum (503 + Retry-After within
// 10 s; reads and open streams go on), and a node restarted late (it catches up before it says it is ready).
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startCluster, type BrokerCluster } from '../helpers/cluster.js';
import { bearer, get, makeUser } from '../helpers/http.js';
import { SKIP_NATS } from '../helpers/nats.js';
import { openSse } from '../helpers/sse.js';
import { waitUntil } from '../helpers/wait.js';

interface Ack {
  i: number;
  id: number;
  at: number;
}

/** Writers still running: stopped after each test, also one that failed before its own stop(). */
const running = new Set<Writer>();
/** The cluster of the running test: a failed count shows the node's cluster log lines. */
let current: BrokerCluster | undefined;

/** Sequential inserts, each retried on the next node until acknowledged (one Idempotency-Key per write). */
class Writer {
  acks: Ack[] = [];
  refused: { status: number; retryAfter: string | null; ms: number }[] = [];
  /** Every attempt after `since` (a failed expectation shows them): which node, when, what it answered. */
  tries: { node: number; start: number; end: number; status: number | string }[] = [];
  since = Number.MAX_SAFE_INTEGER;
  private stopped = false;
  private next = 0;
  readonly done: Promise<void>;

  constructor(
    private readonly urls: () => string[],
    private readonly jwt: string,
    private readonly retry = true,
  ) {
    running.add(this);
    this.done = this.run();
  }

  private async run() {
    let node = 0;
    while (!this.stopped) {
      const i = this.next;
      const urls = this.urls();
      const url = urls[node % urls.length]!;
      const started = Date.now();
      try {
        const res = await fetch(`${url}/insert`, {
          method: 'POST',
          headers: { ...bearer(this.jwt), 'content-type': 'application/json', 'idempotency-key': `w-${i}` },
          body: JSON.stringify({ event: 'w', data: { i } }),
          signal: AbortSignal.timeout(20_000),
        });
        const body = (await res.json().catch(() => ({}))) as { id?: number };
        this.tried(node % urls.length, started, res.status);
        if (res.status === 200 && typeof body.id === 'number') {
          this.acks.push({ i, id: body.id, at: Date.now() });
          this.next++;
          continue;
        }
        this.refused.push({ status: res.status, retryAfter: res.headers.get('retry-after'), ms: Date.now() - started });
      } catch (err) {
        // The node is gone: the next one.
        this.tried(node % urls.length, started, (err as Error).name);
      }
      node++;
      if (!this.retry) this.next++;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  private tried(node: number, start: number, status: number | string) {
    if (start >= this.since - 1_000)
      this.tries.push({ node, start: start - this.since, end: Date.now() - this.since, status });
  }

  async stop() {
    this.stopped = true;
    await this.done;
    running.delete(this);
  }

  /** The longest wait between two acknowledged writes. */
  longestGap(): number {
    let gap = 0;
    for (let k = 1; k < this.acks.length; k++) gap = Math.max(gap, this.acks[k]!.at - this.acks[k - 1]!.at);
    return gap;
  }
}

/** Each node's cluster log lines (shown by a failed expectation). */
function clusterLogs(): string {
  return (current?.nodes ?? [])
    .map(
      (n, k) => `node ${k}:\n${(n?.stderr.join('').split('\n') ?? []).filter((l) => l.includes('cluster')).join('\n')}`,
    )
    .join('\n');
}

async function allEvents(url: string, jwt: string): Promise<{ id: number; data: { i: number } }[]> {
  const out: { id: number; data: { i: number } }[] = [];
  let after = 0;
  for (;;) {
    const page = await get(url, `/events?after=${after}&limit=1000`, bearer(jwt));
    expect(page.status).toBe(200);
    out.push(...page.body.events);
    if (page.body.next === undefined || page.body.events.length === 0) return out;
    after = page.body.next;
  }
}

/** Every acknowledged write is there once, under its id; nothing is there twice. */
async function checkNothingLost(url: string, jwt: string, acks: Ack[]) {
  const events = await allEvents(url, jwt);
  const byI = new Map<number, number[]>();
  for (const e of events) byI.set(e.data.i, [...(byI.get(e.data.i) ?? []), e.id]);
  const lost = acks.filter((a) => !byI.get(a.i)?.includes(a.id));
  const duplicated = [...byI.values()].filter((ids) => ids.length > 1);
  const k = current?.urls.indexOf(url) ?? -1;
  const logs = (current?.nodes[k]?.stderr.join('').split('\n') ?? []).filter((l) => l.includes('cluster:')).slice(-20);
  const counts = `${events.length} events, ${acks.length} acks`;
  const what = `on ${url}: lost i ${lost.map((a) => a.i).join(',')}; ${counts}\n${logs.join('\n')}`;
  expect({ lost: lost.length, duplicated: duplicated.length }, what).toEqual({ lost: 0, duplicated: 0 });
  const ids = events.map((e) => e.id);
  expect([...ids].sort((x, y) => x - y)).toEqual(ids);
  return events;
}

describe.skipIf(SKIP_NATS)('cluster faults', () => {
  let c: BrokerCluster | undefined;
  beforeEach(() => {
    current = undefined;
  });
  afterEach(async () => {
    for (const writer of running) await writer.stop();
    await c?.stop();
    c = undefined;
  }, 60_000);

  it('SIGKILL of a Broker node during inserts: nothing acknowledged lost; its client resumes on another', async () => {
    c = current = await startCluster();
    const [A, B, C] = c.urls as [string, string, string];
    const u = await makeUser(A, { tenant_name: 't-kill-node' });
    const onA = openSse(A, u.jwt);
    await onA.waitFor((r) => r.status === 200);
    const alive = [true, true, true];
    const writer = new Writer(() => c!.urls.filter((_, k) => alive[k]), u.jwt);
    await waitUntil(() => writer.acks.length >= 30, 30_000, '30 inserts');
    alive[0] = false;
    await c.kill(0);
    await onA.done;
    const seen = onA.events.map((f) => Number(f.id));
    // The client resumes on B from the last id it saw on A.
    const onB = openSse(B, u.jwt, { lastEventId: seen.at(-1) ?? 0 });
    const before = writer.acks.length;
    await waitUntil(() => writer.acks.length >= before + 30, 30_000, '30 more inserts after the kill');
    await writer.stop();
    try {
      const events = await checkNothingLost(C, u.jwt, writer.acks);
      await onB.waitFor((r) => seen.length + r.events.length >= events.length, 15_000);
      // A then B: every event once, in id order, no gap.
      expect([...seen, ...onB.events.map((f) => Number(f.id))]).toEqual(events.map((e) => e.id));
    } finally {
      onB.close();
    }
    await c.restart(0);
    await waitUntil(async () => (await c!.state(0))?.ready === true, 30_000, 'node 0 back');
    await checkNothingLost(A, u.jwt, writer.acks);
  }, 180_000);

  for (const leader of [false, true]) {
    const bound = leader ? 15_000 : 5_000;
    const which = leader ? 'leading' : 'not leading';
    it(`SIGKILL of the nats-server ${which} the stream: inserts go on within ${bound / 1000} s`, async () => {
      c = current = await startCluster();
      const [A] = c.urls as [string];
      const u = await makeUser(A, { tenant_name: 't-kill-nats' });
      const nc = await connect({ servers: c.nats.nodes.map((n) => n.url) });
      let victim: number;
      let holds = '';
      try {
        const jsm = await jetstreamManager(nc);
        const names: string[] = [];
        for await (const name of jsm.streams.names()) names.push(name);
        expect(names).toHaveLength(1);
        const info = await jsm.streams.info(names[0]!);
        expect(info.config.num_replicas).toBe(3);
        const led = c.nats.nodes.findIndex((n) => n.name === info.cluster?.leader);
        // Not leading the stream: the one that holds node 0's consumer (made first: node 0 started first)
        // when it can, the hard case: the writer's node cannot make a new consumer for seconds, and its writes
        // must not wait for that. Else the one that holds more of the nodes' consumers.
        const held: { server: number; created: string }[] = [];
        for await (const ci of jsm.consumers.list(names[0]!)) {
          held.push({ server: c.nats.nodes.findIndex((n) => n.name === ci.cluster?.leader), created: ci.created });
        }
        held.sort((x, y) => Date.parse(x.created) - Date.parse(y.created));
        expect(held).toHaveLength(3);
        const count = (k: number) => held.filter((h) => h.server === k).length;
        const others = [0, 1, 2].filter((k) => k !== led).sort((x, y) => count(y) - count(x));
        const first = held[0]!.server;
        victim = leader ? led : first !== led ? first : others[0]!;
        holds = `${count(victim)} node consumers on it${victim === first ? ", node 0's among them" : ''}`;
      } finally {
        await nc.close();
      }
      const writer = new Writer(() => c!.urls, u.jwt);
      await waitUntil(() => writer.acks.length >= 30, 30_000, '30 inserts');
      writer.since = Date.now();
      await c.nats.kill(victim);
      const killedAt = Date.now();
      const before = writer.acks.length;
      await waitUntil(() => writer.acks.length >= before + 30, 60_000, '30 inserts after the kill');
      await writer.stop();
      const resumed = writer.acks[before]!.at - killedAt;
      const tries = writer.tries.filter((t) => t.status !== 200 || t.end - t.start > 200);
      const why = `killed at ${killedAt}; slow or refused tries (ms after): ${JSON.stringify(tries)}\n${clusterLogs()}`;
      // The figures the closing note gives (the bound is the test's).
      const gap = writer.longestGap();
      const what = `nats-server ${which} the stream killed (${holds})`;
      console.log(`${what}: inserts resumed in ${resumed} ms, longest gap ${gap} ms`);
      expect(resumed, why).toBeLessThan(bound);
      expect(writer.longestGap(), why).toBeLessThan(bound);
      expect(writer.refused.filter((r) => r.status >= 500 && r.status !== 503)).toEqual([]);
      // A node whose consumer was on the dead server may still be catching up: counted once it says it is ready.
      for (let k = 0; k < 3; k++)
        await waitUntil(async () => (await c!.state(k))?.ready === true, 30_000, `node ${k} ready`);
      for (const url of c.urls) await checkNothingLost(url, u.jwt, writer.acks);
    }, 180_000);
  }

  it('no quorum: writes answer 503 with Retry-After within 10 s; reads and open streams go on', async () => {
    c = current = await startCluster();
    const [A, B] = c.urls as [string, string];
    const u = await makeUser(A, { tenant_name: 't-quorum' });
    const stream = openSse(B, u.jwt);
    await stream.waitFor((r) => r.status === 200);
    const writer = new Writer(() => c!.urls, u.jwt);
    await waitUntil(() => writer.acks.length >= 20, 30_000, '20 inserts');
    await writer.stop();
    await c.nats.kill(1);
    await c.nats.kill(2);
    const refused: { status: number; retryAfter: string | null; ms: number }[] = [];
    for (let k = 0; k < 3; k++) {
      const started = Date.now();
      const res = await fetch(`${[A, B][k % 2]}/insert`, {
        method: 'POST',
        headers: { ...bearer(u.jwt), 'content-type': 'application/json', 'idempotency-key': `q-${k}` },
        body: JSON.stringify({ event: 'w', data: { i: -1 - k } }),
        signal: AbortSignal.timeout(15_000),
      });
      refused.push({ status: res.status, retryAfter: res.headers.get('retry-after'), ms: Date.now() - started });
    }
    for (const r of refused) {
      expect(r.status).toBe(503);
      expect(Number(r.retryAfter)).toBeGreaterThan(0);
      expect(r.ms).toBeLessThan(10_000);
    }
    // Reads from the local model, and the stream opened before stays open.
    const events = await allEvents(A, u.jwt);
    expect(events.map((e) => e.data.i)).toEqual(writer.acks.map((a) => a.i));
    expect(stream.ended).toBe(false);
    expect(stream.events.map((f) => JSON.parse(f.data).i)).toEqual(writer.acks.map((a) => a.i));

    // Quorum back: writes go on and the stream gets them. A 503'd write may still land (JetStream cannot
    // take back a publish its leader kept): its retry with the same Idempotency-Key answers it, and it is
    // there once and whole; nothing acknowledged is lost or doubled.
    await c.nats.restart(1);
    const after = new Writer(() => c!.urls, u.jwt);
    await waitUntil(() => after.acks.length >= 5, 60_000, 'inserts once quorum is back');
    await after.stop();
    for (let k = 0; k < 3; k++) {
      await waitUntil(
        async () => {
          const res = await fetch(`${[A, B][k % 2]}/insert`, {
            method: 'POST',
            headers: { ...bearer(u.jwt), 'content-type': 'application/json', 'idempotency-key': `q-${k}` },
            body: JSON.stringify({ event: 'w', data: { i: -1 - k } }),
            signal: AbortSignal.timeout(15_000),
          });
          return res.status === 200;
        },
        30_000,
        `the refused write ${k} retried`,
      );
    }
    const final = await allEvents(B, u.jwt);
    const refusedOnes = final.filter((e) => e.data.i < 0);
    expect(refusedOnes.map((e) => e.data).sort((x, y) => y.i - x.i)).toEqual([{ i: -1 }, { i: -2 }, { i: -3 }]);
    for (let k = 0; k < 3; k++)
      await waitUntil(async () => (await c!.state(k))?.ready === true, 30_000, `node ${k} ready`);
    for (const url of c.urls) {
      const events = await checkNothingLost(url, u.jwt, [...writer.acks, ...after.acks]);
      expect(events).toEqual(final);
    }
    await stream.waitForEvents(final.length, 15_000);
    expect(stream.events.map((f) => Number(f.id))).toEqual(final.map((e) => e.id));
    stream.close();
  }, 180_000);

  it('a node restarted late catches up from the stream before it says it is ready', async () => {
    c = current = await startCluster();
    const [A] = c.urls as [string];
    const u = await makeUser(A, { tenant_name: 't-late' });
    await c.kill(2);
    const writer = new Writer(() => c!.urls.slice(0, 2), u.jwt);
    await waitUntil(() => writer.acks.length >= 300, 120_000, '300 inserts');
    await writer.stop();
    const node = await c.restart(2);
    // Until its GET / says ready, it has not applied everything; once it says so, it has.
    const states: { ready: boolean; applied: number; last: number }[] = [];
    await waitUntil(
      async () => {
        const s = await c!.state(2);
        if (s) states.push(s);
        return s?.ready === true;
      },
      30_000,
      'node 2 ready',
    );
    for (const s of states.filter((x) => !x.ready)) expect(s.applied).toBeLessThanOrEqual(s.last);
    expect(states.at(-1)!.applied).toBeGreaterThanOrEqual(states.at(-1)!.last);
    await checkNothingLost(c.urls[2]!, u.jwt, writer.acks);
    expect(node.stdout.join('\n')).toMatch(/catching up|listening/);
  }, 240_000);
});
