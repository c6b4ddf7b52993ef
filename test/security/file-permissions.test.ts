// The database directory holds the JWT secret, the admin token, the biscuit root key and every password
// hash: its files must be readable by the broker's user only, from the instant they exist, or any local
// account could open data.mdb while it is still 0644 and keep reading it after a chmod.
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/storage/lmdb/database.js';
import { CLI, runCli, startBroker, testDir } from '../helpers/broker.js';

const mode = (file: string) => statSync(file).mode & 0o777;
const NOBODY = 65534;

describe('database files', () => {
  it('a new database directory and its files are owner-only', async () => {
    const broker = await startBroker();
    try {
      const dir = broker.services.storage.path;
      expect(mode(dir) & 0o077).toBe(0);
      expect(mode(join(dir, 'data.mdb'))).toBe(0o600);
      expect(mode(join(dir, 'lock.mdb'))).toBe(0o600);
    } finally {
      await broker.stop();
    }
  });

  it(
    'LMDB creates data.mdb and lock.mdb without group or other ' + 'bits, whatever the umask (no chmod afterwards)',
    async () => {
      const dir = join(testDir(), 'db');
      // The usual umask, under which LMDB's own files would be born 0644.
      const previous = process.umask(0o022);
      try {
        const db = openDatabase(dir);
        try {
          // Right after the open, before anything else could change them.
          expect(mode(join(dir, 'data.mdb'))).toBe(0o600);
          expect(mode(join(dir, 'lock.mdb'))).toBe(0o600);
          expect(mode(join(dir, 'broker.pid')) & 0o077).toBe(0);
        } finally {
          await db.close();
        }
        // The umask is the process's again once the open is done.
        expect(process.umask()).toBe(0o022);
      } finally {
        process.umask(previous);
      }
    },
  );

  it(
    'an existing directory others can enter is made 0700 with a ' + 'warning, and the files in it are owner-only',
    async () => {
      const parent = testDir();
      const dir = join(parent, 'db');
      mkdirSync(dir, { mode: 0o755 });
      chmodSync(dir, 0o755);
      const broker = await startBroker({ db: dir }, { dir: parent });
      try {
        expect(mode(dir)).toBe(0o700);
        expect(broker.services.storage.warnings.join('\n')).toMatch(/open to other accounts \(mode 755\): made it 700/);
        expect(mode(join(dir, 'data.mdb'))).toBe(0o600);
        expect(mode(join(dir, 'lock.mdb'))).toBe(0o600);
      } finally {
        await broker.stop();
      }
    },
  );
});

// Tests run as root, which no file mode stops: the broker runs as `nobody` against files root owns.
describe.skipIf(process.getuid?.() !== 0)('a database the user may not write', () => {
  function asNobody(args: string[], cwd: string): Promise<{ code: number | null; stderr: string }> {
    return new Promise((res) => {
      const proc = spawn(process.execPath, [CLI, ...args], {
        cwd,
        uid: NOBODY,
        gid: NOBODY,
        env: { ...process.env, HOME: cwd },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
      proc.once('exit', (code) => {
        clearTimeout(timer);
        res({ code, stderr });
      });
    });
  }

  /** A database made by a root broker in a dir others may enter: what a later `nobody` start meets. */
  async function databaseMadeByRoot(): Promise<{ parent: string; dir: string }> {
    const parent = testDir();
    chmodSync(parent, 0o755);
    const dir = join(parent, 'db');
    const broker = await startBroker({ db: dir }, { dir: parent });
    await broker.stop();
    return { parent, dir };
  }
  const startAsNobody = (dir: string, parent: string) =>
    asNobody(['--port', '0', '--db', dir, '--admin_token', 'x'.repeat(32)], parent);

  it('a directory owned by another user is a permission problem, not corruption', async () => {
    const parent = testDir();
    chmodSync(parent, 0o755);
    const dir = join(parent, 'db');
    mkdirSync(dir, { mode: 0o700 });
    const result = await startAsNobody(dir, parent);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/no permission to write the database/);
    expect(result.stderr).not.toMatch(/corrupt|restore a backup/i);
  });

  it('a data.mdb the user may not write is a permission problem, not corruption', async () => {
    const { parent, dir } = await databaseMadeByRoot();
    chownSync(dir, NOBODY, NOBODY);
    // data.mdb stays root's (0600): nobody can neither read nor write it.
    const result = await startAsNobody(dir, parent);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/no permission/);
    expect(result.stderr).not.toMatch(/corrupt|restore a backup/i);
  });

  it('a lock.mdb the user may not open is a clear refusal, not a crash of LMDB (SIGSEGV)', async () => {
    const { parent, dir } = await databaseMadeByRoot();
    chownSync(dir, NOBODY, NOBODY);
    chownSync(join(dir, 'data.mdb'), NOBODY, NOBODY);
    // lock.mdb stays root's, 0600: the checker's read-only open gets by, LMDB's own open does not.
    const result = await startAsNobody(dir, parent);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/no permission to write the database .*lock\.mdb/);
  });

  it('a --db under a regular file says the path is not a directory', async () => {
    const parent = testDir();
    writeFileSync(join(parent, 'file'), '');
    const result = await runCli(['--port', '0', '--db', join(parent, 'file', 'db'), '--admin_token', 'x'.repeat(32)]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/not a directory, or a part of its path is a file/);
    expect(result.stderr).not.toMatch(/corrupt|restore a backup/i);
  });
});
