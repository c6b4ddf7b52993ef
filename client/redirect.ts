// "Sign in with your identity provider" in the browser: send the page to Broker's /auth/oidc/login,
// which comes back to `returnTo` with `#jwt=<token>` (or `#error=<code>`) in the fragment. A fragment
// never reaches a server, so the token stays out of logs and Referer; handleRedirect takes it from
// there and clears it from the address bar.

/** Where OIDC login starts on the server; shared with the server's route. */
export const OIDC_LOGIN_PATH = '/auth/oidc/login';

/** The parts of `window` these use (tests pass their own). */
export interface RedirectWindow {
  location: { href: string; assign(url: string): void };
  history?: { replaceState(data: unknown, unused: string, url?: string): void };
}

/** What a page loaded after the redirect found in its fragment. */
export interface RedirectResult {
  jwt?: string;
  /** The server's reason, e.g. access_denied, revoked, provider_unavailable, invalid_state. */
  error?: string;
}

export function oidcLoginUrl(baseUrl: string, returnTo: string): string {
  return `${baseUrl}${OIDC_LOGIN_PATH}?return_to=${encodeURIComponent(returnTo)}`;
}

/**
 * The sign-in result in `href`'s fragment and the same URL without it; undefined when the fragment
 * holds neither `jwt` nor `error` (a page's own fragment is left alone).
 */
export function readRedirect(href: string): (RedirectResult & { cleaned: string }) | undefined {
  const at = href.indexOf('#');
  if (at < 0) return undefined;
  const params = new URLSearchParams(href.slice(at + 1));
  const jwt = params.get('jwt') ?? undefined;
  const error = params.get('error') ?? undefined;
  if (jwt === undefined && error === undefined) return undefined;
  return { ...(jwt ? { jwt } : {}), ...(error ? { error } : {}), cleaned: href.slice(0, at) };
}

export function currentWindow(): RedirectWindow {
  const w = (globalThis as { window?: RedirectWindow }).window;
  if (!w?.location) throw new TypeError('no window: pass one (loginWithRedirect and handleRedirect run in a browser)');
  return w;
}
