// The in-memory engine as a Storage bundle: nothing survives close. For tests and for trying an engine's
// seams; the broker's default is LMDB (storage.ts).
import { randomBytes } from 'node:crypto';
import type { SecretStore, StoredSecrets } from '../secrets.js';
import type { Storage, StorageOptions } from '../storage.js';
import { MemoryEventLog } from './event-log.js';
import { MemoryUserStore } from './users.js';

class MemorySecretStore implements SecretStore {
  private readonly kept = new Map<string, string>();

  private getOrCreate(key: string): string {
    let value = this.kept.get(key);
    if (value === undefined) this.kept.set(key, (value = randomBytes(32).toString('base64url')));
    return value;
  }

  async load(given: { jwtSecret?: string; adminToken?: string }): Promise<StoredSecrets> {
    return {
      jwtSecret: given.jwtSecret ?? this.getOrCreate('jwt_secret'),
      adminToken: given.adminToken ?? this.getOrCreate('admin_token'),
      // No directory to write it to: a caller of the memory engine passes its own token.
      adminTokenFile: undefined,
      biscuitPrivateKey: this.kept.get('biscuit_private_key'),
    };
  }

  async saveBiscuitKey(hex: string): Promise<void> {
    this.kept.set('biscuit_private_key', hex);
  }
}

export function openMemoryStorage(options: Pick<StorageOptions, 'now'> = {}): Storage {
  const log = new MemoryEventLog(options.now);
  return {
    path: ':memory:',
    log,
    users: new MemoryUserStore(),
    secrets: new MemorySecretStore(),
    epoch: log.epoch,
    warnings: [],
    usedBytes: () => 0,
    close: async () => {},
  };
}
