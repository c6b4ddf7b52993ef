// The server's secrets in LMDB's meta tree: jwt_secret, admin_token, biscuit_private_key, topic_private_jwk.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { writeFileAtomic } from '../../lib/atomic-file.js';
import { ADMIN_TOKEN_FILE, type SecretStore, type StoredSecrets } from '../secrets.js';
import type { Database } from './database.js';
import { classified } from './errors.js';

export class LmdbSecretStore implements SecretStore {
  constructor(private readonly db: Database) {}

  /** Called once per start, before anything else reads or writes these keys: no race to guard. */
  private async getOrCreate(key: string, make: () => string): Promise<string> {
    const existing = this.db.meta.get(key);
    if (typeof existing === 'string') return existing;
    const value = make();
    await classified(this.db.meta.put(key, value));
    return value;
  }

  async load(given: { jwtSecret?: string; adminToken?: string }): Promise<StoredSecrets> {
    const jwtSecret =
      given.jwtSecret ?? (await this.getOrCreate('jwt_secret', () => randomBytes(32).toString('base64url')));
    let adminToken = given.adminToken;
    let adminTokenFile: string | undefined;
    if (adminToken === undefined) {
      // 32 random bytes: as strong as --secure requires of a token given by hand.
      // The file is written before the token is kept: a failed write leaves no token nobody was told.
      adminToken = await this.getOrCreate('admin_token', () => {
        const token = randomBytes(32).toString('base64url');
        // To a file rather than to stderr, which systemd keeps in the journal for anyone in the adm group.
        // Owner-only from its first instant, replacing a stale file left by an earlier database.
        adminTokenFile = join(this.db.path, ADMIN_TOKEN_FILE);
        writeFileAtomic(adminTokenFile, `${token}\n`, 0o600);
        return token;
      });
    }
    const bk = this.db.meta.get('biscuit_private_key');
    const tk = this.db.meta.get('topic_private_jwk');
    return {
      jwtSecret,
      adminToken,
      adminTokenFile,
      biscuitPrivateKey: typeof bk === 'string' ? bk : undefined,
      topicPrivateJwk: typeof tk === 'string' ? tk : undefined,
    };
  }

  async saveBiscuitKey(hex: string): Promise<void> {
    await classified(this.db.meta.put('biscuit_private_key', hex));
  }

  async saveTopicKey(jwk: string): Promise<void> {
    await classified(this.db.meta.put('topic_private_jwk', jwk));
  }
}
