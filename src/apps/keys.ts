// API keys: random (192 bits), shown once, stored only as their SHA-256 (the store's key). Every key is
// also held here in memory, by hash, id and origin, so that the check each app request makes is one hash
// and one map lookup: no scan, no argon2. `last_used` is kept here and written at most once a minute per
// key, in one batch (flush), never a write per request.
import { randomBytes, randomUUID } from 'node:crypto';
import { badRequest, notFound } from '../errors.js';
import { sha256Hex } from '../lib/digest.js';
import type { AppStore, KeyChange, KeyRecord } from '../storage/apps.js';

/** How often a key's last_used may be written. */
export const LAST_USED_RESOLUTION_MS = 60_000;
/** Keys a broker holds at most (an admin makes them; the in-memory maps stay bounded). */
export const MAX_KEYS = 10_000;
export const MAX_ORIGINS = 32;

export interface KeyFields {
  alias?: string;
  permissions?: Record<string, boolean>;
  death?: number;
  allowed_origins?: string[];
}

/** What list_api_keys shows: everything but the hash. */
export type PublicKey = Omit<KeyRecord, 'hash'>;

export function toPublicKey({ hash: _h, ...rest }: KeyRecord): PublicKey {
  return rest;
}

/** `user` has the alias `auth` (Stupid Backend's name). */
export function hasPermission(key: KeyRecord, name: string): boolean {
  return key.permissions[name] === true || (name === 'user' && key.permissions.auth === true);
}

const ORIGIN = /^https?:\/\/[A-Za-z0-9.\-[\]:]{1,253}$/;

function checkFields(fields: KeyFields): void {
  if (fields.alias !== undefined && fields.alias.length > 256) throw badRequest('alias must be at most 256 characters');
  if (fields.permissions !== undefined && Object.keys(fields.permissions).length > 64)
    throw badRequest('permissions must have at most 64 names');
  if (fields.death !== undefined && (!Number.isSafeInteger(fields.death) || fields.death < -1))
    throw badRequest('death must be -1 or Unix seconds');
  if (fields.allowed_origins !== undefined) {
    if (fields.allowed_origins.length > MAX_ORIGINS)
      throw badRequest(`allowed_origins must have at most ${MAX_ORIGINS} origins`);
    for (const o of fields.allowed_origins)
      if (!ORIGIN.test(o))
        throw badRequest(`allowed_origins: "${o.slice(0, 100)}" is not an origin (https://host[:port])`);
  }
}

export class ApiKeys {
  private readonly byHash = new Map<string, KeyRecord>();
  private readonly byId = new Map<string, KeyRecord>();
  private byOrigin = new Map<string, KeyRecord>();
  private readonly dirty = new Set<KeyRecord>();

  constructor(
    private readonly store: AppStore,
    private readonly now: () => number,
    private readonly managementApp: string | undefined,
  ) {
    for (const key of store.listKeys()) this.remember(key);
    this.indexOrigins();
    // A cluster node: keys made, changed and deleted on any node (this one's own included) come here too.
    store.keyChanges?.subscribe((change) => this.follow(change));
  }

  async create(appId: string, fields: KeyFields): Promise<{ key: string; record: KeyRecord }> {
    checkFields(fields);
    if (this.byHash.size >= MAX_KEYS) throw badRequest(`a broker holds at most ${MAX_KEYS} API keys`);
    const key = `bk_${randomBytes(24).toString('base64url')}`;
    const record: KeyRecord = {
      hash: sha256Hex(key),
      key_id: randomUUID(),
      app_id: appId,
      alias: fields.alias ?? '',
      permissions: fields.permissions ?? {},
      death: fields.death ?? -1,
      allowed_origins: fields.allowed_origins ?? [],
      created: this.now(),
      last_used: 0,
    };
    await this.store.putKey(record);
    this.remember(record);
    this.indexOrigins();
    return { key, record };
  }

  list(appId: string | undefined): KeyRecord[] {
    return [...this.byId.values()].filter((k) => appId === undefined || k.app_id === appId);
  }

