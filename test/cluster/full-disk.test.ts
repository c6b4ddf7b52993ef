// A cluster node whose disk refuses its read model's commits (a file size limit on the process, as in
// test/security/storage-full.test.ts: `ulimit -f`, without filling the machine's disk). The writes are in
// the stream, so the node may not skip them: it stops applying and says so (its log, GET / ready:false),
// answers every write 507 instead of hanging or 503, keeps serving reads, and once the disk has room again
// (the limit raised on the running process) it applies the rest and is the same as the other node.
import { spawn } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ADMIN, CLI, killAfterTest, spawnBroker, testDir } from '../helpers/broker.js';
import { bearer, get, makeUser, post } from '../helpers/http.js';
import { natsServerBinary, SKIP_NATS, startNats } from '../helpers/nats.js';
import { waitUntil } from '../helpers/wait.js';

/** A broker node under a soft `ulimit -f` (512-byte blocks in sh): its LMDB cannot grow past that, until raised. */
async function limitedNode(db: string, nats: string, blocks: number) {
  const proc = spawn(
    'sh',
    [
      '-c',
      `ulimit -S -f ${blocks}; exec "${process.execPath}" "${CLI}" --port 0 --host 127.0.0.1 ` +
        `--db "${db}" --admin_token ${ADMIN} --nats ${nats} --nats_replicas 1`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  proc.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the node did not listen within 20 s: ${out}`)), 20_000);
    const look = () => {
      const m = /"url":"(http:[^"]+)"/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    proc.stdout!.on('data', look);
    void exited.then(() => reject(new Error(`the node exited before listening: ${out}`)));
  });
  return { proc, url, exited, output: () => out };
}

const ids = async (url: string, jwt: string) => {
  const answer = await get(url, '/events?limit=1000', bearer(jwt));
  expect(answer.status).toBe(200);
  return (answer.body.events as { id: number }[]).map((e) => e.id);
};

describe.skipIf(SKIP_NATS)('a cluster node whose disk is full', () => {
  it('stops applying loudly, answers writes 507 and GET / not ready, serves reads, catches up once it has room', {
    timeout: 120_000,
  }, async () => {
    natsServerBinary();
    const dir = testDir();
    const nats = await startNats(1);
    const full = await limitedNode(join(dir, 'full'), nats.urls, 4096);
    try {
      const other = killAfterTest(
        await spawnBroker([
          '--db',
          join(dir, 'other'),
          '--admin_token',
          ADMIN,
          '--nats',
          nats.urls,
          '--nats_replicas',
          '1',
        ]),
      );
      const user = await makeUser(other.url, { tenant_name: 'filler' });
      // Written on the other node, which has room: the stream takes each, the limited node must apply it.
      let stopped = false;
      for (let i = 0; i < 200 && !stopped; i++) {
        const answer = await post(
          other.url,
          '/insert',
          { event: `e${i % 4}`, data: 'x'.repeat(50_000) },
          bearer(user.jwt),
        );
        expect(answer.status, answer.text).toBe(200);
        if (i % 10 === 9) stopped = full.output().includes('APPLYING STOPPED');
      }
      await waitUntil(() => full.output().includes('APPLYING STOPPED'), 20_000, 'the node says it stopped applying');
      expect(full.output()).toMatch(/cluster: APPLYING STOPPED at sequence \d+: .*not ready until it has room/);
      await waitUntil(
        async () => (await get(full.url, '/')).body.cluster?.ready === false,
        10_000,
        'GET / says not ready',
      );
      const state = (await get(full.url, '/')).body.cluster;
      expect(state.applied).toBeLessThan(state.last);

      // Writes here answer 507 at once (nothing published), deletes too; reads keep working.
      const refused = await post(full.url, '/insert', { event: 'x', data: 1 }, bearer(user.jwt));
      expect(refused.status, refused.text).toBe(507);
      expect(refused.body.error).toMatch(/could not write to its disk/);
      expect((await get(full.url, '/verify', bearer(user.jwt))).status).toBe(200);
      const behind = await ids(full.url, user.jwt);
      expect(behind.length).toBeLessThan((await ids(other.url, user.jwt)).length);
      expect(full.proc.exitCode).toBeNull();

      // Room again: the node applies what it missed, in order, and is the other node's equal.
      execFileSync('prlimit', ['--pid', String(full.proc.pid), '--fsize=unlimited']);
      await waitUntil(
        async () => (await get(full.url, '/')).body.cluster?.ready === true,
        30_000,
        'GET / says ready again',
      );
      expect((await post(full.url, '/insert', { event: 'x', data: 2 }, bearer(user.jwt))).status).toBe(200);
      await waitUntil(
        async () => (await ids(full.url, user.jwt)).join() === (await ids(other.url, user.jwt)).join(),
        10_000,
        'both nodes hold the same events',
      );
    } finally {
      if (full.proc.exitCode === null && full.proc.signalCode === null) full.proc.kill('SIGKILL');
      await full.exited;
      await nats.stop();
    }
  });
});
