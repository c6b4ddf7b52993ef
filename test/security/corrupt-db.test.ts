// An unreadable or corrupt database at start: the `broker` command says what is wrong in one line and
// exits non-zero before listening, and leaves the file as it found it. Never a silent empty start.
// LMDB has no checksums and can crash on a garbled page, so storage/lmdb/integrity.ts checks the header,
// the size, and walks every tree in a child process first; these tests garble real databases.
import { createHash, randomBytes } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, runCli, startBroker, tempDir } from '../helpers/broker.js';
import { post } from '../helpers/http.js';
import { lmdbDatabase } from '../../src/storage/lmdb/storage.js';

let work: string;
/** A real broker database with 200 users and a few events, made once and copied per case. */
let pristine: string;

beforeAll(async () => {
  work = tempDir('broker-corrupt-');
  pristine = join(work, 'pristine');
  const broker = await startBroker({ db: pristine });
  for (let i = 0; i < 200; i++) {
    const answer = await post(broker.url, '/create_user', {
      admin_token: ADMIN,
      username: `user${String(i).padStart(3, '0')}`,
      password: 'password p',
      tenant_name: 't',
      data: 'd'.repeat(100),
    });
    expect(answer.status).toBe(200);
  }
  await broker.stop();
}, 60_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

let n = 0;
function copy(): string {
  const dir = join(work, `case${++n}`);
  cpSync(pristine, dir, { recursive: true });
  return dir;
}

const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

/** Runs the CLI on `dir` and expects a refusal: exit 2, one `broker: ...` line matching `message`. */
async function expectRefusal(dir: string, message: RegExp): Promise<void> {
  const data = join(dir, 'data.mdb');
  const before = existsSync(data) && statSync(data).isFile() ? sha(data) : undefined;
  const result = await runCli(['--db', dir, '--admin_token', ADMIN, '--port', '0', '--host', '127.0.0.1']);
  expect(result.code, result.stderr).toBe(2);
  expect(result.stderr).toMatch(/^broker: /);
  expect(result.stderr).toMatch(message);
  expect(result.stderr.trim().split('\n')).toHaveLength(1);
  // Nothing listened, and the file is as it was (no repair, no reinitialisation).
  expect(result.stdout).not.toMatch(/listening/);
  if (before) expect(sha(data)).toBe(before);
  expect(existsSync(join(dir, 'broker.pid'))).toBe(false);
}

describe('a database that cannot be used is refused at start', () => {
  it('the pristine copy itself starts (the control case)', async () => {
    const dir = copy();
    const broker = await startBroker({ db: dir });
    try {
      const listed = await post(broker.url, '/list_users', { admin_token: ADMIN });
      expect(listed.body).toHaveLength(200);
    } finally {
      await broker.stop();
    }
  });

  it('a data file of random bytes', async () => {
    const dir = copy();
    writeFileSync(join(dir, 'data.mdb'), randomBytes(64 * 1024));
    await expectRefusal(dir, /not an LMDB database/);
  });

  it('an empty data file (truncated to zero)', async () => {
    const dir = copy();
    truncateSync(join(dir, 'data.mdb'), 0);
    await expectRefusal(dir, /empty \(0 bytes\)/);
  });

  it('a data file cut short, meta pages intact', async () => {
    const dir = copy();
    truncateSync(join(dir, 'data.mdb'), 3 * 4096);
    await expectRefusal(dir, /truncated/);
  });

  it('valid meta pages in front of garbage', async () => {
    const dir = copy();
    const file = join(dir, 'data.mdb');
    const bytes = readFileSync(file);
    randomBytes(bytes.length - 2 * 4096).copy(bytes, 2 * 4096);
    writeFileSync(file, bytes);
    await expectRefusal(dir, /corrupt/);
  });

  it('one garbled page in the middle of the users tree', async () => {
    const dir = copy();
    const file = join(dir, 'data.mdb');
    const bytes = readFileSync(file);
    // The leaf page holding user150, found by its bytes; its header (16 bytes) is kept so that LMDB
    // still takes it for a page: the damage is in the entries, the hardest case to notice.
    const at = bytes.indexOf(Buffer.from('user150'));
    expect(at).toBeGreaterThan(2 * 4096);
    const page = Math.floor(at / 4096) * 4096;
    randomBytes(4096 - 16).copy(bytes, page + 16);
    writeFileSync(file, bytes);
    await expectRefusal(dir, /corrupt/);
  });

  it('a corrupt second meta page', async () => {
    const dir = copy();
    const file = join(dir, 'data.mdb');
    const bytes = readFileSync(file);
    bytes.fill(0, 4096, 8192);
    writeFileSync(file, bytes);
    await expectRefusal(dir, /meta page|not an LMDB|corrupt/);
  });

  it('a data file that is a directory (unreadable as a file)', async () => {
    const dir = copy();
    rmSync(join(dir, 'data.mdb'));
    mkdirSync(join(dir, 'data.mdb'));
    await expectRefusal(dir, /not a regular file/);
  });

  it('--db naming a regular file', async () => {
    const file = join(work, `plain-file-${++n}`);
    writeFileSync(file, 'not a directory');
    const result = await runCli(['--db', file, '--admin_token', ADMIN, '--port', '0']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^broker: cannot create the database directory/);
    expect(readFileSync(file, 'utf8')).toBe('not a directory');
  });

  it('a deleted data file beside its lock file (deleted, moved, or a disk not mounted)', async () => {
    const dir = copy();
    rmSync(join(dir, 'data.mdb'));
    await expectRefusal(dir, /data\.mdb is missing/);
    expect(existsSync(join(dir, 'data.mdb'))).toBe(false);
  });

  it('a data file that is a symbolic link to nothing', async () => {
    const dir = copy();
    rmSync(join(dir, 'data.mdb'));
    rmSync(join(dir, 'lock.mdb'));
    symlinkSync(join(work, 'unmounted', 'data.mdb'), join(dir, 'data.mdb'));
    await expectRefusal(dir, /symbolic link to nothing/);
    expect(existsSync(join(work, 'unmounted'))).toBe(false);
  });

  it('a schema version newer than this broker', async () => {
    const dir = copy();
    const broker = await startBroker({ db: dir });
    lmdbDatabase(broker.services.storage).meta.putSync('schema_version', 999);
    await broker.stop();
    await expectRefusal(dir, /schema version 999, newer than this broker/);
  });

  it('data without a schema version (not a broker database, or its meta lost)', async () => {
    const dir = copy();
    const broker = await startBroker({ db: dir });
    await lmdbDatabase(broker.services.storage).meta.remove('schema_version');
    await broker.stop();
    await expectRefusal(dir, /holds data but no schema version/);
  });

  it('a brand-new directory still starts empty (the one case where empty is right)', async () => {
    const dir = join(work, `fresh-${++n}`);
    const broker = await startBroker({ db: dir });
    try {
      expect((await post(broker.url, '/list_users', { admin_token: ADMIN })).body).toEqual([]);
    } finally {
      await broker.stop();
    }
  });
});
