// Bench accounts on a broker under test: created with the admin token, logged in for a JWT. Every
// answer is checked, so a broken setup stops the bench with its status instead of measuring 401s.
import { BENCH_ADMIN } from './constants.js';

export const BENCH_PASSWORD = 'correct horse battery staple';

export interface BenchUser {
  username: string;
  password: string;
}

async function expectOk(res: Response, what: string): Promise<void> {
  if (res.status !== 200)
    throw new Error(`bench setup: ${what} answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
}

/** Creates user `name` (tenant "bench") on the broker at `url`; throws unless the broker answers 200. */
export async function createBenchUser(url: string, name: string): Promise<BenchUser> {
  const user = { username: name, password: BENCH_PASSWORD };
  const res = await fetch(`${url}/create_user`, {
    method: 'POST',
    body: JSON.stringify({ admin_token: BENCH_ADMIN, ...user, tenant_name: 'bench' }),
  });
  await expectOk(res, `POST /create_user for "${name}"`);
  return user;
}

/** Logs `user` in and returns its JWT; throws unless the broker answers 200 with one. */
export async function loginBenchUser(url: string, user: BenchUser): Promise<string> {
  const res = await fetch(`${url}/login`, { method: 'POST', body: JSON.stringify(user) });
  await expectOk(res, `POST /login for "${user.username}"`);
  const { jwt } = (await res.json()) as { jwt?: unknown };
  if (typeof jwt !== 'string')
    throw new Error(`bench setup: POST /login for "${user.username}" answered 200 without a jwt`);
  return jwt;
}
