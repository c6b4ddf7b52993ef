// The HTTP face of "Sign in with your identity provider" (flow.ts): /auth/oidc/login redirects to the
// provider, /auth/oidc/callback comes back from it, /auth/oidc/totp takes a two-factor user's code.
// The Broker JWT goes to return_to in the fragment (#jwt=), never the query: a fragment is not sent to
// servers, so it stays out of their logs and of Referer. A failure goes there as #error=<code>.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../../config.js';
import { badRequest } from '../../errors.js';
import type { Identity } from '../identity.js';
import { OidcClient } from './client.js';
import { OidcFlow, type Outcome } from './flow.js';
import { IdentityLinks } from './links.js';
import { secondFactorPage } from './page.js';

export interface OidcRouteParts {
  identity: Pick<Identity, 'identityLinks' | 'store' | 'users' | 'twoFactor' | 'attempts' | 'tokens'>;
  config: Pick<
    Config,
    | 'origin'
    | 'oidc_issuer_uri'
    | 'oidc_client_id'
    | 'oidc_client_secret'
    | 'oidc_redirect_base'
    | 'oidc_scopes'
    | 'oidc_tenant'
  >;
  now: () => number;
}

/** The origins return_to may be on: --origin's list; with `*`, only Broker's own public origin. */
export function returnOrigins(origin: string, redirectBase: string): Set<string> {
  if (origin.trim() === '*') return new Set([new URL(redirectBase).origin]);
  const origins = new Set<string>();
  for (const entry of origin.split(',')) {
    // An origin as a URL gives it (`https://app.example/` and `https://app.example` are one origin).
    try {
      if (entry.trim() !== '*') origins.add(new URL(entry.trim()).origin);
    } catch {
      /* not a URL: no return_to can be on it */
    }
  }
  return origins;
}

const FORM = 'application/x-www-form-urlencoded';

export function oidcRoutes(app: FastifyInstance, { identity, config, now }: OidcRouteParts): void {
  if (!config.oidc_issuer_uri || !config.oidc_client_id || !config.oidc_redirect_base) return;
  const log = app.log.child({ component: 'oidc' });
  const client = new OidcClient(
    {
      issuer: config.oidc_issuer_uri,
      clientId: config.oidc_client_id,
      clientSecret: config.oidc_client_secret,
      redirectBase: config.oidc_redirect_base,
      scopes: config.oidc_scopes,
      tenant: config.oidc_tenant,
    },
    (message) => log.info(message),
  );
  const links = new IdentityLinks(identity.identityLinks, identity.store, identity.users, config.oidc_tenant, now);
  const flow = new OidcFlow({
    client,
    links,
    store: identity.store,
    twoFactor: identity.twoFactor,
    attempts: identity.attempts,
    tokens: identity.tokens,
    origins: returnOrigins(config.origin, config.oidc_redirect_base),
    now,
  });
  // Discovery at start; a failure is logged by the client and retried by the next login.
  app.addHook('onReady', async () => {
    void client.configuration().catch(() => {});
  });

  const answer = (req: FastifyRequest, reply: FastifyReply, outcome: Outcome) => {
    if (outcome.kind === 'second-factor') {
      return reply.type('text/html; charset=utf-8').send(secondFactorPage(outcome.pending, outcome.wrongCode));
    }
    if (outcome.kind === 'signed-in') return reply.redirect(withFragment(outcome.returnTo, 'jwt', outcome.jwt), 302);
    req.log.warn({ code: outcome.code }, `OIDC login failed: ${outcome.why}`);
    if (outcome.returnTo === undefined) throw badRequest(`sign-in failed (${outcome.code}): start again`);
    return reply.redirect(withFragment(outcome.returnTo, 'error', outcome.code), 302);
  };

  app.get<{ Querystring: { return_to?: unknown } }>(
    '/auth/oidc/login',
    { config: { rateLimitGroup: 'login' } },
    async (req, reply) => {
      const value = req.query.return_to;
      if (typeof value !== 'string') throw badRequest('return_to is required (one absolute URL)');
      const returnTo = flow.returnTo(value);
      try {
        return reply.redirect((await flow.start(returnTo)).href, 302);
      } catch (err) {
        if ((err as { statusCode?: number }).statusCode === 503) throw err;
        req.log.warn('OIDC login failed: the provider is unavailable (discovery failed)');
        return reply.redirect(withFragment(returnTo, 'error', 'provider_unavailable'), 302);
      }
    },
  );

  app.get('/auth/oidc/callback', { config: { rateLimitGroup: 'login' } }, async (req, reply) => {
    const query = new URLSearchParams(req.url.slice(req.url.indexOf('?') + 1 || req.url.length));
    return answer(req, reply, await flow.callback(query));
  });

  app.register(async (scope) => {
    // The page's form posts as a browser does; a script may post JSON.
    scope.addContentTypeParser(FORM, { parseAs: 'string', bodyLimit: 4096 }, (_req, text, done) => {
      done(null, Object.fromEntries(new URLSearchParams(text as string)));
    });
    scope.post<{ Body: { pending: string; totp: string } }>(
      '/auth/oidc/totp',
      {
        schema: {
          body: {
            type: 'object',
            required: ['pending', 'totp'],
            properties: { pending: { type: 'string', maxLength: 100 }, totp: { type: 'string', maxLength: 64 } },
          },
        },
        config: { rateLimitGroup: 'login' },
      },
      async (req, reply) => answer(req, reply, await flow.secondFactor(req.body.pending, req.body.totp.trim())),
    );
  });
}

function withFragment(url: string, name: string, value: string): string {
  const target = new URL(url);
  target.hash = `${name}=${encodeURIComponent(value)}`;
  return target.href;
}
