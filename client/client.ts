// BrokerClient: the broker's HTTP API over fetch (browsers cannot send an Authorization header with
// EventSource, so streams use fetch too), holding the token and renewing it through the app's hook.
import type { BackoffOptions } from './backoff.js';
import { BrokerError, errorFrom } from './errors.js';
import { tokenTimes } from './jwt.js';
import { type RedirectResult, type RedirectWindow, currentWindow, oidcLoginUrl, readRedirect } from './redirect.js';
import type { HistoryEvent, HistoryPage, Verification } from './protocol.js';
import type { SubscribeOptions } from './subscribe-options.js';
import { Subscription } from './subscription.js';

export interface BrokerClientOptions {
  /** The broker's base URL, e.g. "https://broker.example.com". */
  url: string;
  /** A JWT from an earlier login, or none until login(). */
  token?: string;
  /**
   * Renews the token: called shortly before the token expires (while a subscription is open) and after
   * a 401. Either call `client.login(...)` inside (the client keeps the new token; what it returns is
   * ignored) or resolve with the new token as a string.
   * Without it, a 401 is final.
   */
  relogin?: (client: BrokerClient) => Promise<unknown>;
  /** Renew this long before `exp` (capped at half the token's lifetime). Default 60000. */
  refreshMarginMs?: number;
  /** Reconnection delays of subscriptions. */
  reconnect?: BackoffOptions;
  /**
   * A stream silent for this long is presumed dead (a half-open TCP connection) and reconnected. The
   * broker sends a heartbeat every --heartbeat seconds (15 by default): keep this well above that.
   * Default 45000.
   */
  idleTimeoutMs?: number;
  /**
   * A request other than a stream (login, insert, verify, history) that has no answer after this long
   * fails with a transient BrokerError (status 0) instead of hanging. Default 30000.
   */
  timeoutMs?: number;
  /** The fetch to use. Default: the global fetch. */
  fetch?: typeof fetch;
}

export class BrokerClient {
  readonly url: string;
  /** @internal */ readonly options: BrokerClientOptions;
  /** @internal */ readonly fetchImpl: typeof fetch;
  private currentToken: string | undefined;
  private relogging: Promise<void> | undefined;
  private refreshTimer: ReturnType<typeof setTimeout> | undefined;
  /** Open subscriptions: the proactive renewal only runs while something is streaming. */
  private active = 0;

  constructor(options: BrokerClientOptions) {
    if (!options || typeof options.url !== 'string') throw new TypeError('BrokerClient needs { url }');
    this.options = options;
    this.url = options.url.replace(/\/+$/, '');
    this.currentToken = options.token;
    const f = options.fetch ?? globalThis.fetch;
    if (typeof f !== 'function') throw new TypeError('no fetch available: pass { fetch }');
    // Bound, because browsers throw "Illegal invocation" for a fetch called with another `this`.
    this.fetchImpl = f.bind(globalThis);
  }

  get token(): string | undefined {
    return this.currentToken;
  }

  /** Sets (or clears) the token, e.g. one restored from storage. */
  setToken(token: string | undefined): void {
    this.currentToken = token;
    this.scheduleRefresh();
  }

  /**
   * Sends the browser to the server's identity-provider login; it comes back to `returnTo` (default: this
   * page), which calls handleRedirect(). `returnTo` must be on an origin the server allows (--origin).
   */
  loginWithRedirect(returnTo?: string, win: RedirectWindow = currentWindow()): void {
    win.location.assign(oidcLoginUrl(this.url, returnTo ?? win.location.href.split('#')[0]));
  }

  /**
   * On the page the login came back to: keeps the token from `#jwt=` (as login() does) and clears the
   * fragment from the address bar. Undefined when the page was not reached by a login redirect.
   */
  handleRedirect(win: RedirectWindow = currentWindow()): RedirectResult | undefined {
    const found = readRedirect(win.location.href);
    if (!found) return undefined;
    win.history?.replaceState(null, '', found.cleaned);
    if (found.jwt) this.setToken(found.jwt);
    return found.jwt ? { jwt: found.jwt } : { error: found.error };
  }

  /** Logs in and keeps the token for every later call. */
  async login(username: string, password: string, totp?: string): Promise<{ jwt: string }> {
    const body: Record<string, string> = { username, password };
    if (totp !== undefined) body.totp = totp;
    const res = await this.send(
      '/login',
      {
        method: 'POST',
        body: JSON.stringify(body),
        headers: { 'content-type': 'application/json' },
        signal: this.deadline(),
      },
      'login',
    );
    if (!res.ok) throw await errorFrom(res, 'login');
    const { jwt } = JSON.parse(await this.readBody(res, 'login')) as { jwt: string };
    this.setToken(jwt);
    return { jwt };
  }

  /** Appends an event to the tenant's log; resolves once it is durable, with its id. */
  async insert<T = unknown>(event: string, data: T): Promise<{ id: number }> {
    return (await this.authed(
      '/insert',
      { method: 'POST', body: JSON.stringify({ event, data }), headers: { 'content-type': 'application/json' } },
      'insert',
    )) as { id: number };
  }

  /** The token's username, scopes and expiry, with the biscuit for offline checks. */
  async verify(): Promise<Verification> {
    return (await this.authed('/verify', { method: 'GET' }, 'verify')) as Verification;
  }

  /** A page of the tenant's log: events with id > after (default 0), at most limit (server default 100). */
  async history<T = unknown>(
    options: { after?: number; limit?: number; event?: string } = {},
  ): Promise<HistoryEvent<T>[]> {
    const query = new URLSearchParams();
    if (options.after !== undefined) query.set('after', String(options.after));
    if (options.limit !== undefined) query.set('limit', String(options.limit));
    if (options.event !== undefined) query.set('event', options.event);
    const qs = query.toString();
    const answer = (await this.authed(`/events${qs ? `?${qs}` : ''}`, { method: 'GET' }, 'history')) as HistoryPage<T>;
    return answer.events;
  }

