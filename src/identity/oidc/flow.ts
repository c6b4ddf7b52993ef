// "Sign in with your identity provider": the authorization code flow with PKCE (S256), state and nonce
// kept server-side and single-use (pending.ts), the ID token validated by openid-client (issuer,
// audience, expiry, nonce, and its signature against the provider's JWKS: client.ts), the identity
// mapped by (issuer, subject) (links.ts), a user with two-factor asked for a code, then a Broker JWT.
// No HTTP here: routes.ts turns each outcome into a redirect (the JWT in the fragment) or a page.
import * as oidc from 'openid-client';
import { badRequest } from '../../errors.js';
import type { UserRecord, UserStore } from '../../storage/users.js';
import type { Tokens } from '../../tokens/tokens.js';
import type { LoginAttempts } from '../login-attempts.js';
import { type TwoFactor, consume } from '../two-factor.js';
import { type OidcClient, describe } from './client.js';
import type { IdentityLinks } from './links.js';
import { PendingStore } from './pending.js';

export type Outcome =
  | { kind: 'signed-in'; returnTo: string; jwt: string }
  | { kind: 'second-factor'; pending: string; wrongCode: boolean }
  /** returnTo undefined: the request cannot be tied to a login Broker started (no safe place to go). */
  | { kind: 'failed'; returnTo: string | undefined; code: string; why: string };

interface LoginState {
  verifier: string;
  nonce: string;
  returnTo: string;
}

interface FactorState {
  username: string;
  tokenVersion: number;
  returnTo: string;
  tries: number;
  expiresAt: number;
}

/** Logins in progress at once, and how long each may take at the provider. */
const MAX_LOGINS = 10_000;
const LOGIN_TTL_MS = 10 * 60_000;
/** The TOTP page: this long, this many wrong codes (each also counts toward the account's lock). */
const FACTOR_TTL_MS = 5 * 60_000;
const MAX_FACTOR_TRIES = 5;
const MAX_RETURN_TO = 2048;

export interface OidcFlowParts {
  client: OidcClient;
  links: IdentityLinks;
  store: UserStore;
  twoFactor: TwoFactor;
  attempts: LoginAttempts;
  tokens: Tokens;
  /** The origins return_to may be on (--origin, or the origin of --oidc_redirect_base when that is `*`). */
  origins: ReadonlySet<string>;
  now: () => number;
}

export class OidcFlow {
  private readonly logins: PendingStore<LoginState>;
  private readonly factors: PendingStore<FactorState>;

  constructor(private readonly parts: OidcFlowParts) {
    this.logins = new PendingStore(MAX_LOGINS, LOGIN_TTL_MS, parts.now);
    this.factors = new PendingStore(MAX_LOGINS, FACTOR_TTL_MS, parts.now);
  }

