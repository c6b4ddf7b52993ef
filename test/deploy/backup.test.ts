// `broker backup` beside a live, loaded broker, and `broker restore`: the built CLI end to end.
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { open } from 'lmdb';
import { ADMIN, runCli, spawnBroker, tempDir, type ChildBroker } from '../helpers/broker.js';
import { bearer, get, makeUser, post } from '../helpers/http.js';
import { openStorage } from '../../src/storage/storage.js';

interface Stored {
  id: number;
  event: string;
  data: unknown;
}

async function allEvents(base: string, jwt: string): Promise<Stored[]> {
  const out: Stored[] = [];
  for (let after = 0; ; ) {
    const page = await get<{ events: Stored[] }>(base, `/events?after=${after}&limit=1000`, bearer(jwt));
    expect(page.status).toBe(200);
    if (page.body.events.length === 0) return out;
    out.push(...page.body.events);
    after = page.body.events.at(-1)!.id;
  }
}

describe('backup and restore', () => {
  let dir: string;
  let live: ChildBroker;
  let user: { username: string; password: string; jwt: string };
  let backupFile: string;
  const acked = new Map<number, unknown>();
  let ackedBeforeBackup: Map<number, unknown>;
  let ackedDuringBackup = 0;

  beforeAll(async () => {
    dir = tempDir('broker-backup-');
    live = await spawnBroker(['--db', join(dir, 'live'), '--admin_token', ADMIN]);
    user = await makeUser(live.url, { tenant_name: 'backup' });
  });
  afterAll(async () => {
    await live?.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  it('copies a database under insert load: the restore holds every insert acknowledged before the backup began', {
    timeout: 60_000,
  }, async () => {
    let running = true;
    let backupStarted = false;
    let n = 0;
    // Four writers insert as fast as the broker acknowledges (each answer means "durable on disk").
    const writer = async () => {
      while (running) {
        const data = { n: ++n, pad: 'x'.repeat(200) };
        const res = await post<{ id: number }>(live.url, '/insert', { event: `e${n % 7}`, data }, bearer(user.jwt));
        if (res.status !== 200) throw new Error(`insert failed: ${res.status} ${res.text}`);
        acked.set(res.body.id, data);
        if (backupStarted) ackedDuringBackup++;
      }
    };
    const writers = [writer(), writer(), writer(), writer()];
    while (acked.size < 300) await new Promise((r) => setTimeout(r, 20));

    ackedBeforeBackup = new Map(acked);
    backupStarted = true;
    backupFile = join(dir, 'backups', 'broker.mdb');
    const result = await runCli(['backup', '--db', join(dir, 'live'), '--out', backupFile]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/backed up .* to .*broker\.mdb \(\d+ bytes\)/);
    // Give the load a moment more after the copy, then stop it.
    await new Promise((r) => setTimeout(r, 200));
    running = false;
    await Promise.all(writers);
    // The backup really ran beside a writing broker.
    expect(ackedDuringBackup).toBeGreaterThan(0);
    expect(statSync(backupFile).size).toBeGreaterThan(4096);
    // It holds password hashes and secrets: readable by its owner only.
    expect(statSync(backupFile).mode & 0o777).toBe(0o600);

    const restoredDir = join(dir, 'restored');
    const restored = await runCli(['restore', '--in', backupFile, '--db', restoredDir]);
    expect(restored.stderr).toBe('');
    expect(restored.code).toBe(0);
    // A directory restore creates is owner-only, as a start makes it (the file holds every secret).
    expect(statSync(restoredDir).mode & 0o777).toBe(0o700);
    expect(statSync(join(restoredDir, 'data.mdb')).mode & 0o777).toBe(0o600);

    const copy = await spawnBroker(['--db', restoredDir, '--admin_token', ADMIN]);
    try {
      // The same user logs in: the users and secrets came along with the events.
      const login = await post<{ jwt: string }>(copy.url, '/login', {
        username: user.username,
        password: user.password,
      });
      expect(login.status).toBe(200);
      const events = await allEvents(copy.url, login.body.jwt);
      const byId = new Map(events.map((e) => [e.id, e.data]));
      const missing = [...ackedBeforeBackup.keys()].filter((id) => !byId.has(id));
      expect(missing).toEqual([]);
      for (const [id, data] of ackedBeforeBackup) expect(byId.get(id)).toEqual(data);
      // Nothing in the copy that was never acknowledged by the live broker.
      for (const e of events) expect(acked.get(e.id)).toEqual(e.data);
      // The restored database takes new inserts after the last restored id.
      const next = await post<{ id: number }>(
        copy.url,
        '/insert',
        { event: 'after-restore', data: 1 },
        bearer(login.body.jwt),
      );
      expect(next.status).toBe(200);
      expect(next.body.id).toBeGreaterThan(Math.max(...events.map((e) => e.id)));
    } finally {
      await copy.kill();
    }
  });

  it('refuses to restore over the database of a running broker, and leaves it untouched', async () => {
    const before = readFileSync(join(dir, 'live', 'broker.pid'), 'utf8');
    const result = await runCli(['restore', '--in', backupFile, '--db', join(dir, 'live')]);
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(
      new RegExp(`refusing to restore: .*in use by another broker \\(pid ${live.proc.pid}\\)`),
    );
    expect(readFileSync(join(dir, 'live', 'broker.pid'), 'utf8')).toBe(before);
    const res = await post(live.url, '/insert', { event: 'still-live', data: true }, bearer(user.jwt));
    expect(res.status).toBe(200);
  });

  it('restores over a stopped database, keeping the replaced file beside it', async () => {
    const target = join(dir, 'stopped');
    const other = await spawnBroker(['--db', target, '--admin_token', ADMIN]);
    let stranger: Awaited<ReturnType<typeof makeUser>>;
    let stopped: number | null;
    try {
      stranger = await makeUser(other.url, { tenant_name: 'gone' });
    } finally {
      stopped = await other.kill();
    }
    expect(stopped).toBe(0);

    const result = await runCli(['restore', '--in', backupFile, '--db', target]);
    expect(result.code).toBe(0);
    const kept = /kept as (\S+)\)/.exec(result.stdout)?.[1];
    expect(kept && existsSync(kept)).toBe(true);

    const again = await spawnBroker(['--db', target, '--admin_token', ADMIN]);
    try {
      expect((await post(again.url, '/login', { username: user.username, password: user.password })).status).toBe(200);
      expect(
        (await post(again.url, '/login', { username: stranger.username, password: stranger.password })).status,
      ).toBe(401);
    } finally {
      await again.kill();
    }
  }, 30_000);

  it('fails with one line and exit 2 on bad input, touching nothing', async () => {
    const noDb = await runCli(['backup', '--db', join(dir, 'nothing-here'), '--out', join(dir, 'x.mdb')]);
    expect(noDb.code).toBe(2);
    expect(noDb.stderr).toMatch(/no database at .*nothing-here/);
    expect(existsSync(join(dir, 'nothing-here'))).toBe(false);

    const exists = await runCli(['backup', '--db', join(dir, 'live'), '--out', backupFile]);
    expect(exists.code).toBe(2);
    expect(exists.stderr).toMatch(/already exists/);

    const garbage = join(dir, 'garbage.mdb');
    writeFileSync(garbage, Buffer.alloc(64 * 1024, 7));
    const target = join(dir, 'restored');
    const size = statSync(join(target, 'data.mdb')).size;
    const bad = await runCli(['restore', '--in', garbage, '--db', target]);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toMatch(/garbage\.mdb is not/);
    expect(statSync(join(target, 'data.mdb')).size).toBe(size);
    expect(existsSync(join(target, 'broker.pid'))).toBe(false);

    const missing = await runCli(['restore', '--in', join(dir, 'none.mdb'), '--db', target]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/no backup file at/);

    const noOut = await runCli(['backup', '--db', join(dir, 'live')]);
    expect(noOut.code).toBe(2);
    expect(noOut.stderr).toMatch(/--out/);
  });

  it('gives the restored database a new epoch, kept across restarts: ids of the old history are stale', async () => {
    const target = join(dir, 'epochs');
    const first = openStorage(target);
    await first.log.append('t', 'e', '1');
    const before = first.epoch;
    await first.close();
    const file = join(dir, 'epochs.mdb');
    expect((await runCli(['backup', '--db', target, '--out', file])).code).toBe(0);
    // The backup is a copy: it carries the epoch of the database it was taken from.
    const copy = open({ path: file, noSubdir: true, readOnly: true });
    const inBackup = copy.openDB<unknown, string>({ name: 'meta' }).get('epoch');
    await copy.close();
    expect(inBackup).toBe(before);

    const restored = await runCli(['restore', '--in', file, '--db', target]);
    expect(restored.code, restored.stderr).toBe(0);
    const after = openStorage(target);
    let renewed: string;
    try {
      renewed = after.epoch;
      expect(renewed).toMatch(/^[A-Za-z0-9_-]{11}$/);
      expect(renewed).not.toBe(before);
      expect(renewed).not.toBe(inBackup);
      // The history itself came back: only its epoch is new.
      expect(after.log.lastId('t')).toBe(1);
    } finally {
      await after.close();
    }
    // Stable across restarts: a restart loses no history.
    const again = openStorage(target);
    try {
      expect(again.epoch).toBe(renewed);
    } finally {
      await again.close();
    }
  });
});
