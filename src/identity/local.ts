// --local: one user on one machine, no login. The user `local` in tenant `local` is made on the first
// start; a request that sends no credentials acts as that user (credentials.ts, anonymous), while sent
// credentials are still checked and admin routes still need the admin token. config.ts keeps the server
// on loopback, and the startup log says that every process of the machine can read and write the data.
import { randomBytes, randomUUID } from 'node:crypto';
import type { UserRecord, UserStore } from '../storage/users.js';
import { hashPassword } from './passwords.js';
import { newTotpSecret } from './totp.js';

export const LOCAL_USER = 'local';
export const LOCAL_TENANT = 'local';

/** Makes the local user unless it exists (an admin may have changed it since: it is left as it is). */
export async function ensureLocalUser(store: UserStore, now: () => number): Promise<void> {
  if (store.get(LOCAL_USER)) return;
  const at = now();
  const user: UserRecord = {
    id: randomUUID(),
    username: LOCAL_USER,
    // Nobody knows it: the local user signs in by sending nothing. An admin may set one (update_user).
    password: await hashPassword(randomBytes(32).toString('base64url')),
    totp: newTotpSecret(),
    revoked: false,
    tenant_name: LOCAL_TENANT,
    email: null,
    scopes: null,
    data: null,
    two_factor: null,
    token_version: 0,
    totp_last_step: 0,
    reset: null,
    failures: 0,
    locked_until: 0,
    recovery_codes: [],
    created_at: at,
    updated_at: at,
  };
  await store.create(user);
}