  /** return_to, checked: an absolute http(s) URL on an allowed origin (no open redirect), else 400. */
  returnTo(value: string): string {
    let url: URL | undefined;
    try {
      url = value.length <= MAX_RETURN_TO ? new URL(value) : undefined;
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:'))
      throw badRequest(`return_to must be an absolute http(s) URL of at most ${MAX_RETURN_TO} characters`);
    if (!this.parts.origins.has(url.origin)) throw badRequest(`return_to's origin ${url.origin} is not allowed`);
    url.hash = '';
    return url.href;
  }

  /** The provider's authorization URL for a new login; the provider's state lives here until the callback. */
  async start(returnTo: string): Promise<URL> {
    const config = await this.parts.client.configuration();
    const verifier = oidc.randomPKCECodeVerifier();
    const nonce = oidc.randomNonce();
    const state = this.logins.put({ verifier, nonce, returnTo });
    return oidc.buildAuthorizationUrl(config, {
      redirect_uri: this.parts.client.redirectUri,
      response_type: 'code',
      scope: this.parts.client.settings.scopes,
      state,
      nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
  }

  /** The provider's redirect back: `query` is the callback's query string. */
  async callback(query: URLSearchParams): Promise<Outcome> {
    const state = query.get('state');
    const login = state ? this.logins.take(state) : undefined;
    if (!state || !login)
      return { kind: 'failed', returnTo: undefined, code: 'invalid_state', why: 'unknown, used or expired state' };
    const fail = (code: string, why: string): Outcome => ({ kind: 'failed', returnTo: login.returnTo, code, why });
    const error = query.get('error');
    if (error !== null) {
      const code = /^[a-z_]{1,64}$/.test(error) ? error : 'provider_error';
      return fail(
        code,
        `the provider answered ${error.slice(0, 64)}: ${(query.get('error_description') ?? '').slice(0, 200)}`,
      );
    }
    let config: oidc.Configuration;
    try {
      config = await this.parts.client.configuration();
    } catch (err) {
      return fail('provider_unavailable', describe(err));
    }
    const current = new URL(this.parts.client.redirectUri);
    current.search = query.toString();
    let claims: oidc.IDToken | undefined;
    try {
      const tokens = await oidc.authorizationCodeGrant(config, current, {
        pkceCodeVerifier: login.verifier,
        expectedState: state,
        expectedNonce: login.nonce,
        idTokenExpected: true,
      });
      claims = tokens.claims();
    } catch (err) {
      const network = err instanceof TypeError || /fetch|ECONN|timeout|abort/i.test(describe(err));
      return fail(network ? 'provider_unavailable' : 'invalid_response', describe(err));
    }
    if (!claims) return fail('invalid_response', 'no ID token');
    let user: UserRecord | undefined;
    try {
      user = await this.parts.links.userFor(claims);
    } catch (err) {
      return fail('login_failed', `could not make a user for ${claims.iss} ${claims.sub}: ${describe(err)}`);
    }
    if (!user) return fail('login_failed', `the identity ${claims.iss} ${claims.sub} is linked to no user`);
    if (user.revoked) return fail('revoked', `user ${user.username} is revoked`);
    if (user.two_factor) {
      const at = this.parts.now();
      const factor = { username: user.username, tokenVersion: user.token_version, returnTo: login.returnTo };
      const pending = this.factors.put({ ...factor, tries: 0, expiresAt: at + FACTOR_TTL_MS });
      return { kind: 'second-factor', pending, wrongCode: false };
    }
    const { jwt } = await this.parts.tokens.issue(user.username, user.token_version);
    return { kind: 'signed-in', returnTo: login.returnTo, jwt };
  }

  /** The TOTP (or recovery) code of a two-factor user, after the provider said who they are. */
  async secondFactor(pending: string, code: string): Promise<Outcome> {
    const state = this.factors.take(pending);
    if (!state || state.expiresAt <= this.parts.now())
      return { kind: 'failed', returnTo: undefined, code: 'invalid_state', why: 'unknown, used or expired sign-in' };
    const { attempts, store, twoFactor } = this.parts;
    const release = await attempts.enter(state.username);
    try {
      const user = store.get(state.username);
      const current = (u: UserRecord | undefined) => !!u && !u.revoked && u.token_version === state.tokenVersion;
      if (!user || !current(user))
        return { kind: 'failed', returnTo: state.returnTo, code: 'login_failed', why: 'the user changed meanwhile' };
      const factor = twoFactor.check(user, code.slice(0, 64));
      let accepted = false;
      if (factor)
        await store.update(state.username, (u) => {
          accepted = false; // a change may run again (UserStore.update): only its last run counts
          if (!current(u) || !consume(u, factor)) return false;
          accepted = true;
          u.failures = 0;
          u.locked_until = 0;
        });
      if (!accepted) {
        await attempts.failed(state.username, store.get(state.username));
        if (state.tries + 1 >= MAX_FACTOR_TRIES)
          return { kind: 'failed', returnTo: state.returnTo, code: 'login_failed', why: 'too many wrong codes' };
        this.factors.put({ ...state, tries: state.tries + 1 }, pending);
        return { kind: 'second-factor', pending, wrongCode: true };
      }
      attempts.succeeded(state.username);
      const { jwt } = await this.parts.tokens.issue(state.username, state.tokenVersion);
      return { kind: 'signed-in', returnTo: state.returnTo, jwt };
    } finally {
      release();
    }
  }
}