  countOf(appId: string): number {
    let n = 0;
    for (const key of this.byId.values()) if (key.app_id === appId) n++;
    return n;
  }

  async update(keyId: string, fields: KeyFields): Promise<void> {
    checkFields(fields);
    const current = this.byId.get(keyId);
    if (!current) throw notFound(`no API key "${keyId.slice(0, 100)}"`);
    const next: KeyRecord = { ...current, ...definedOf(fields) };
    await this.store.putKey(next);
    this.forget(current);
    this.remember(next);
    this.indexOrigins();
  }

  async delete(keyId: string): Promise<void> {
    const current = this.byId.get(keyId);
    if (!current) throw notFound(`no API key "${keyId.slice(0, 100)}"`);
    this.forget(current);
    this.indexOrigins();
    await this.store.deleteKey(current.hash);
  }

  /** The app's keys are gone from the store (AppStore.deleteApp): they die here at once. */
  forgetApp(appId: string): void {
    for (const key of this.list(appId)) this.forget(key);
    this.indexOrigins();
  }

  /** The live key a secret is, or undefined (unknown, deleted or dead). Marks it used. */
  resolve(secret: string): KeyRecord | undefined {
    if (secret.length > 256) return undefined;
    return this.used(this.byHash.get(sha256Hex(secret)));
  }

  /** The live key whose allowed_origins hold this origin, or undefined. */
  fromOrigin(origin: string): KeyRecord | undefined {
    return this.used(this.byOrigin.get(origin));
  }

  /** Whether some live key allows this browser origin (CORS on the app routes). */
  originAllowed(origin: string): boolean {
    const key = this.byOrigin.get(origin);
    return !!key && this.alive(key);
  }

  isManagement(key: KeyRecord): boolean {
    return this.managementApp !== undefined && key.app_id === this.managementApp;
  }

  /** Writes the last_used of the keys used since the last flush, in one commit. */
  async flush(): Promise<void> {
    if (this.dirty.size === 0) return;
    const batch = [...this.dirty];
    this.dirty.clear();
    await this.store.putKeys(batch.filter((k) => this.byId.get(k.key_id) === k));
  }

  private alive(key: KeyRecord): boolean {
    return key.death === -1 || this.now() <= key.death * 1000;
  }

  private used(key: KeyRecord | undefined): KeyRecord | undefined {
    if (!key || !this.alive(key)) return undefined;
    const now = this.now();
    if (now - key.last_used >= LAST_USED_RESOLUTION_MS) {
      key.last_used = now;
      this.dirty.add(key);
    }
    return key;
  }

  /** A key write applied from the cluster's stream: the index takes it, keeping this node's later last_used. */
  private follow(change: KeyChange): void {
    if ('appDeleted' in change) {
      this.forgetApp(change.appDeleted);
      return;
    }
    if ('deleted' in change) {
      const mine = this.byHash.get(change.deleted);
      if (mine) this.forget(mine);
    } else {
      for (const key of change.put) {
        const next = { ...key };
        const mine = this.byHash.get(key.hash);
        if (mine) {
          next.last_used = Math.max(mine.last_used, key.last_used);
          const dirty = this.dirty.has(mine);
          this.forget(mine);
          if (dirty) this.dirty.add(next);
        }
        this.remember(next);
      }
    }
    this.indexOrigins();
  }

  private remember(key: KeyRecord): void {
    this.byHash.set(key.hash, key);
    this.byId.set(key.key_id, key);
  }

  private forget(key: KeyRecord): void {
    this.byHash.delete(key.hash);
    this.byId.delete(key.key_id);
    this.dirty.delete(key);
  }

  /** Rebuilt on every key change (rare, admin-made; at most MAX_KEYS × MAX_ORIGINS entries). */
  private indexOrigins(): void {
    const index = new Map<string, KeyRecord>();
    for (const key of this.byId.values()) for (const origin of key.allowed_origins) index.set(origin, key);
    this.byOrigin = index;
  }
}

function definedOf(fields: KeyFields): Partial<KeyRecord> {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
}
