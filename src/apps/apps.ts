// The apps domain (Darkstorm / Stupid Backend parity): its parts over their stores, and its two timers,
// the last_used flush and the usage sweep. routes.ts and admin-routes.ts are its HTTP faces.
import type { Credentials } from '../identity/credentials.js';
import type { Login } from '../identity/login.js';
import type { Users } from '../identity/users.js';
import type { AppStore } from '../storage/apps.js';
import type { CrashStore } from '../storage/crashes.js';
import type { UsageStore } from '../storage/usage.js';
import type { Tokens } from '../tokens/tokens.js';
import { AppUsers } from './app-users.js';
import { Crashes } from './crashes.js';
import { ApiKeys, LAST_USED_RESOLUTION_MS } from './keys.js';
import { AppRegistry } from './registry.js';
import { UsageCounts } from './usage.js';

export interface AppsParts {
  apps: AppStore;
  usage: UsageStore;
  crashes: CrashStore;
  users: Users;
  login: Login;
  credentials: Credentials;
  tokens: Tokens;
  now: () => number;
  managementApp: string | undefined;
  crashRateLimit: number;
}

const SWEEP_INTERVAL_MS = 60_000;

export class Apps {
  readonly keys: ApiKeys;
  readonly registry: AppRegistry;
  readonly usage: UsageCounts;
  readonly crashes: Crashes;
  readonly users: AppUsers;
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(parts: AppsParts) {
    this.keys = new ApiKeys(parts.apps, parts.now, parts.managementApp);
    this.registry = new AppRegistry(parts.apps, this.keys, parts.now);
    this.usage = new UsageCounts(parts.usage, parts.now);
    this.crashes = new Crashes(parts.crashes, parts.now, parts.crashRateLimit);
    this.users = new AppUsers(parts);
  }

  /** The sweep runs at once (a broker down for a month starts clean) and then every minute. */
  start(): void {
    const sweep = () => void this.usage.sweep().catch(() => {});
    const flush = () => void this.keys.flush().catch(() => {});
    sweep();
    this.timers.push(setInterval(sweep, SWEEP_INTERVAL_MS), setInterval(flush, LAST_USED_RESOLUTION_MS));
    for (const t of this.timers) t.unref();
  }

  /** Before the storage closes: the last used times are written. */
  async close(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    await this.keys.flush().catch(() => {});
  }
}
