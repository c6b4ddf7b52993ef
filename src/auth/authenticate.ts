// Authenticating a request: a Bearer JWT (checked against the user's token version) or Basic
// credentials (a password check on every request, counted toward the lock like a login).
import { unauthorized } from '../errors.js';
import type { UserRecord, UserStore } from '../storage/users.js';
import type { LoginAttempts } from './login-attempts.js';
import { verifyPassword } from './passwords.js';
import type { Tokens } from './tokens.js';
import { MAX_USERNAME_BYTES } from './user-fields.js';

/** Who made a request, once authenticated. `exp` (seconds) is undefined for Basic auth. */
export interface Principal {
  user: UserRecord;
  exp: number | undefined;
}

export class Authenticator {
  constructor(
    private readonly users: UserStore,
    private readonly tokens: Tokens,
    private readonly attempts: LoginAttempts,
    /** The stored key a given username means (identity.ts). */
    private readonly keyOf: (username: string) => string,
  ) {}

  async authenticate(header: string | undefined): Promise<Principal> {
    if (!header) throw unauthorized('missing Authorization header');
    const space = header.indexOf(' ');
    const scheme = space < 0 ? header : header.slice(0, space);
    const credentials = space < 0 ? '' : header.slice(space + 1).trim();
    if (/^bearer$/i.test(scheme)) return this.token(credentials);
    if (/^basic$/i.test(scheme)) return this.basic(credentials);
    throw unauthorized('unsupported Authorization scheme');
  }

  async token(jwt: string): Promise<Principal> {
    const claims = jwt ? this.tokens.verify(jwt) : undefined;
    if (!claims) throw unauthorized('invalid or expired token');
    const user = this.users.get(claims.sub);
    if (!user || user.revoked || claims.tv !== user.token_version) throw unauthorized('invalid or expired token');
    return { user, exp: claims.exp };
  }

  private async basic(credentials: string): Promise<Principal> {
    if (!/^[A-Za-z0-9+/]+=*$/.test(credentials)) throw unauthorized('malformed Basic credentials');
    const decoded = Buffer.from(credentials, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw unauthorized('malformed Basic credentials');
    const password = decoded.slice(colon + 1);
    if (Buffer.byteLength(decoded.slice(0, colon)) > MAX_USERNAME_BYTES) throw unauthorized('invalid credentials');
    const username = this.keyOf(decoded.slice(0, colon));
    const release = await this.attempts.enter(username);
    try {
      const checked = this.users.get(username);
      const ok = await verifyPassword(checked?.password, password);
      // Read again after the hash's await: a revoke, password change or tenant move meanwhile must not
      // let this request act on the record it read before (a stream opened from it would outlive them).
      const user = this.users.get(username);
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
        await this.users.update(username, (u) => {
          u.failures = 0;
          u.locked_until = 0;
        });
        this.attempts.succeeded(username);
      }
      return { user, exp: undefined };
    } finally {
      release();
    }
  }
}
