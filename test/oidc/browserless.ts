// Driving the authorization code flow with plain HTTP, as a browser would: redirects followed by hand,
// cookies carried per host, the provider's login and consent forms filled in and posted.
export class Agent {
  private readonly cookies = new Map<string, Map<string, string>>();

  async fetch(url: string, init: RequestInit = {}): Promise<Response> {
    const { host } = new URL(url);
    const jar = this.cookies.get(host) ?? new Map<string, string>();
    this.cookies.set(host, jar);
    const headers = new Headers(init.headers);
    if (jar.size) headers.set('cookie', [...jar].map(([k, v]) => `${k}=${v}`).join('; '));
    const res = await fetch(url, { ...init, headers, redirect: 'manual' });
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair.indexOf('=');
      const value = pair.slice(eq + 1);
      if (value === '' || /expires=Thu, 01 Jan 1970/i.test(line)) jar.delete(pair.slice(0, eq));
      else jar.set(pair.slice(0, eq), value);
    }
    return res;
  }
}

export interface Landing {
  /** Where Broker finally sent the browser (return_to with #jwt= or #error=), if it did. */
  location?: string;
  /** Broker's two-factor page, when it asked for a code. */
  page?: string;
  /** The callback URL the provider redirected to (to replay it). */
  callback?: string;
  status: number;
  body?: string;
}

const attr = (tag: string, name: string) => new RegExp(`${name}="([^"]*)"`).exec(tag)?.[1];

/** Follows redirects from `url`, signing in as `login` on the provider's form, until Broker answers. */
export async function follow(
  agent: Agent,
  url: string,
  options: { login?: string; brokerOrigin: string; cancel?: boolean; stopAtCallback?: boolean },
): Promise<Landing> {
  let next = url;
  let init: RequestInit = {};
  let callback: string | undefined;
  for (let step = 0; step < 25; step++) {
    if (new URL(next).pathname === '/auth/oidc/callback') {
      callback = next;
      if (options.stopAtCallback) return { callback, status: 0 };
    }
    const res = await agent.fetch(next, init);
    init = {};
    const location = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && location) {
      const target = new URL(location, next).href;
      const onBroker =
        new URL(next).origin === options.brokerOrigin && !new URL(next).pathname.startsWith('/auth/oidc/login');
      if (onBroker) return { location: target, callback, status: res.status };
      next = target;
      continue;
    }
    const body = await res.text();
    if (new URL(next).origin === options.brokerOrigin) {
      return { page: res.status === 200 ? body : undefined, callback, status: res.status, body };
    }
    if (options.cancel) {
      const abort = /href="([^"]*\/abort)"/.exec(body)?.[1];
      if (abort) {
        next = new URL(abort, next).href;
        continue;
      }
    }
    const form = /<form[^>]*>/.exec(body)?.[0];
    if (!form) throw new Error(`no form at ${next} (${res.status}): ${body.slice(0, 300)}`);
    const fields = new URLSearchParams();
    for (const input of body.matchAll(/<input[^>]*>/g)) {
      const name = attr(input[0], 'name');
      if (!name) continue;
      if (name === 'login') fields.set(name, options.login ?? 'alice');
      else if (name === 'password') fields.set(name, 'any password');
      else fields.set(name, attr(input[0], 'value') ?? '');
    }
    next = new URL(attr(form, 'action') ?? next, next).href;
    init = {
      method: 'POST',
      body: fields.toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    };
  }
  throw new Error('too many steps');
}

/** The Broker JWT or error code in a landing's fragment. */
export function fragment(landing: Landing): { jwt?: string; error?: string } {
  if (!landing.location) return {};
  const hash = new URLSearchParams(new URL(landing.location).hash.slice(1));
  return { jwt: hash.get('jwt') ?? undefined, error: hash.get('error') ?? undefined };
}
