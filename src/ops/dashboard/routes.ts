// The admin dashboard at /_/: its built files (dist/dashboard, made by `npm run build:dashboard`, which
// `npm ci` runs), sign-in and sign-out, and the guard every /_/api/ route passes. The JSON routes
// themselves are in users-routes.ts, events-routes.ts and ops-routes.ts: thin faces over the domains.
import fastifyStatic from '@fastify/static';
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { unauthorized } from '../../errors.js';
import { body, str } from '../../http/schema.js';
import { isAdminToken } from '../../identity/admin-token.js';
import type { Services } from '../../services.js';
import { eventRoutes } from './events-routes.js';
import { opsRoutes } from './ops-routes.js';
import { DashboardSessions, SESSION_DEFAULTS } from './sessions.js';
import { userRoutes } from './users-routes.js';

export const COOKIE = 'broker_session';
export const API = '/_/api';

/**
 * Scripts, styles and fetches from Broker itself only, nothing inline; images also as data: URLs (the
 * TOTP QR code arrives as one).
 */
const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/** Where the built files are: dist/dashboard from the compiled server (dist/src/...) or from the source. */
function builtDir(): string {
  const root = fileURLToPath(new URL('../../../', import.meta.url));
  return basename(root) === 'dist' ? join(root, 'dashboard') : join(root, 'dist', 'dashboard');
}

const NOT_BUILT =
  '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Broker dashboard</title></head><body>' +
  '<h1>The dashboard is not built</h1><p>Run <code>npm run build:dashboard</code> (or <code>npm ci</code>) in ' +
  "Broker's directory, then reload this page.</p></body></html>";

function cookieOf(req: FastifyRequest): string | undefined {
  const header = req.headers.cookie;
  if (!header || header.length > 8192) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === COOKIE) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** Broker's own origin as this request reached it (scheme and Host): what a same-origin page sends. */
const ownOrigin = (req: FastifyRequest) => `${req.protocol}://${req.host}`;

export interface DashboardOptions {
  /** Where the built files are (tests point it at a missing directory). */
  dir?: string;
}

export async function dashboardRoutes(app: FastifyInstance, services: Services, options: DashboardOptions = {}) {
  const sessions = new DashboardSessions({ ...SESSION_DEFAULTS, now: services.now });
  const dir = options.dir ?? builtDir();
  const built = existsSync(join(dir, 'index.html'));

  await app.register(async (scope) => {
    scope.addHook('onRequest', async (req, reply) => {
      void reply.header('content-security-policy', CSP);
      // The route that matched, not the raw URL: a percent-encoded path (/_/%61pi/...) reaches the same
      // handler and must meet the same guard.
      const route = req.routeOptions.url ?? '';
      if (!route.startsWith(`${API}/`)) return;
      // CSRF: the cookie is SameSite=Strict, and a request from another origin is refused outright; a
      // state-changing one must say where it comes from (every browser sends Origin on a POST or DELETE).
      const origin = req.headers.origin;
      if (origin !== undefined ? origin !== ownOrigin(req) : req.method !== 'GET' && req.method !== 'HEAD')
        return reply.code(403).send({ error: 'cross-origin request refused' });
      // Signing in needs no session; asking whether one is open answers without refusing (the page's first call).
      if (route === `${API}/session` && req.method !== 'DELETE') return;
      if (!sessions.isValid(cookieOf(req))) return reply.code(401).send({ error: 'not signed in' });
    });

    scope.post<{ Body: { token: string } }>(
      `${API}/session`,
      // Every sign-in counts against the admin routes' per-IP limit: guessing the token here costs the same.
      { schema: body(['token'], { token: str }), config: { rateLimitGroup: 'admin' } },
      async (req, reply) => {
        if (!isAdminToken(req.body.token, services.adminToken)) throw unauthorized('wrong admin token');
        const { id, expiresAt } = sessions.open();
        const secure = services.config.secure || req.protocol === 'https' ? '; Secure' : '';
        const maxAge = Math.floor((expiresAt - services.now()) / 1000);
        void reply.header(
          'set-cookie',
          `${COOKIE}=${id}; Path=/_/; HttpOnly; SameSite=Strict; Max-Age=${maxAge}; ` +
            `Expires=${new Date(expiresAt).toUTCString()}${secure}`,
        );
        return { expires: expiresAt };
      },
    );
    scope.get(`${API}/session`, async (req) => ({ signed_in: sessions.isValid(cookieOf(req)) }));
    scope.delete(`${API}/session`, async (req, reply) => {
      sessions.close(cookieOf(req));
      void reply.header('set-cookie', `${COOKIE}=; Path=/_/; HttpOnly; SameSite=Strict; Max-Age=0`);
      return {};
    });

    const sessionOf = (req: FastifyRequest) => sessions.check(cookieOf(req));
    userRoutes(scope, { identity: services.identity });
    eventRoutes(scope, { services, sessionOf, ended: sessions.ended });
    opsRoutes(scope, { services });

    if (built) {
      await scope.register(fastifyStatic, {
        root: dir,
        prefix: '/_/',
        index: ['index.html'],
        wildcard: true,
        cacheControl: false,
      });
      // Vite names every asset by its content hash: it never changes, so it is cached for good; the page
      // itself is revalidated each time (it names the current assets).
      scope.addHook('onSend', async (req, reply) => {
        if (req.url.startsWith(`${API}/`)) return;
        const hashed = req.url.startsWith('/_/assets/') && reply.statusCode === 200;
        void reply.header('cache-control', hashed ? 'public, max-age=31536000, immutable' : 'no-cache');
      });
    } else {
      scope.get('/_/', async (_req, reply: FastifyReply) => reply.type('text/html; charset=utf-8').send(NOT_BUILT));
    }
  });
  app.get('/_', async (_req, reply) => reply.redirect('/_/'));
  return sessions;
}
