// Server secrets generated at first start and kept in the database, so that tokens survive restarts.
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Database } from './database.js';

/** Where a generated admin token is written, beside the database that keeps it. */
export const ADMIN_TOKEN_FILE = 'admin_token';

export interface StoredSecrets {
  jwtSecret: string;
  adminToken: string;
  /** Set when this start generated the admin token: the owner-only file it was written to (the CLI says where). */
  adminTokenFile: string | undefined;
  /** biscuit root private key, hex. */
  biscuitPrivateKey: string | undefined;
}

function getOrCreate(db: Database, key: string, make: () => string): { value: string; created: boolean } {
  const existing = db.meta.get(key);
  if (typeof existing === 'string') return { value: existing, created: false };
  const value = make();
  db.meta.putSync(key, value);
  return { value, created: true };
}

export function loadSecrets(db: Database, given: { jwtSecret?: string; adminToken?: string }): StoredSecrets {
  const jwt = given.jwtSecret ?? getOrCreate(db, 'jwt_secret', () => randomBytes(32).toString('base64url')).value;
  let adminToken = given.adminToken;
  let adminTokenFile: string | undefined;
  if (adminToken === undefined) {
    // 32 random bytes: as strong as --secure requires of a token given by hand.
    // The file is written before the token is kept: a failed write leaves no token nobody was told.
    const r = getOrCreate(db, 'admin_token', () => {
      const token = randomBytes(32).toString('base64url');
      adminTokenFile = writeOwnerOnly(join(db.path, ADMIN_TOKEN_FILE), `${token}\n`);
      return token;
    });
    adminToken = r.value;
  }
  const bk = db.meta.get('biscuit_private_key');
  return { jwtSecret: jwt, adminToken, adminTokenFile, biscuitPrivateKey: typeof bk === 'string' ? bk : undefined };
}

/**
 * The generated token goes to a file rather than to stderr, which systemd keeps in the journal for
 * anyone in the adm group. Created 0600 (never readable by others, even for an instant), replacing a
 * stale file left by an earlier database.
 */
function writeOwnerOnly(file: string, text: string): string {
  const fd = openSync(file, 'w', 0o600);
  try {
    chmodSync(file, 0o600);
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return file;
}

export function saveBiscuitKey(db: Database, hex: string): void {
  db.meta.putSync('biscuit_private_key', hex);
}
