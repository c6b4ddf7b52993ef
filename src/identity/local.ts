// --local: one user on one machine, no login. The user `local` in tenant `local` is made on the first
// start; a request that sends no credentials acts as that user (credentials.ts, anonymous), while sent
// credentials are still checked and admin routes still need the admin token. config.ts keeps the server
// on loopback, and the startup log says that every process of the machine can read and write the data.
import { randomBytes } from 'node:crypto';
import type { UserStore } from '../storage/users.js';
import type { Users } from './users.js';

export const LOCAL_USER = 'local';
export const LOCAL_TENANT = 'local';

/** Makes the local user unless it exists (an admin may have changed it since: it is left as it is). */
export async function ensureLocalUser(users: Users, store: UserStore): Promise<void> {
  if (store.get(LOCAL_USER)) return;
  // Nobody knows it: the local user signs in by sending nothing. An admin may set one (update_user).
  await users.create({
    username: LOCAL_USER,
    password: randomBytes(32).toString('base64url'),
    tenant_name: LOCAL_TENANT,
  });
}
