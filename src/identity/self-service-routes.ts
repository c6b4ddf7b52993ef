// Self-service routes: a user's own token (Bearer, Basic, or nothing in --local mode) acts on its own
// account (self-service.ts). Each is a user route: authenticated before the body is read.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { principalOf, requireUser } from '../http/authenticate.js';
import { body, nullableStr, str } from '../http/schema.js';
import type { Credentials } from './credentials.js';
import type { SelfService } from './self-service.js';
import { MAX_ISSUER_CHARS } from './user-fields.js';
import { badRequest } from '../errors.js';

export interface SelfServiceParts {
  selfService: SelfService;
  credentials: Credentials;
}

/** The Bearer token a request carries, for /logout (which ends exactly that token). */
function bearerOf(req: FastifyRequest): string | undefined {
  const match = /^bearer\s+(.+)$/i.exec(req.headers.authorization ?? '');
  return match ? match[1].trim() : undefined;
}

export function selfServiceRoutes(app: FastifyInstance, parts: SelfServiceParts): void {
  const { selfService } = parts;
  const user = { preParsing: requireUser(parts), config: { rateLimitGroup: 'user' as const } };
  // A password or a code is a credential: these share the login routes' per-IP limit.
  const guessing = { preParsing: requireUser(parts), config: { rateLimitGroup: 'login' as const } };

  app.post<{ Body: { password: string; new_password: string } }>(
    '/change_password',
    { schema: body(['password', 'new_password'], { password: str, new_password: str }), ...guessing },
    async (req) => {
      const { jwt, exp } = await selfService.changePassword(principalOf(req), req.body.password, req.body.new_password);
      return { jwt, exp };
    },
  );

  app.post<{ Body: { issuer?: string | null } | undefined }>(
    '/enroll_totp',
    { schema: { body: { type: ['object', 'null'], properties: { issuer: nullableStr } } }, ...user },
    async (req) => {
      const issuer = req.body?.issuer ?? undefined;
      if (issuer !== undefined && issuer.length > MAX_ISSUER_CHARS)
        throw badRequest(`issuer must be at most ${MAX_ISSUER_CHARS} characters`);
      return selfService.enrollTotp(principalOf(req), issuer);
    },
  );

  app.post<{ Body: { totp: string } }>(
    '/confirm_totp',
    { schema: body(['totp'], { totp: str }), ...guessing },
    async (req) => selfService.confirmTotp(principalOf(req), req.body.totp),
  );

  app.post('/logout', user, async (req) => {
    await selfService.logout(principalOf(req), bearerOf(req));
    return {};
  });

  app.post('/logout_all', user, async (req) => {
    await selfService.logoutAll(principalOf(req));
    return {};
  });
}
