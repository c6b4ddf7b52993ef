// CrashStore: crash reports per app, keyed by a digest of their group (error and the stack's first line),
// so that a new crash finds its report in one read; and the archive: digests of crashes to drop from now on.

export interface IndividualCrash {
  platform: string;
  version: string;
  error: string;
  stack: string;
  count: number;
  extras?: unknown;
}

export interface CrashReport {
  id: string;
  error: string;
  firstLine: string;
  individual: IndividualCrash[];
}

/** What an update does to a report: change it (answer true) or leave it (false); undefined = none yet. */
export type CrashChange = (report: CrashReport | undefined) => CrashReport | undefined | false;

export interface CrashStore {
  get(appId: string, id: string): CrashReport | undefined;
  /** Read-modify-write in one transaction; a change answering undefined deletes the report. */
  update(appId: string, id: string, change: CrashChange): Promise<void>;
  /** At most `limit` reports of the app. */
  list(appId: string, limit: number): CrashReport[];
  delete(appId: string, id: string): Promise<boolean>;
  isArchived(appId: string, digest: string): boolean;
  archive(appId: string, digest: string): Promise<void>;
  /** At most `limit` archived digests of the app, in order, after `after` (a page of them: `broker migrate`). */
  archived(appId: string, after: string | undefined, limit: number): string[];
}
