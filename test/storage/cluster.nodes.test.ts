// The cluster engine with several nodes on one stream (a real nats-server, each node its own LMDB read
// model): what one node writes, every node reads, announces and decides the same way. The multi-broker
// HTTP scenarios are test/cluster/'s; these prove the engine beneath them.
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { user as contractUser } from './users.contract.js';
import { NoQuorumError, WriteTooLargeError } from '../../src/storage/errors.js';
import type { EventRecord } from '../../src/storage/event-log.js';
import type { Storage } from '../../src/storage/storage.js';
import type { UserChangeEvent, UserRecord } from '../../src/storage/users.js';
import { testDir } from '../helpers/broker.js';
import { waitUntil } from '../helpers/wait.js';
import { freshStream, natsServerForFile, openNode } from './cluster-nats.js';

const nats = natsServerForFile();

async function nodes(n: number, stream = freshStream()): Promise<Storage[]> {
  const out: Storage[] = [];
  for (let i = 0; i < n; i++) {
    const storage = await openNode(join(testDir(), `node${i}`), nats.url(), stream);
    onTestFinished(() => storage.close());
    out.push(storage);
  }
  return out;
}

const user = (username: string, id: string): UserRecord => contractUser(username, { id, totp: '', data: null });

describe('cluster engine: several nodes on one stream', () => {
  it('an append on one node is announced on every node, with the same id, in id order, once', async () => {
    const [a, b, c] = await nodes(3);
    const heard = new Map<Storage, EventRecord[]>();
    for (const s of [a, b, c]) {
      heard.set(s, []);
      s.log.committed.subscribe((batch) => heard.get(s)!.push(...batch));
    }
    const written = await Promise.all(
      Array.from({ length: 30 }, (_, i) => [a, b, c][i % 3].log.append('t', `e${i % 2}`, String(i))),
    );
    const ids = written.map((r) => r.id).sort((x, y) => x - y);
    for (const s of [a, b, c]) {
      await waitUntil(() => heard.get(s)!.length >= 30, 10_000, 'every event announced');
      expect(heard.get(s)!.map((r) => r.id)).toEqual(ids);
      expect(s.log.latestIds('t')).toEqual(a.log.latestIds('t'));
    }
    expect(b.log.getMany('t', [written[0].id], 1 << 20).records).toEqual([written[0]]);
  });

  it('concurrent creates of one name on three nodes make exactly one user, the same on every node', async () => {
    const [a, b, c] = await nodes(3);
    const results = await Promise.all([a, b, c].map((s, i) => s.users.create(user('same', `id-${i}`))));
    expect(results.filter(Boolean).length).toBe(1);
    const winner = `id-${results.indexOf(true)}`;
    await Promise.all([a, b, c].map((s) => s.sync()));
    for (const s of [a, b, c]) expect(s.users.get('same')?.id).toBe(winner);
  });

  it('concurrent updates on several nodes lose none; every node announces each change', async () => {
    const [a, b] = await nodes(2);
    await a.users.create(user('u', 'id'));
    const changes: UserChangeEvent[] = [];
    b.users.changes.subscribe((c) => changes.push(c));
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        (i % 2 ? a : b).users.update('u', (r) => {
          r.failures++;
        }),
      ),
    );
    await b.sync();
    expect(a.users.get('u')?.failures).toBe(20);
    expect(b.users.get('u')?.failures).toBe(20);
    expect(changes.filter((c) => c.before && c.after).length).toBe(20);
  });

  it('secrets and the epoch are made by the first node and the same on every node', async () => {
    const [a, b] = await nodes(2);
    const [sa, sb] = await Promise.all([a.secrets.load({}), b.secrets.load({})]);
    expect(sa.jwtSecret).toBe(sb.jwtSecret);
    expect(sa.adminToken).toBe(sb.adminToken);
    expect([sa.adminTokenFile, sb.adminTokenFile].filter(Boolean).length).toBeLessThanOrEqual(1);
    await Promise.all([a.secrets.saveBiscuitKey('aa'), b.secrets.saveBiscuitKey('bb')]);
    await Promise.all([a.sync(), b.sync()]);
    expect((await a.secrets.load({})).biscuitPrivateKey).toBe((await b.secrets.load({})).biscuitPrivateKey);
    expect(a.epoch).toBe(b.epoch);
    expect(a.log.epoch).toBe(a.epoch);
  });

  it("each node counts the others' open streams per user from their announcements, forgets a gone one", async () => {
    const [a, b, c] = await nodes(3);
    a.peers!.start(() => [['u', 3]]);
    b.peers!.start(() => [
      ['u', 2],
      ['v', 1],
    ]);
    await waitUntil(() => c.peers!.streamsOf('u') === 5 && c.peers!.streamsOf('v') === 1, 10_000, 'counts summed');
    expect(a.peers!.streamsOf('u')).toBe(2);
    expect(c.peers!.streamsOf('w')).toBe(0);
    await b.close();
    await waitUntil(() => c.peers!.streamsOf('u') === 3, 10_000, "b's counts forgotten");
  });

  it('refuses a write larger than one message before publishing it: nothing written', async () => {
    const [a] = await nodes(1);
    const before = a.state()!.applied;
    await expect(a.log.append('t', 'e', JSON.stringify('x'.repeat(2 << 20)))).rejects.toBeInstanceOf(
      WriteTooLargeError,
    );
    await a.sync();
    expect(a.state()!.applied).toBe(before);
    expect(a.log.committedId('t')).toBe(0);
  });

  it('a node that joins late catches up before it opens, and its state says so', async () => {
    const stream = freshStream();
    const [a] = await nodes(1, stream);
    for (let i = 0; i < 300; i++) await a.log.append('t', 'e', String(i));
    const [late] = await nodes(1, stream);
    expect(late.log.committedId('t')).toBe(a.log.committedId('t'));
    expect(late.state()).toMatchObject({ ready: true, applied: a.state()!.applied });
  });
});

describe('cluster engine: a NATS server that goes away', () => {
  it('writes answer NoQuorumError within 10 s, reads keep working, the barrier does not hang', async () => {
    // Its own server: this test stops it.
    const { spawn } = await import('node:child_process');
    const { freePort, tempDir } = await import('../helpers/broker.js');
    const { NATS_SERVER } = await import('./cluster-nats.js');
    const port = await freePort();
    const proc = spawn(NATS_SERVER, ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', join(tempDir(), 'js')], {
      stdio: 'ignore',
    });
    onTestFinished(() => {
      proc.kill('SIGKILL');
    });
    let storage: Storage | undefined;
    await waitUntil(
      async () => {
        storage = await openNode(join(testDir(), 'n'), `nats://127.0.0.1:${port}`, freshStream()).catch(
          () => undefined,
        );
        return storage !== undefined;
      },
      15_000,
      'a node on the new server',
    );
    const s = storage!;
    onTestFinished(() => s.close());
    const first = await s.log.append('t', 'e', '1');
    proc.kill('SIGKILL');
    await waitUntil(() => s.state()?.ready === false, 5_000, 'not ready without NATS');
    for (const write of [() => s.log.append('t', 'e', '2'), () => s.users.create(user('x', 'x'))]) {
      const started = Date.now();
      await expect(write()).rejects.toBeInstanceOf(NoQuorumError);
      expect(Date.now() - started).toBeLessThan(10_000);
    }
    await s.sync();
    expect(
      s.log.scan('t', { limit: 10, maxBytes: 1 << 20, maxExamined: 100, maxExaminedBytes: 1 << 20 }).records,
    ).toEqual([first]);
    expect(s.users.get('x')).toBeUndefined();
  }, 60_000);
});
