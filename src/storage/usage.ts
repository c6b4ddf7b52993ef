// UsageStore: the anonymous active-user count. Per app, an id's last day seen and platform (nothing else:
// no IP, no user agent), and an index by day so that counting and the expiry sweep read only what they need.

/** What is stored for one id: the contract allows nothing more. */
export interface UsageEntry {
  id: string;
  platform: string;
  /** Days since the Unix epoch (UTC). */
  day: number;
}

export interface UsageStore {
  get(appId: string, id: string): UsageEntry | undefined;
  /** Writes every entry (replacing an id's earlier day) in one commit. */
  putMany(entries: { appId: string; entry: UsageEntry }[]): Promise<void>;
  /** Ids of the app seen on `day`, on `platform` (undefined = all). */
  countDay(appId: string, day: number, platform: string | undefined): number;
  /** At most `limit` entries, ordered by app and id, after the given one (a page of them: `broker migrate`). */
  page(after: { appId: string; id: string } | undefined, limit: number): { appId: string; entry: UsageEntry }[];
  /** Deletes at most `limit` entries last seen before `beforeDay`; answers how many it deleted. */
  sweep(beforeDay: number, limit: number): Promise<number>;
}
