// Tiny HTTP helpers over fetch for tests.
import { ADMIN } from './broker.js';

export interface Answer<T = any> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

export async function request<T = any>(url: string, init: RequestInit = {}): Promise<Answer<T>> {
  const res = await fetch(url, init);
  const text = await res.text();
  let body: any;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  return { status: res.status, headers: res.headers, body, text };
}

export function post<T = any>(
  base: string,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Answer<T>> {
  return request<T>(base + path, {
    method: 'POST',
    body: typeof body === 'string' ? body : JSON.stringify(body),
    headers,
  });
}

export function get<T = any>(base: string, path: string, headers: Record<string, string> = {}): Promise<Answer<T>> {
  return request<T>(base + path, { headers });
}

export const bearer = (jwt: string) => ({ authorization: `Bearer ${jwt}` });
export const basic = (user: string, pass: string) => ({
  authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`,
});

let counter = 0;
/** Creates a user (unique name unless given) and returns its name, password and a fresh JWT. */
export async function makeUser(
  base: string,
  fields: Record<string, unknown> = {},
): Promise<{ username: string; password: string; jwt: string; tenant: string }> {
  const username =
    (fields.username as string) ?? `user${process.pid}_${++counter}_${Math.random().toString(36).slice(2, 8)}`;
  const password = (fields.password as string) ?? 'correct horse battery staple';
  const tenant = (fields.tenant_name as string) ?? 'tenant-a';
  const created = await post(base, '/create_user', {
    admin_token: ADMIN,
    username,
    password,
    tenant_name: tenant,
    ...fields,
  });
  if (created.status !== 200) throw new Error(`create_user failed: ${created.status} ${created.text}`);
  if (fields.two_factor) return { username, password, jwt: '', tenant };
  const login = await post<{ jwt: string }>(base, '/login', { username, password });
  if (login.status !== 200) throw new Error(`login failed: ${login.status} ${login.text}`);
  return { username, password, jwt: login.body.jwt, tenant };
}
