// The CrashStore in LMDB: `crashes` [app, report id] → report, `crash_archive` [app, digest] → true.
import type { CrashChange, CrashReport, CrashStore } from '../crashes.js';
import type { Database } from './database.js';
import { classified } from './errors.js';

const END = '\uffff';

export class LmdbCrashStore implements CrashStore {
  constructor(private readonly db: Database) {}

  get(appId: string, id: string): CrashReport | undefined {
    return this.db.crashes.get([appId, id]);
  }

  async update(appId: string, id: string, change: CrashChange): Promise<void> {
    await classified(() =>
      this.db.root.transaction(() => {
        const current = this.db.crashes.get([appId, id]);
        const next = change(current && structuredClone(current));
        if (next === false) return;
        if (next === undefined) void this.db.crashes.remove([appId, id]);
        else void this.db.crashes.put([appId, id], next);
      }),
    );
  }

  list(appId: string, limit: number): CrashReport[] {
    return Array.from(this.db.crashes.getRange({ start: [appId], end: [appId, END], limit }), ({ value }) => value);
  }

  async delete(appId: string, id: string): Promise<boolean> {
    return classified(() =>
      this.db.root.transaction(() => {
        if (!this.db.crashes.doesExist([appId, id])) return false;
        void this.db.crashes.remove([appId, id]);
        return true;
      }),
    );
  }

  isArchived(appId: string, digest: string): boolean {
    return this.db.crash_archive.doesExist([appId, digest]);
  }

  async archive(appId: string, digest: string): Promise<void> {
    await classified(() => this.db.crash_archive.put([appId, digest], true));
  }

  archived(appId: string, after: string | undefined, limit: number): string[] {
    const start = after === undefined ? [appId] : [appId, `${after}\u0000`];
    return Array.from(this.db.crash_archive.getKeys({ start, end: [appId, END], limit }), (key) => key[1]);
  }
}
