// The client in Node against the real broker: live delivery, snapshot, filters, history, resume after
// the broker process restarts on the same port and database, token renewal without a gap.
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BrokerClient, BrokerError, type BrokerEvent, type ErrorInfo, type Subscription } from '../../client/index.js';
import {
  ADMIN,
  freePort,
  spawnBroker,
  startBroker,
  tempDir,
  type ChildBroker,
  type TestBroker,
} from '../helpers/broker.js';
import { makeUser, post } from '../helpers/http.js';
import { until } from './fault-server.js';

const subs: Subscription[] = [];
afterEach(() => {
  for (const s of subs.splice(0)) s.close();
});

function watch(client: BrokerClient, options: Parameters<BrokerClient['subscribe']>[0] = {}) {
  const events: BrokerEvent[] = [];
  const errors: Array<{ error: Error; info: ErrorInfo }> = [];
  let opens = 0;
  const sub = client.subscribe({
    onEvent: (e) => events.push(e),
    onError: (error, info) => errors.push({ error, info }),
    onOpen: () => opens++,
    ...options,
  });
  subs.push(sub);
  return { sub, events, errors, opens: () => opens };
}

const ids = (events: BrokerEvent[]) => events.map((e) => e.id);

function expectEachOnceInOrder(events: BrokerEvent[]): void {
  const list = ids(events);
  expect(new Set(list).size).toBe(list.length);
  expect([...list].sort((a, b) => a - b)).toEqual(list);
}

