// Identity: the parts of users, logins, two-factor and password resets, built over one user store. It
// holds no rules of its own (each part does) and knows no HTTP: routes.ts and admin-routes.ts are its
// faces, and each route group takes the parts it uses.
import type { IdentityLinkStore, TokenDenylist } from '../storage/accounts.js';
import type { UserRecord, UserStore } from '../storage/users.js';
import type { BiscuitIssuer } from '../tokens/biscuit.js';
import type { Tokens } from '../tokens/tokens.js';
import { Verifier } from '../tokens/verification.js';
import { Credentials } from './credentials.js';
import { Login } from './login.js';
import { LoginAttempts } from './login-attempts.js';
import { PasswordResets } from './password-reset.js';
import { SelfService } from './self-service.js';
import { Sessions } from './sessions.js';
import { TwoFactor } from './two-factor.js';
import { Users } from './users.js';

export interface IdentityOptions {
  passwordChecker: boolean;
  totpDuration: number;
  jwtExpiry: number;
  /** --local: requests without credentials act as the local user. */
  local: boolean;
  now: () => number;
}

/** The accounts' stores beside the users (storage/accounts.ts). */
export interface AccountStores {
  identityLinks: IdentityLinkStore;
  deniedTokens: TokenDenylist;
}

export class Identity {
  readonly sessions: Sessions;
  readonly users: Users;
  readonly login: Login;
  readonly twoFactor: TwoFactor;
  readonly resets: PasswordResets;
  readonly selfService: SelfService;
  readonly tokens: Tokens;
  readonly identityLinks: IdentityLinkStore;
  /** Failed logins toward the lock: the OIDC flow's second factor counts here too. */
  readonly attempts: LoginAttempts;
  /** What a request's credentials mean (src/http/authenticate.ts reads them from the request). */
  readonly credentials: Credentials;
  /** /verify's answer. */
  readonly verifier: Verifier;
  /** The sessions' signal, where services.ts wires the hub. */
  readonly sessionEnded: Sessions['sessionEnded'];

  constructor(
    readonly store: UserStore,
    tokens: Tokens,
    biscuit: BiscuitIssuer,
    accounts: AccountStores,
    options: IdentityOptions,
  ) {
    const { now } = options;
    const attempts = new LoginAttempts(store, now);
    this.sessions = new Sessions(store, accounts.deniedTokens);
    this.sessionEnded = this.sessions.sessionEnded;
    this.users = new Users(store, this.sessions, options);
    this.twoFactor = new TwoFactor(store, this.users, now);
    this.login = new Login(store, attempts, this.twoFactor, tokens);
    this.resets = new PasswordResets(store, this.users, attempts, this.sessions, options);
    this.credentials = new Credentials(store, tokens, attempts, accounts.deniedTokens, options.local);
    this.tokens = tokens;
    this.attempts = attempts;
    this.identityLinks = accounts.identityLinks;
    this.selfService = new SelfService(store, this.users, attempts, this.sessions, tokens, accounts.deniedTokens, now);
    this.verifier = new Verifier(biscuit, options);
  }

  /** sessions.isCurrent, for the realtime routes. */
  isCurrent(user: UserRecord): boolean {
    return this.sessions.isCurrent(user);
  }
}
