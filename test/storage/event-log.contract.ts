// What every EventLog engine must guarantee (src/storage/README.md), run against each engine by its
// runner (event-log.lmdb.test.ts, event-log.memory.test.ts; a cluster engine adds one). Each test is
// written to fail on an engine that breaks the rule it names.
import { describe, expect, it } from 'vitest';
import { recordBytes, type EventLog, type EventRecord, type ScanQuery } from '../../src/storage/event-log.js';
import { waitUntil } from '../helpers/wait.js';

export interface OpenedLog {
  log: EventLog;
  /** Closes the log and opens the same data again (engines that keep data across a restart). */
  reopen?: () => Promise<EventLog>;
}

/** Opens a fresh, empty log whose events are stamped by `now`; the runner cleans up after the test. */
export type EventLogFactory = (options: { now?: () => number }) => Promise<OpenedLog>;

const WIDE: ScanQuery = { limit: 1000, maxBytes: 1 << 30, maxExamined: 1 << 30, maxExaminedBytes: 1 << 30 };
const scanAll = (log: EventLog, tenant: string, q: Partial<ScanQuery> = {}) => log.scan(tenant, { ...WIDE, ...q });
const ids = (records: readonly EventRecord[]) => records.map((r) => r.id);
const data100 = (i: number) => JSON.stringify(`${i}`.padEnd(98, '.'));

/** Every page of a scan, each continuing from the last one's `through`; a scan that never ends fails. */
function pages(log: EventLog, tenant: string, q: Partial<ScanQuery>): EventRecord[][] {
  const out: EventRecord[][] = [];
  let from: number | undefined;
  for (;;) {
    if (out.length > 2000) throw new Error('the scan never ended');
    const page = scanAll(log, tenant, {
      ...q,
      ...(from === undefined ? {} : q.desc ? { before: from } : { after: from }),
    });
    out.push(page.records);
    if (page.end) return out;
    if (page.through === undefined || page.through === from) throw new Error('a cut page that does not advance');
    from = page.through;
  }
}

async function appendAll(log: EventLog, tenant: string, events: readonly string[], data = data100) {
  const out: EventRecord[] = [];
  for (const [i, event] of events.entries()) out.push(await log.append(tenant, event, data(i)));
  return out;
}

