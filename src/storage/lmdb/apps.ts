// The AppStore in LMDB: apps by app_id, keys by the hex SHA-256 of the key, emails of app users.
import type { AppRecord, AppStore, KeyRecord } from '../apps.js';
import type { Database } from './database.js';
import { classified } from './errors.js';

export class LmdbAppStore implements AppStore {
  constructor(private readonly db: Database) {}

  getApp(appId: string): AppRecord | undefined {
    return this.db.apps.get(appId);
  }

  async createApp(app: AppRecord): Promise<boolean> {
    return classified(() =>
      this.db.root.transaction(() => {
        if (this.db.apps.doesExist(app.app_id)) return false;
        void this.db.apps.put(app.app_id, app);
        return true;
      }),
    );
  }

  async deleteApp(appId: string): Promise<boolean> {
    return classified(() =>
      this.db.root.transaction(() => {
        if (!this.db.apps.doesExist(appId)) return false;
        void this.db.apps.remove(appId);
        // Keys are few (an admin makes them): a walk over them at an app's deletion is bounded.
        for (const { key, value } of this.db.api_keys.getRange({}))
          if (value.app_id === appId) void this.db.api_keys.remove(key);
        return true;
      }),
    );
  }

  listApps(): AppRecord[] {
    return Array.from(this.db.apps.getRange({}), ({ value }) => value);
  }

  listKeys(): KeyRecord[] {
    return Array.from(this.db.api_keys.getRange({}), ({ value }) => value);
  }

  async putKey(key: KeyRecord): Promise<void> {
    await classified(() => this.db.api_keys.put(key.hash, key));
  }

  async putKeys(keys: KeyRecord[]): Promise<void> {
    await classified(() =>
      this.db.root.transaction(() => {
        // Only keys that still exist: a flush must not bring back a key deleted meanwhile.
        for (const key of keys) if (this.db.api_keys.doesExist(key.hash)) void this.db.api_keys.put(key.hash, key);
      }),
    );
  }

  async deleteKey(hash: string): Promise<boolean> {
    return classified(() =>
      this.db.root.transaction(() => {
        if (!this.db.api_keys.doesExist(hash)) return false;
        void this.db.api_keys.remove(hash);
        return true;
      }),
    );
  }
}
