// Apps, as the admin manages them: create, list (with their key counts), delete (keys die at once, users
// stay). An app's users and events belong to its Broker tenant.
import { badRequest, conflict, notFound } from '../errors.js';
import { MAX_TENANT_BYTES, normalizeName } from '../identity/user-fields.js';
import type { AppRecord, AppStore } from '../storage/apps.js';
import type { ApiKeys } from './keys.js';

const APP_ID = /^[A-Za-z0-9_-]{1,64}$/;
export const MAX_APPS = 10_000;

export class AppRegistry {
  constructor(
    private readonly store: AppStore,
    private readonly keys: ApiKeys,
    private readonly now: () => number,
  ) {}

  get(appId: string): AppRecord {
    const app = APP_ID.test(appId) ? this.store.getApp(appId) : undefined;
    if (!app) throw notFound(`no app "${appId.slice(0, 100)}"`);
    return app;
  }

  find(appId: string): AppRecord | undefined {
    return APP_ID.test(appId) ? this.store.getApp(appId) : undefined;
  }

  async create(input: { app_id: string; name?: string; tenant_name?: string }): Promise<AppRecord> {
    if (!APP_ID.test(input.app_id)) throw badRequest('app_id must be 1-64 of A-Z a-z 0-9 _ -');
    if (input.name !== undefined && input.name.length > 256) throw badRequest('name must be at most 256 characters');
    const tenant = normalizeName('tenant_name', input.tenant_name ?? input.app_id, MAX_TENANT_BYTES);
    if (this.store.listApps().length >= MAX_APPS) throw badRequest(`a broker holds at most ${MAX_APPS} apps`);
    const app: AppRecord = {
      app_id: input.app_id,
      name: input.name ?? input.app_id,
      tenant_name: tenant,
      created: this.now(),
    };
    if (!(await this.store.createApp(app))) throw conflict(`app_id "${input.app_id}" is taken`);
    return app;
  }

  list(): (AppRecord & { keys: number })[] {
    return this.store.listApps().map((app) => ({ ...app, keys: this.keys.countOf(app.app_id) }));
  }

  async delete(appId: string): Promise<void> {
    this.get(appId);
    // Refused in memory first: no request is served under these keys while the delete commits.
    this.keys.forgetApp(appId);
    await this.store.deleteApp(appId);
  }
}
