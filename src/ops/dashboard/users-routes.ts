// The dashboard's Users page: a searched, paged listing and the admin actions of identity/admin-routes.ts
// over the same domain calls (no admin_token in the body: the guard in routes.ts checked the session).
import type { FastifyInstance } from 'fastify';
import { badRequest } from '../../errors.js';
import { body, nullableBool, nullableScopes, nullableStr, str } from '../../http/schema.js';
import type { Identity } from '../../identity/identity.js';
import type { NewUser, UserChanges } from '../../identity/users.js';
import { toPublicUser } from '../../storage/users.js';

export const USERS_PAGE_MAX = 100;
const MAX_QUERY_CHARS = 256;

export interface DashboardUserParts {
  identity: Identity;
}

type Named = { username: string };

export function userRoutes(app: FastifyInstance, parts: DashboardUserParts): void {
  const { users, twoFactor, resets } = parts.identity;
  const named = { schema: body(['username'], { username: str }) };

  app.get<{ Querystring: { q?: string; offset?: string; limit?: string } }>('/_/api/users', async (req) => {
    const q = typeof req.query.q === 'string' ? req.query.q.trim().toLowerCase() : '';
    if (q.length > MAX_QUERY_CHARS) throw badRequest(`q must be at most ${MAX_QUERY_CHARS} characters`);
    const offset = pageNumber(req.query.offset, 0, 'offset');
    const limit = Math.min(USERS_PAGE_MAX, Math.max(1, pageNumber(req.query.limit, 25, 'limit')));
    // users.list() is the in-memory index the admin listing reads too; the answer is one bounded page.
    const all = users.list();
    const found = q
      ? all.filter((u) => [u.username, u.tenant_name, u.email ?? ''].some((f) => f.toLowerCase().includes(q)))
      : all;
    return { total: found.length, offset, users: found.slice(offset, offset + limit).map(toPublicUser) };
  });

  app.post<{ Body: NewUser }>(
    '/_/api/users',
    {
      schema: body(['username', 'password', 'tenant_name'], {
        username: str,
        password: str,
        tenant_name: str,
        email: nullableStr,
        two_factor: nullableBool,
        scopes: nullableScopes,
      }),
    },
    async (req) => toPublicUser(await users.create(req.body)),
  );

  app.post<{ Body: Named & UserChanges }>(
    '/_/api/users/update',
    {
      schema: body(['username'], {
        username: str,
        tenant_name: str,
        password: str,
        email: nullableStr,
        scopes: nullableScopes,
        two_factor: nullableBool,
      }),
    },
    async (req) => {
      const { username, ...changes } = req.body;
      return toPublicUser(await users.update(username, changes));
    },
  );

  app.post<{ Body: Named & { revoked: boolean } }>(
    '/_/api/users/revoke',
    { schema: body(['username', 'revoked'], { username: str, revoked: { type: 'boolean' } }) },
    async (req) => {
      await users.setRevoked(req.body.username, req.body.revoked);
      return {};
    },
  );

  app.post<{ Body: Named }>('/_/api/users/qr', named, async (req) => ({
    qr: await twoFactor.createQr(req.body.username),
  }));

  // A reset code is a credential: as /create_totp, it shares the login routes' per-IP limit.
  app.post<{ Body: Named }>(
    '/_/api/users/reset_code',
    { ...named, config: { rateLimitGroup: 'login' } },
    async (req) => ({
      totp: await resets.create(req.body.username),
    }),
  );

  app.post<{ Body: Named }>('/_/api/users/recovery_codes', named, async (req) => ({
    codes: await twoFactor.createRecoveryCodes(req.body.username),
  }));
}

function pageNumber(value: unknown, fallback: number, what: string): number {
  if (value === undefined || value === '') return fallback;
  if (typeof value !== 'string' || !/^\d{1,9}$/.test(value)) throw badRequest(`${what} must be a non-negative integer`);
  return Number(value);
}
