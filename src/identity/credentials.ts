// The credentials a request carries, checked without HTTP (src/http/authenticate.ts reads them from the
// request): a user JWT, checked against the user's token version, or a username and password (Basic: a
// password check on every request, counted toward the lock like a login).
import { unauthorized } from '../errors.js';
import { sha256 } from '../lib/digest.js';
import type { TokenDenylist } from '../storage/accounts.js';
import type { UserStore } from '../storage/users.js';
import type { Tokens } from '../tokens/tokens.js';
import { LOCAL_USER } from './local.js';
import type { LoginAttempts } from './login-attempts.js';
import { verifyPassword } from './passwords.js';
import type { Principal } from './principal.js';
import { MAX_USERNAME_BYTES } from './user-fields.js';
import { storedKey } from './users.js';

export class Credentials {
  constructor(
    private readonly store: UserStore,
    private readonly tokens: Tokens,
    private readonly attempts: LoginAttempts,
    private readonly denied: TokenDenylist,
    /** --local: a request without credentials acts as the local user. */
    private readonly local: boolean,
  ) {}

  /** A request that sent no credentials: the local user in --local mode, else 401. */
  anonymous(): Principal {
    const user = this.local ? this.store.get(LOCAL_USER) : undefined;
    if (!user || user.revoked) throw unauthorized('missing Authorization header');
    return { kind: 'local', user, exp: undefined };
  }

  /** Anything malformed, expired, tampered, revoked or older than the user's last password change → 401. */
  async bearer(jwt: string): Promise<Principal> {
    const claims = jwt ? this.tokens.verify(jwt) : undefined;
    if (!claims) throw unauthorized('invalid or expired token');
    const user = this.store.get(claims.sub);
    if (!user || user.revoked || claims.tv !== user.token_version) throw unauthorized('invalid or expired token');
    // A token its user logged out of (POST /logout): one local read, by the token's hash and expiry.
    if (this.denied.has(tokenHash(jwt), claims.exp)) throw unauthorized('invalid or expired token');
    return { kind: 'user', user, exp: claims.exp };
  }

  async password(name: string, password: string): Promise<Principal> {
    if (Buffer.byteLength(name) > MAX_USERNAME_BYTES) throw unauthorized('invalid credentials');
    const username = storedKey(this.store, name);
    const release = await this.attempts.enter(username);
    try {
      const checked = this.store.get(username);
      const ok = await verifyPassword(checked?.password, password);
      // Read again after the hash's await: a revoke, password change or tenant move meanwhile must not
      // let this request act on the record it read before (a stream opened from it would outlive them).
      const user = this.store.get(username);
      const current =
        !!user && !!checked && user.password === checked.password && user.token_version === checked.token_version;
      // Basic cannot carry a second factor: a two-factor user must log in for a token. Every refusal
      // counts toward the lock, or a right password refused for 2FA would be told apart from a wrong one.
      if (!user || !ok || !current || user.revoked || user.two_factor) {
        await this.attempts.failed(username, user);
        throw unauthorized('invalid credentials');
      }
      // Basic is checked on every request: write only when there is a failure count to clear.
      if (this.attempts.needsClearing(username, user)) {
        await this.store.update(username, (u) => {
          u.failures = 0;
          u.locked_until = 0;
        });
        this.attempts.succeeded(username);
      }
      return { kind: 'user', user, exp: undefined };
    } finally {
      release();
    }
  }
}

/** The key a token is denied by: its sha256, so that the list holds no usable token. */
export function tokenHash(jwt: string): string {
  return sha256(jwt).toString('base64url');
}