  /**
   * Streams the tenant's events: first the latest of each name (or everything after `lastEventId`),
   * then live, reconnecting by itself and resuming where it stopped, until close() or the signal.
   */
  subscribe(options: SubscribeOptions): Subscription {
    return new Subscription(this, options);
  }

  // ----- internals shared with Subscription -----

  /** @internal */
  async send(path: string, init: RequestInit, what: string): Promise<Response> {
    try {
      return await this.fetchImpl(this.url + path, { ...init, cache: 'no-store' });
    } catch (err) {
      if ((err as Error)?.name === 'AbortError') throw err;
      throw Object.assign(new BrokerError(0, `${what}: network error: ${(err as Error)?.message ?? String(err)}`), {
        cause: err,
      });
    }
  }

  /**
   * Reads an answer's body. The deadline can fire while the body is still arriving: that is the same
   * transient BrokerError (status 0) as a request that got no answer, not a bare DOMException.
   */
  private async readBody(res: Response, what: string): Promise<string> {
    try {
      return await res.text();
    } catch (err) {
      if ((err as Error)?.name === 'AbortError') throw err;
      throw Object.assign(
        new BrokerError(0, `${what}: the answer was cut off: ${(err as Error)?.message ?? String(err)}`),
        { cause: err },
      );
    }
  }

  /** @internal Authorization headers for the current token (none without one). */
  authHeaders(): Record<string, string> {
    return this.currentToken ? { authorization: `Bearer ${this.currentToken}` } : {};
  }

  /** @internal */
  get canRelogin(): boolean {
    return typeof this.options.relogin === 'function';
  }

  /**
   * @internal Renews the token through the hook, once for everyone waiting: concurrent 401s of several
   * streams and requests share one login. `stale` is the token that failed: if it has already been
   * replaced, the new one is used without asking the hook again.
   */
  async relogin(stale: string | undefined): Promise<void> {
    if (!this.options.relogin) throw new BrokerError(401, 'not authenticated and no relogin hook');
    if (this.currentToken !== stale) return;
    this.relogging ??= (async () => {
      try {
        const token = await this.options.relogin!(this);
        if (typeof token === 'string') this.setToken(token);
      } finally {
        this.relogging = undefined;
      }
    })();
    await this.relogging;
  }

  /** @internal Before connecting: renew a token that is missing, expired or about to expire. */
  async ensureFreshToken(): Promise<void> {
    if (!this.canRelogin) return;
    if (!this.currentToken || this.msUntilRefresh() <= 0) await this.relogin(this.currentToken);
  }

  /** @internal */
  retain(): void {
    this.active++;
    this.scheduleRefresh();
  }

  /** @internal */
  release(): void {
    this.active = Math.max(0, this.active - 1);
    this.scheduleRefresh();
  }

  /** ms until the token should be renewed (Infinity when it has no exp). */
  private msUntilRefresh(): number {
    const { exp, iat } = tokenTimes(this.currentToken);
    if (exp === undefined) return Infinity;
    const lifetimeMs = iat !== undefined ? (exp - iat) * 1000 : Infinity;
    const margin = Math.min(this.options.refreshMarginMs ?? 60_000, lifetimeMs / 2);
    return exp * 1000 - margin - Date.now();
  }

  /**
   * The broker ends a stream when its token expires; renewing before that means the reconnection that
   * follows carries a valid token at once, instead of a 401 round trip first.
   */
  private scheduleRefresh(): void {
    if (this.refreshTimer !== undefined) clearTimeout(this.refreshTimer);
    this.refreshTimer = undefined;
    if (this.active === 0 || !this.canRelogin || !this.currentToken) return;
    const ms = this.msUntilRefresh();
    if (!Number.isFinite(ms)) return;
    const token = this.currentToken;
    this.refreshTimer = setTimeout(
      () => {
        this.refreshTimer = undefined;
        this.relogin(token).catch(() => {
          // The streams meet the same failure as a 401 and report it through onError; try again later.
          if (this.refreshTimer === undefined && this.currentToken === token)
            this.refreshTimer = setTimeout(() => this.scheduleRefresh(), 5000);
        });
      },
      Math.max(0, Math.min(ms, 2 ** 31 - 1)),
    );
    // In Node, a pending renewal alone must not keep the process alive.
    (this.refreshTimer as { unref?: () => void }).unref?.();
  }

  private deadline(): AbortSignal {
    return AbortSignal.timeout(this.options.timeoutMs ?? 30_000);
  }

  /** A request with the token, renewed and retried once after a 401 when a hook is set. */
  private async authed(path: string, init: RequestInit, what: string): Promise<unknown> {
    await this.ensureFreshToken();
    for (let attempt = 0; ; attempt++) {
      const token = this.currentToken;
      const res = await this.send(
        path,
        {
          ...init,
          headers: { ...(init.headers as Record<string, string>), ...this.authHeaders() },
          signal: this.deadline(),
        },
        what,
      );
      if (res.status === 401 && attempt === 0 && this.canRelogin) {
        // A request refused with 401 was not applied, so sending it again cannot duplicate it.
        await res.body?.cancel();
        await this.relogin(token);
        continue;
      }
      if (!res.ok) throw await errorFrom(res, what);
      const text = await this.readBody(res, what);
      return text ? (JSON.parse(text) as unknown) : {};
    }
  }
}
