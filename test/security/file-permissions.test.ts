// The database directory holds the JWT secret, the admin token, the biscuit root key and every password
// hash: its files must be readable by the broker's user only, or any local account could forge tokens.
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startBroker, tempDir } from '../helpers/broker.js';

const mode = (file: string) => statSync(file).mode & 0o777;

describe('database files', () => {
  it('a new database directory and its files are owner-only', async () => {
    const broker = await startBroker();
    try {
      const dir = broker.services.db.path;
      expect(mode(dir) & 0o077).toBe(0);
      expect(mode(join(dir, 'data.mdb'))).toBe(0o600);
      expect(mode(join(dir, 'lock.mdb'))).toBe(0o600);
    } finally {
      await broker.stop();
    }
  });

  it('an existing directory keeps its mode, but the files in it become owner-only', async () => {
    const parent = tempDir();
    const dir = join(parent, 'db');
    mkdirSync(dir, { mode: 0o755 });
    const broker = await startBroker({ db: dir }, { dir: parent });
    try {
      expect(mode(join(dir, 'data.mdb'))).toBe(0o600);
      expect(mode(join(dir, 'lock.mdb'))).toBe(0o600);
    } finally {
      await broker.stop();
      rmSync(parent, { recursive: true, force: true });
    }
  });
});