export function eventLogContract(engine: string, open: EventLogFactory, engineIs: { durable: boolean }): void {
  // A reopen test exists only for engines that keep data across a restart (no test shows up as skipped).
  const durableIt = engineIs.durable ? it : () => {};
  describe(`EventLog contract: ${engine}`, () => {
    it('tenants() pages through the tenants holding events, in key order, "a" apart from "ab"', async () => {
      const { log } = await open({});
      expect(log.tenants(undefined, 10)).toEqual([]);
      for (const tenant of ['b', 'ab', 'a', 'a\u0000', 'b', 'é', 'z']) await log.append(tenant, 'e', '1');
      expect(log.tenants(undefined, 10)).toEqual(['a', 'a\u0000', 'ab', 'b', 'z', 'é']);
      expect(log.tenants(undefined, 2)).toEqual(['a', 'a\u0000']);
      expect(log.tenants('a\u0000', 2)).toEqual(['ab', 'b']);
      expect(log.tenants('b', 10)).toEqual(['z', 'é']);
      expect(log.tenants('é', 10)).toEqual([]);
    });

    it('an append with its original id and timestamp (a copy) keeps them; skipped ids count as pruned', async () => {
      const { log } = await open({ now: () => 5_000 });
      const first = await log.append('t', 'a', '1', { original: { id: 4, timestamp: 1_000 } });
      expect(first).toMatchObject({ id: 4, timestamp: 1_000 });
      await log.append('t', 'b', '2', { original: { id: 5, timestamp: 1_001 } });
      await log.append('t', 'a', '3', { original: { id: 9, timestamp: 1_002 } });
      expect(scanAll(log, 't').records.map((r) => [r.id, r.event, r.timestamp])).toEqual([
        [4, 'a', 1_000],
        [5, 'b', 1_001],
        [9, 'a', 1_002],
      ]);
      expect(log.prunedThrough('t')).toBe(8);
      expect(log.lastId('t')).toBe(9);
      expect(log.latestIds('t')).toEqual([5, 9]);
      // An id at or below the tenant's last is refused, and the log is unchanged; the next plain append follows.
      await expect(log.append('t', 'c', '4', { original: { id: 9, timestamp: 1 } })).rejects.toThrow();
      expect(log.lastId('t')).toBe(9);
      expect(await log.append('t', 'c', '5')).toMatchObject({ id: 10, timestamp: 5_000 });
      expect(log.prunedThrough('other')).toBe(0);
    });

    it('ids increase per tenant and never repeat; lastId and committedId follow them', async () => {
      const { log } = await open({});
      const seen = new Map<string, number[]>();
      for (let i = 0; i < 30; i++) {
        const tenant = ['a', 'b', 'c'][i % 3];
        const record = await log.append(tenant, `e${i % 4}`, String(i));
        expect(record).toMatchObject({ tenant, event: `e${i % 4}`, data: String(i) });
        seen.set(tenant, [...(seen.get(tenant) ?? []), record.id]);
        expect(log.lastId(tenant)).toBe(record.id);
        expect(log.committedId(tenant)).toBe(record.id);
      }
      for (const [tenant, list] of seen) {
        expect(list[0]).toBeGreaterThan(0);
        for (let i = 1; i < list.length; i++) expect(list[i]).toBeGreaterThan(list[i - 1]);
        expect(ids(scanAll(log, tenant).records)).toEqual(list);
      }
      expect(log.lastId('never')).toBe(0);
      expect(log.committedId('never')).toBe(0);
    });

    it('keeps tenants apart: tenant "a" never sees "ab" (nor "a" with anything after it)', async () => {
      const { log } = await open({});
      const mine = await appendAll(log, 'a', ['x', 'y']);
      const theirs = [
        ...(await appendAll(log, 'ab', ['x', 'z', 'w'], (i) => `"ab${i}"`)),
        ...(await appendAll(log, 'a\u0000', ['q'], () => '"nul"')),
        ...(await appendAll(log, '', ['q'], () => '"empty"')),
      ];
      expect(scanAll(log, 'a').records).toEqual(mine);
      expect(scanAll(log, 'a', { desc: true }).records).toEqual([...mine].reverse());
      expect(log.latestIds('a')).toEqual(ids(mine));
      expect(log.usage('a')).toEqual({ bytes: mine.reduce((n, r) => n + recordBytes(r.event, r.data), 0), names: 2 });
      expect(log.isNewName('a', 'z')).toBe(true);
      for (const r of log.getMany('a', ids(theirs), 1 << 20).records) {
        expect(r.tenant).toBe('a');
        expect(mine).toContainEqual(r);
      }
      expect(scanAll(log, 'ab').records.map((r) => r.data)).toEqual(['"ab0"', '"ab1"', '"ab2"']);
      expect(scanAll(log, 'b').records).toEqual([]);
    });

    it('announces committed batches in id order, each record readable when announced, each once', async () => {
      const { log } = await open({});
      const announced: EventRecord[] = [];
      const problems: string[] = [];
      const unsubscribe = log.committed.subscribe((batch) => {
        for (const r of batch) {
          // Readable at the moment it is announced: the hub may replay it to a new subscriber at once.
          const read = log.getMany(r.tenant, [r.id], 1 << 20).records[0];
          if (read?.data !== r.data) problems.push(`${r.tenant}/${r.id} announced before it was readable`);
          if (log.committedId(r.tenant) < r.id) problems.push(`${r.tenant}/${r.id} announced above committedId`);
          announced.push(r);
        }
      });
      const appended = await Promise.all(
        Array.from({ length: 200 }, (_, i) => log.append(i % 3 ? 't1' : 't2', `e${i % 5}`, String(i))),
      );
      await waitUntil(() => announced.length >= appended.length);
      unsubscribe();
      expect(problems).toEqual([]);
      expect(announced.length).toBe(appended.length);
      for (const tenant of ['t1', 't2']) {
        const order = announced.filter((r) => r.tenant === tenant).map((r) => r.id);
        expect(order).toEqual([...order].sort((a, b) => a - b));
        expect(new Set(order).size).toBe(order.length);
        expect(order).toEqual(ids(appended.filter((r) => r.tenant === tenant)).sort((a, b) => a - b));
      }
      expect(announced).toEqual(expect.arrayContaining(appended));
    });

    it('1,000 concurrent appends get distinct ids, all readable in id order', async () => {
      const { log } = await open({});
      const appended = await Promise.all(Array.from({ length: 1000 }, (_, i) => log.append('busy', 'e', String(i))));
      const list = ids(appended);
      expect(new Set(list).size).toBe(1000);
      const read = pages(log, 'busy', { limit: 300 }).flat();
      expect(ids(read)).toEqual([...list].sort((a, b) => a - b));
      const byId = new Map(appended.map((r) => [r.id, r]));
      for (const r of read) expect(r).toEqual(byId.get(r.id));
      expect(log.lastId('busy')).toBe(Math.max(...list));
    });

    it('keeps the latest id of each name, with and without a names filter, ascending', async () => {
      const { log } = await open({});
      const r = await appendAll(log, 't', ['e1', 'e2', 'e1', 'e3', 'e2']);
      expect(log.latestIds('t')).toEqual([r[2].id, r[3].id, r[4].id]);
      expect(log.latestIds('t', new Set(['e2', 'e1', 'nope']))).toEqual([r[2].id, r[4].id]);
      expect(log.latestIds('t', new Set(['nope']))).toEqual([]);
      expect(log.latestIds('other')).toEqual([]);
    });

    it('getMany keeps the order given, skips missing ids, and stops at maxBytes (always one record)', async () => {
      const { log } = await open({});
      const r = await appendAll(log, 't', ['e', 'e', 'e', 'e', 'e']);
      const all = ids(r);
      // 100 bytes each: the third record reaches 250, and the fourth is not taken.
      expect(log.getMany('t', all, 250)).toEqual({ records: r.slice(0, 3), taken: 3 });
      expect(log.getMany('t', all, 0)).toEqual({ records: [r[0]], taken: 1 });
      expect(log.getMany('t', [all[3], all[1]], 1 << 20)).toEqual({ records: [r[3], r[1]], taken: 2 });
      const missing = all[4] + 1000;
      expect(log.getMany('t', [missing, all[2]], 1)).toEqual({ records: [r[2]], taken: 2 });
      expect(log.getMany('t', [], 100)).toEqual({ records: [], taken: 0 });
    });

    it('scan honours limit, maxBytes, after/before and desc, and says where a cut page stops', async () => {
      const { log } = await open({});
      const r = await appendAll(log, 't', ['a', 'b', 'a', 'b', 'a', 'b']);
      const [i1, i2, , , i5, i6] = ids(r);
      expect(scanAll(log, 't', { limit: 2 })).toEqual({ records: r.slice(0, 2), through: i2, end: false });
      // 100 bytes each: a third would pass 250.
      expect(scanAll(log, 't', { maxBytes: 250 })).toEqual({ records: r.slice(0, 2), through: i2, end: false });
      expect(scanAll(log, 't', { maxBytes: 1 })).toEqual({ records: [r[0]], through: i1, end: false });
      expect(scanAll(log, 't')).toEqual({ records: r, through: i6, end: true });
      expect(scanAll(log, 't', { after: i2, before: i5 }).records).toEqual(r.slice(2, 4));
      expect(scanAll(log, 't', { desc: true, limit: 2 })).toEqual({ records: [r[5], r[4]], through: i5, end: false });
      expect(scanAll(log, 't', { desc: true, after: i2, before: i6 }).records).toEqual([r[4], r[3], r[2]]);
      expect(scanAll(log, 't', { after: i6 })).toEqual({ records: [], through: undefined, end: true });
      expect(scanAll(log, 't', { after: i2, before: i2 + 1 })).toEqual({ records: [], through: undefined, end: true });
    });

    it('a names filter ends a scan after maxExamined records (or bytes) looked at; resume at through', async () => {
      const { log } = await open({});
      const r = await appendAll(log, 't', ['x', 'y', 'y', 'y', 'x', 'y', 'y', 'x']);
      const xs = r.filter((e) => e.event === 'x');
      const names = new Set(['x']);
      expect(scanAll(log, 't', { names }).records).toEqual(xs);
      // Nothing matches: the scan still ends after three records, and says which it looked at last.
      expect(scanAll(log, 't', { names: new Set(['none']), maxExamined: 3 })).toEqual({
        records: [],
        through: r[2].id,
        end: false,
      });
      // 100 bytes each (data length): past 250 bytes looked at, the fourth is not looked at.
      expect(scanAll(log, 't', { names: new Set(['none']), maxExaminedBytes: 250 })).toMatchObject({
        through: r[2].id,
        end: false,
      });
      const forward = pages(log, 't', { names, maxExamined: 2 });
      expect(forward.flat()).toEqual(xs);
      expect(forward.length).toBe(4);
      expect(pages(log, 't', { names, desc: true, maxExamined: 3 }).flat()).toEqual([...xs].reverse());
    });

    it('prunes by count, keeping each name latest, and records prunedThrough and the freed bytes', async () => {
      const { log } = await open({});
      const r = await appendAll(log, 't', ['old', 'n', 'n', 'n', 'n', 'n', 'n', 'n', 'n', 'n']);
      const other = await appendAll(log, 'u', ['n', 'n']);
      expect(await log.prune({ maxAgeMs: 0, maxEvents: 0 }, Date.now())).toBe(0);
      expect(await log.prune({ maxAgeMs: 0, maxEvents: 3 }, Date.now())).toBe(6);
      const kept = [r[0], ...r.slice(7)];
      expect(scanAll(log, 't').records).toEqual(kept);
      expect(log.prunedThrough('t')).toBe(r[6].id);
      expect(log.latestIds('t')).toEqual([r[0].id, r[9].id]);
      expect(log.usage('t')).toEqual({ bytes: kept.reduce((n, e) => n + recordBytes(e.event, e.data), 0), names: 2 });
      // Within the policy: untouched.
      expect(scanAll(log, 'u').records).toEqual(other);
      expect(log.prunedThrough('u')).toBe(0);
      expect(await log.prune({ maxAgeMs: 0, maxEvents: 3 }, Date.now())).toBe(0);
      expect(log.committedId('t')).toBe(r[9].id);
      expect((await log.append('t', 'n', '1')).id).toBeGreaterThan(r[9].id);
    });

    it('prunes by age, keeping each name latest', async () => {
      let clock = 1_000;
      const { log } = await open({ now: () => clock });
      const early = await appendAll(log, 't', ['a', 'a', 'b']);
      clock = 5_000;
      const late = await appendAll(log, 't', ['a', 'c', 'a']);
      expect(early.map((e) => e.timestamp)).toEqual([1_000, 1_000, 1_000]);
      expect(await log.prune({ maxAgeMs: 2_000, maxEvents: 0 }, 6_000)).toBe(2);
      expect(scanAll(log, 't').records).toEqual([early[2], ...late]);
      expect(log.prunedThrough('t')).toBe(early[1].id);
      expect(log.getMany('t', ids(early), 1 << 20).records).toEqual([early[2]]);
      // Everything old, but every name's latest stays.
      expect(await log.prune({ maxAgeMs: 1, maxEvents: 0 }, 100_000)).toBe(1);
      expect(scanAll(log, 't').records).toEqual([early[2], late[1], late[2]]);
    });

    it('counts usage: bytes of what the tenant holds and its distinct names', async () => {
      const { log } = await open({});
      expect(log.usage('t')).toEqual({ bytes: 0, names: 0 });
      expect(log.isNewName('t', 'e')).toBe(true);
      await log.append('t', 'e', '"héllo"');
      await log.append('t', 'e', '1');
      await log.append('t', 'f', '{}');
      expect(log.isNewName('t', 'e')).toBe(false);
      expect(log.isNewName('t', 'g')).toBe(true);
      expect(log.usage('t')).toEqual({
        bytes: recordBytes('e', '"héllo"') + recordBytes('e', '1') + recordBytes('f', '{}'),
        names: 2,
      });
    });

    it('has an epoch: a non-empty string, different for another log', async () => {
      const { log } = await open({});
      const other = await open({});
      expect(log.epoch).toMatch(/^[A-Za-z0-9_-]{8,}$/);
      expect(other.log.epoch).not.toBe(log.epoch);
    });

    it('an append with an idempotency key is findable by that key once the append resolves', async () => {
      let clock = 1000;
      const { log } = await open({ now: () => clock });
      const claim = (key: string, hash: string) => ({ idempotency: { scope: 's', key, hash } });
      const first = await log.append('a', 'e', '1', claim('k1', 'h1'));
      expect(log.idempotency.get('s', 'k1')).toEqual({ hash: 'h1', id: first.id, at: 1000 });
      expect(log.idempotency.get('s', 'k2')).toBeUndefined();
      expect(log.idempotency.get('a', 'k1')).toBeUndefined();
      // Appends of one turn share a commit: each still carries its own answer.
      clock = 2000;
      const many = await Promise.all(
        Array.from({ length: 20 }, (_, i) => log.append('b', 'e', `${i}`, claim(`m${i}`, `${i}`))),
      );
      for (const [i, r] of many.entries())
        expect(log.idempotency.get('s', `m${i}`)).toEqual({ hash: `${i}`, id: r.id, at: 2000 });
      await log.append('a', 'e', '2');
      // The sweep deletes the oldest first, at most `limit`, and none at or after `before`.
      expect(await log.idempotency.sweep(1500, 100)).toBe(1);
      expect(log.idempotency.get('s', 'k1')).toBeUndefined();
      expect(await log.idempotency.sweep(2001, 5)).toBe(5);
      expect(many.filter((_, i) => log.idempotency.get('s', `m${i}`)).length).toBe(15);
      // A key answered again after it expired keeps its new answer through a sweep of the old one's age.
      clock = 3000;
      const again = await log.append('a', 'e', '3', claim('m19', 'new'));
      await log.idempotency.sweep(2001, 100);
      expect(many.filter((_, i) => log.idempotency.get('s', `m${i}`)).length).toBe(1);
      expect(log.idempotency.get('s', 'm19')).toEqual({ hash: 'new', id: again.id, at: 3000 });
    });

    durableIt('an idempotency answer stays findable across a reopen', async () => {
      const opened = await open({ now: () => 5000 });
      if (!opened.reopen) throw new Error('a durable engine must offer reopen');
      const record = await opened.log.append('t', 'e', '1', { idempotency: { scope: 't', key: 'k', hash: 'h' } });
      const again = await opened.reopen();
      expect(again.idempotency.get('t', 'k')).toEqual({ hash: 'h', id: record.id, at: 5000 });
    });

    durableIt(
      'keeps every acknowledged append, its ids and its epoch across a reopen, and continues the ids',
      async () => {
        const opened = await open({});
        if (!opened.reopen) throw new Error('a durable engine must offer reopen');
        const before = opened.log;
        const announced: EventRecord[] = [];
        before.committed.subscribe((batch) => announced.push(...batch));
        const appended = await Promise.all(
          Array.from({ length: 100 }, (_, i) => before.append(i % 2 ? 'a' : 'b', `e${i % 3}`, String(i))),
        );
        await before.prune({ maxAgeMs: 0, maxEvents: 20 }, Date.now());
        await waitUntil(() => announced.length >= appended.length);
        const state = (log: EventLog) =>
          ['a', 'b'].map((t) => ({
            records: scanAll(log, t).records,
            latest: log.latestIds(t),
            pruned: log.prunedThrough(t),
            usage: log.usage(t),
            last: log.lastId(t),
            committed: log.committedId(t),
          }));
        const kept = state(before);
        const epoch = before.epoch;
        const after = await opened.reopen();
        expect(state(after)).toEqual(kept);
        expect(after.epoch).toBe(epoch);
        // What was announced and not pruned is there.
        const present = new Set(kept.flatMap((t) => ids(t.records)));
        for (const r of announced.filter((e) => e.tenant === 'a'))
          if (present.has(r.id)) expect(after.getMany('a', [r.id], 1 << 20).records).toEqual([r]);
        expect(kept[0].pruned).toBeGreaterThan(0);
        const next = await after.append('a', 'e0', 'next');
        expect(next.id).toBeGreaterThan(kept[0].last);
        const again = await opened.reopen();
        expect(again.epoch).toBe(epoch);
        expect(scanAll(again, 'a').records.at(-1)).toEqual(next);
      },
    );
  });
}