describe('client against an in-process broker', () => {
  let broker: TestBroker;
  beforeAll(async () => {
    broker = await startBroker();
  });
  afterAll(() => broker.stop());

  async function loggedIn(tenant: string): Promise<BrokerClient> {
    const user = await makeUser(broker.url, { tenant_name: tenant });
    const client = new BrokerClient({ url: broker.url });
    await client.login(user.username, user.password);
    return client;
  }

  it('logs in, inserts, verifies, and reads history', async () => {
    const user = await makeUser(broker.url, { tenant_name: 'rt-basic' });
    const client = new BrokerClient({ url: broker.url });
    const { jwt } = await client.login(user.username, user.password);
    expect(client.token).toBe(jwt);
    const a = await client.insert('title', { text: 'héllo €' });
    const b = await client.insert('body', [1, 2, 3]);
    const c = await client.insert('title', 'second');
    expect(b.id).toBe(a.id + 1);
    expect(c.id).toBe(b.id + 1);
    expect((await client.verify()).username).toBe(user.username);
    const all = await client.history();
    expect(all.map((e) => [e.id, e.event, e.data])).toEqual([
      [a.id, 'title', { text: 'héllo €' }],
      [b.id, 'body', [1, 2, 3]],
      [c.id, 'title', 'second'],
    ]);
    expect(typeof all[0].timestamp).toBe('number');
    expect((await client.history({ after: a.id, limit: 1 })).map((e) => e.id)).toEqual([b.id]);
    expect((await client.history({ event: 'title' })).map((e) => e.id)).toEqual([a.id, c.id]);
  });

  it('throws BrokerError with the server message and status', async () => {
    const client = await loggedIn('rt-errors');
    await expect(client.insert('reset', 1)).rejects.toMatchObject({
      name: 'BrokerError',
      status: 400,
      message: expect.stringMatching(/reserved/),
    });
    const anonymous = new BrokerClient({ url: broker.url });
    await expect(anonymous.insert('x', 1)).rejects.toMatchObject({ status: 401 });
    await expect(anonymous.login('nobody', 'wrong')).rejects.toBeInstanceOf(BrokerError);
    // A port just found free: nothing listens there (a fixed port such as 9 may be in use somewhere).
    const nowhere = new BrokerClient({ url: `http://127.0.0.1:${await freePort()}` });
    await expect(nowhere.verify()).rejects.toMatchObject({ status: 0, transient: true });
  });

  it('delivers the latest of each name on connect, then inserts live, and keeps `latest` current', async () => {
    const writer = await loggedIn('rt-live');
    await writer.insert('title', 'v1');
    const t2 = await writer.insert('title', 'v2');
    const s1 = await writer.insert('status', 'draft');
    const reader = await loggedIn('rt-live');
    const { sub, events } = watch(reader);
    await until(() => events.length === 2, 'the snapshot');
    expect(events).toEqual([
      { id: t2.id, event: 'title', data: 'v2' },
      { id: s1.id, event: 'status', data: 'draft' },
    ]);
    const live = await writer.insert('title', { rich: true });
    await until(() => events.length === 3, 'the live event');
    expect(events[2]).toEqual({ id: live.id, event: 'title', data: { rich: true } });
    expect(sub.latest.toObject()).toEqual({ title: { rich: true }, status: 'draft' });
    // Identical data inserted again is a new event, delivered again.
    const again = await writer.insert('title', { rich: true });
    await until(() => events.length === 4, 'the repeated event');
    expect(events[3].id).toBe(again.id);
    expect(sub.lastEventId).toBe(again.id);
  });

  it('filters by event name, in the snapshot and live', async () => {
    const writer = await loggedIn('rt-filter');
    await writer.insert('a', 1);
    await writer.insert('b', 2);
    await writer.insert('c', 3);
    const { events } = watch(writer, { events: ['a', 'c'] });
    await until(() => events.length === 2, 'the filtered snapshot');
    for (const [name, v] of [
      ['b', 4],
      ['a', 5],
      ['b', 6],
      ['c', 7],
    ] as const)
      await writer.insert(name, v);
    await until(() => events.length === 4, 'the filtered live events');
    expect(events.map((e) => [e.event, e.data])).toEqual([
      ['a', 1],
      ['c', 3],
      ['a', 5],
      ['c', 7],
    ]);
  });

  it('replays the whole history from lastEventId 0', async () => {
    const writer = await loggedIn('rt-history');
    const inserted = [];
    for (let i = 0; i < 5; i++) inserted.push((await writer.insert('n', i)).id);
    const { events } = watch(writer, { lastEventId: 0 });
    await until(() => events.length === 5, 'the whole history');
    expect(ids(events)).toEqual(inserted);
  });

  it('resumes from a saved lastEventId with exactly the events missed', async () => {
    const writer = await loggedIn('rt-resume');
    await writer.insert('a', 0);
    const first = watch(writer);
    await until(() => first.events.length === 1, 'the snapshot');
    first.sub.close();
    await first.sub.done;
    const missed = [];
    for (let i = 1; i <= 4; i++) missed.push((await writer.insert('a', i)).id);
    const second = watch(writer, { lastEventId: first.sub.lastEventId });
    await until(() => second.events.length === 4, 'the missed events');
    expect(ids(second.events)).toEqual(missed);
  });

  it('on event:reset (resuming before the retained history) drops its state for the snapshot', async () => {
    const pruned = await startBroker({ history_max_events: 3 });
    try {
      const user = await makeUser(pruned.url, { tenant_name: 'rt-reset' });
      const client = new BrokerClient({ url: pruned.url });
      await client.login(user.username, user.password);
      const id: Record<string, number> = {};
      for (const [name, value] of [
        ['a', 1],
        ['b', 2],
        ['a', 3],
        ['c', 4],
        ['a', 5],
        ['b', 6],
        ['a', 7],
      ] as const)
        id[`${name}${value}`] = (await client.insert(name, value)).id;
      // What the retention timer does: keep the last 3 events and the latest of each name.
      await pruned.services.log.prune({ maxAgeMs: 0, maxEvents: 3 }, Date.now());
      let resets = 0;
      const { sub, events } = watch(client, { lastEventId: id.a1, onReset: () => resets++ });
      await until(() => events.length === 3, 'the snapshot after the reset');
      expect(resets).toBe(1);
      expect(events.map((e) => [e.event, e.data])).toEqual([
        ['c', 4],
        ['b', 6],
        ['a', 7],
      ]);
      expect(sub.latest.toObject()).toEqual({ a: 7, b: 6, c: 4 });
      const live = await client.insert('b', 8);
      await until(() => events.length === 4, 'live after the snapshot');
      expect(events[3]).toEqual({ id: live.id, event: 'b', data: 8 });
    } finally {
      await pruned.stop();
    }
  });

  it("the broker's heartbeats keep a quiet stream open; without them the watchdog reconnects", {
    timeout: 40_000,
  }, async () => {
    const beating = await startBroker({ heartbeat: 1 });
    const slow = await startBroker({ heartbeat: 60 });
    try {
      const watchers = [];
      for (const b of [beating, slow]) {
        const user = await makeUser(b.url, { tenant_name: 'rt-heartbeat' });
        // 3 heartbeats (1 s) per idle timeout: a loaded machine delaying one beat does not cut the stream.
        const client = new BrokerClient({ url: b.url, idleTimeoutMs: 3000, reconnect: { initialDelayMs: 50 } });
        await client.login(user.username, user.password);
        watchers.push(watch(client));
      }
      const [kept, cut] = watchers;
      // Until the quiet stream has been cut twice: by then the beating one has stayed open through two
      // idle timeouts' worth of silence but for its heartbeats (without them it would have been cut too).
      const idleCuts = () => cut.errors.filter((e) => e.error.name === 'IdleTimeout').length;
      await until(
        () => idleCuts() >= 2 || kept.errors.length > 0,
        'two idle timeouts on the stream without heartbeats',
        20_000,
      );
      expect(kept.errors).toEqual([]);
      expect(kept.opens()).toBe(1);
      expect(idleCuts()).toBeGreaterThanOrEqual(2);
      expect(cut.opens()).toBeGreaterThanOrEqual(2);
    } finally {
      await beating.stop();
      await slow.stop();
    }
  });

  it('keeps tenants apart', async () => {
    const mine = await loggedIn('rt-tenant');
    const theirs = await loggedIn('rt-tenant-other');
    const { events, opens } = watch(mine);
    await until(() => opens() === 1, 'the stream');
    await theirs.insert('secret', 1);
    const own = await mine.insert('public', 2);
    await until(() => events.length === 1, 'own event');
    expect(events).toEqual([{ id: own.id, event: 'public', data: 2 }]);
  });

  it('after a password change ends the stream, the relogin hook logs in again and nothing is missed', async () => {
    const user = await makeUser(broker.url, { tenant_name: 'rt-relogin' });
    let password = user.password;
    let relogins = 0;
    const client = new BrokerClient({
      url: broker.url,
      reconnect: { initialDelayMs: 50, maxDelayMs: 500 },
      relogin: async (c) => {
        relogins++;
        await c.login(user.username, password);
      },
    });
    const writer = await loggedIn('rt-relogin');
    const { events, errors, opens } = watch(client, { lastEventId: 0 });
    await until(() => opens() === 1, 'the stream');
    // The hook also serves the very first token: the client had none.
    expect(relogins).toBe(1);
    const expected = [(await writer.insert('x', 1)).id];
    await until(() => events.length === 1, 'the first event');
    password = 'a brand new passphrase 42';
    const changed = await post(broker.url, '/update_user', { admin_token: ADMIN, username: user.username, password });
    expect(changed.status).toBe(200);
    // While the stream is down and being renewed, the other user keeps inserting.
    for (let i = 2; i <= 6; i++) expected.push((await writer.insert('x', i)).id);
    await until(() => events.length === 6, 'every event across the renewal');
    expect(ids(events)).toEqual(expected);
    expect(relogins).toBe(2);
    expect(opens()).toBe(2);
    expect(errors.every((e) => e.info.retrying)).toBe(true);
  });

  it('a token about to expire is renewed and the stream resumes at expiry without losing events', async () => {
    const short = await startBroker({ jwt_expiry: 2 });
    try {
      const user = await makeUser(short.url, { tenant_name: 'rt-expiry' });
      let relogins = 0;
      const client = new BrokerClient({
        url: short.url,
        reconnect: { initialDelayMs: 50 },
        relogin: async (c) => {
          relogins++;
          await c.login(user.username, user.password);
        },
      });
      const writer = new BrokerClient({
        url: short.url,
        relogin: async (c) => void (await c.login(user.username, user.password)),
      });
      const { events, errors, opens } = watch(client, { lastEventId: 0 });
      const expected: number[] = [];
      const until4500 = Date.now() + 4500;
      while (Date.now() < until4500) {
        expected.push((await writer.insert('tick', expected.length)).id);
        await new Promise((r) => setTimeout(r, 100));
      }
      await until(() => events.length === expected.length, 'every tick');
      expect(ids(events)).toEqual(expected);
      // Two expiries passed: each renewed ahead of time, so the broker never had to answer 401.
      expect(relogins).toBeGreaterThanOrEqual(3);
      expect(opens()).toBeGreaterThanOrEqual(3);
      expect(errors).toEqual([]);
    } finally {
      await short.stop();
    }
  });
});

