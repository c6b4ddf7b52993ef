// Shared steps of the apps tests: an app and a key made through the admin routes, key-carrying requests.
import { ADMIN } from '../helpers/broker.js';
import { type Answer, post, request } from '../helpers/http.js';

let counter = 0;
export const uniqueId = (prefix = 'app') => `${prefix}${process.pid}_${++counter}`;

export async function createApp(url: string, fields: Record<string, unknown> = {}): Promise<{ app_id: string }> {
  const app_id = (fields.app_id as string) ?? uniqueId();
  const answer = await post(url, '/create_app', { admin_token: ADMIN, app_id, ...fields });
  if (answer.status !== 200) throw new Error(`create_app: ${answer.status} ${answer.text}`);
  return answer.body;
}

export interface NewKey {
  key: string;
  key_id: string;
  app_id: string;
}

export async function createKey(url: string, app_id: string, fields: Record<string, unknown> = {}): Promise<NewKey> {
  const answer = await post(url, '/create_api_key', {
    admin_token: ADMIN,
    app_id,
    permissions: { count: true, log: true, crash: true, user: true, management: true },
    ...fields,
  });
  if (answer.status !== 200) throw new Error(`create_api_key: ${answer.status} ${answer.text}`);
  return answer.body;
}

/** An app and a key with every permission. */
export async function appWithKey(url: string, keyFields: Record<string, unknown> = {}) {
  const app = await createApp(url);
  return await createKey(url, app.app_id, keyFields);
}

/** A request under a key (X-API-Key), a JSON body unless undefined. */
export function call<T = any>(
  url: string,
  method: string,
  path: string,
  key: string | undefined,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Answer<T>> {
  return request<T>(url + path, {
    method,
    headers: { ...(key === undefined ? {} : { 'x-api-key': key }), ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** A crash report's body (POST /crash), with any field replaced. */
export const crash = (fields: Record<string, unknown> = {}) => ({
  platform: 'ios',
  version: '1.0',
  error: 'TypeError: x is undefined',
  stack: 'at main (app.js:1)\nat run (app.js:2)',
  ...fields,
});
