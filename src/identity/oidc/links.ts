// An external identity → a Broker user, by (issuer, subject) only: the first login makes a user in
// --oidc_tenant and links it; later logins find that user whatever the provider says about the email
// now. The email is kept only when the provider says it is verified (else anyone could claim another's).
import { randomBytes } from 'node:crypto';
import type { IdentityLinkStore } from '../../storage/accounts.js';
import type { UserRecord, UserStore } from '../../storage/users.js';
import { MAX_USERNAME_BYTES, normalizeName } from '../user-fields.js';
import type { Users } from '../users.js';

/** The claims of a validated ID token that the mapping reads. */
export interface IdClaims {
  iss: string;
  sub: string;
  preferred_username?: unknown;
  email?: unknown;
  email_verified?: unknown;
}

/** How many `name-2`, `name-3`, ... are tried before a random suffix. */
const NUMBERED_TRIES = 20;

export class IdentityLinks {
  /** First logins of one identity in flight: a second waits for the first, so one user is made. */
  private readonly creating = new Map<string, Promise<UserRecord>>();

  constructor(
    private readonly links: IdentityLinkStore,
    private readonly store: UserStore,
    private readonly users: Users,
    private readonly tenant: string,
    private readonly now: () => number,
  ) {}

  /** The linked user (undefined when the link points at no user), making and linking one on a first login. */
  async userFor(claims: IdClaims): Promise<UserRecord | undefined> {
    const linked = this.links.find(claims.iss, claims.sub);
    if (linked !== undefined) return this.store.get(linked);
    const key = JSON.stringify([claims.iss, claims.sub]);
    let making = this.creating.get(key);
    if (!making) {
      making = this.firstLogin(claims).finally(() => this.creating.delete(key));
      this.creating.set(key, making);
    }
    return making;
  }

  private async firstLogin(claims: IdClaims): Promise<UserRecord> {
    const email = claims.email_verified === true && typeof claims.email === 'string' ? claims.email : null;
    const user = await this.createUnique(baseName(claims), email);
    if (
      !(await this.links.link({
        issuer: claims.iss,
        subject: claims.sub,
        username: user.username,
        linked_at: this.now(),
      }))
    )
      throw new Error('the identity could not be linked');
    return user;
  }

  private async createUnique(base: string, email: string | null): Promise<UserRecord> {
    // Nobody knows the password: this user signs in through the provider (an admin may set one).
    const password = randomBytes(32).toString('base64url');
    for (let i = 1; i <= NUMBERED_TRIES + 1; i++) {
      const suffix = i === 1 ? '' : i <= NUMBERED_TRIES ? `-${i}` : `-${randomBytes(6).toString('hex')}`;
      const username = withSuffix(base, suffix);
      if (this.store.get(username)) continue;
      try {
        return await this.users.create({ username, password, tenant_name: this.tenant, email });
      } catch (err) {
        // Taken meanwhile, or an email the field rules refuse: try the next name, or without the email.
        if (email !== null && /email/.test((err as Error).message)) email = null;
      }
    }
    throw new Error('no free username for this identity');
  }
}

/** preferred_username, else the email, else a name from the subject; one the field rules accept. */
function baseName(claims: IdClaims): string {
  for (const candidate of [claims.preferred_username, claims.email]) {
    if (typeof candidate !== 'string') continue;
    try {
      return normalizeName('username', candidate.trim(), MAX_USERNAME_BYTES - 20);
    } catch {
      /* try the next one */
    }
  }
  return `oidc-${Buffer.from(claims.sub).toString('base64url').slice(0, 24)}`;
}

function withSuffix(base: string, suffix: string): string {
  let name = base;
  while (Buffer.byteLength(name + suffix) > MAX_USERNAME_BYTES) name = name.slice(0, -1);
  return name + suffix;
}
