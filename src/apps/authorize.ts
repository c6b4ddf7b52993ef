// Which API key a request is under (X-API-Key, ?key=, or an Origin in a key's allowed_origins) and whether
// it may use the route. routes.ts calls it from a preParsing hook: a request without a valid key costs no
// body parsing.
import type { AppRecord, KeyRecord } from '../storage/apps.js';
import type { Apps } from './apps.js';
import { badRequest, invalidKey, noKey } from './errors.js';
import { hasPermission } from './keys.js';

/** What a route asks of the key: one permission, one of several, or a management key (/{appID}/ routes). */
export type Need = { permission: string } | { anyOf: string[] } | { managementKey: true } | { userDelete: true };

export interface AppKey {
  key: KeyRecord;
  /** The app the request acts on: the key's, or the path's for a management key. */
  app: AppRecord;
  /** A management key (--management_app): acts on any app. */
  management: boolean;
}

/** What a request carries that names a key. */
export interface KeyCarrier {
  /** X-API-Key, else ?key=. */
  secret: string | undefined;
  origin: string | undefined;
  /** The path's {appID}, on the management routes. */
  appID: string | undefined;
}

export function authorize(apps: Apps, { secret, origin, appID }: KeyCarrier, need: Need): AppKey {
  let key: KeyRecord | undefined;
  if (secret !== undefined) key = apps.keys.resolve(secret);
  else if (origin !== undefined) key = apps.keys.fromOrigin(origin);
  // An origin no key allows is a request without a key, as a browser page of any site sends one.
  if (!key) throw secret === undefined ? noKey() : invalidKey();
  const management = apps.keys.isManagement(key);
  if ('managementKey' in need || ('userDelete' in need && management)) {
    if (!management) throw invalidKey('this route takes a management key');
    if ('userDelete' in need) return { key, app: apps.registry.get(key.app_id), management };
    const app = appID === undefined ? undefined : apps.registry.find(appID);
    if (!app) throw badRequest(`no app "${(appID ?? '').slice(0, 100)}"`);
    return { key, app, management };
  }
  // A management key acts through the /{appID}/ routes and DELETE /user/{id}, and nothing else.
  if (management) throw invalidKey('a management key acts only through the /{appID}/ routes');
  const names = 'permission' in need ? [need.permission] : 'anyOf' in need ? need.anyOf : ['management'];
  if (!names.some((name) => hasPermission(key, name)))
    throw invalidKey(`this key lacks the permission ${names.join(' or ')}`);
  const app = apps.registry.find(key.app_id);
  // The app is gone (its keys died with it): the key is.
  if (!app) throw invalidKey();
  return { key, app, management };
}