describe('client against a broker process that restarts', () => {
  let dir: string;
  let broker: ChildBroker | undefined;
  let port: number;
  const args = () => ['--port', String(port), '--db', join(dir, 'db'), '--admin_token', ADMIN, '--log_level', 'info'];

  beforeAll(async () => {
    dir = tempDir('broker-client-restart-');
    port = await freePort();
    broker = await spawnBroker(args());
  });
  afterAll(async () => {
    await broker?.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  it('resumes after the broker restarts on the same port and database: every event once, in order', async () => {
    const url = broker!.url;
    expect(url).toBe(`http://127.0.0.1:${port}`);
    const user = await makeUser(url, { tenant_name: 'restart' });
    const relogin = async (c: BrokerClient) => void (await c.login(user.username, user.password));
    const writer = new BrokerClient({ url, relogin });
    // The readers wait 0.75-1.5 s before reconnecting, so the events below are usually inserted while
    // they are away and reach them through the Last-Event-ID replay (a slow restart makes some live).
    const reader = new BrokerClient({ url, relogin, reconnect: { initialDelayMs: 1500, maxDelayMs: 3000 } });
    const filtered = new BrokerClient({ url, relogin, reconnect: { initialDelayMs: 1500, maxDelayMs: 3000 } });
    const all = watch(reader);
    const onlyB = watch(filtered, { events: ['b'] });
    await until(() => all.opens() === 1 && onlyB.opens() === 1, 'both streams');
    const before = [];
    for (let i = 0; i < 5; i++) before.push((await writer.insert(i % 2 ? 'b' : 'a', i)).id);
    await until(() => all.events.length === 5, 'events before the restart');

    await broker!.kill('SIGTERM');
    broker = await spawnBroker(args());
    const during = [];
    for (let i = 5; i < 12; i++) during.push((await writer.insert(i % 2 ? 'b' : 'a', i)).id);
    await until(() => all.events.length === 12, 'the events inserted while the reader was away');
    const after = (await writer.insert('b', 12)).id;
    await until(() => all.events.length === 13 && onlyB.events.length === 7, 'the live event after the resume');

    expect(ids(all.events)).toEqual([...before, ...during, after]);
    expect(all.errors.every((e) => e.info.retrying)).toBe(true);
    expect(onlyB.events.map((e) => e.event)).toEqual(Array(7).fill('b'));
    expectEachOnceInOrder(onlyB.events);
    expect(all.sub.latest.toObject()).toEqual({ a: 10, b: 12 });
  });
});
