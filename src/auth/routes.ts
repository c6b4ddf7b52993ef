// The identity routes any client calls: create_user (admin), login, verify, password_reset.
import type { FastifyInstance } from 'fastify';
import { anyJson, body, nullableBool, nullableScopes, nullableStr, str } from '../http/schema.js';
import type { Services } from '../services.js';
import { requireAdmin } from './admin-token.js';
import type { NewUser } from './identity.js';

export function identityRoutes(app: FastifyInstance, services: Services): void {
  const { identity } = services;

  app.post<{ Body: NewUser & { admin_token: string } }>(
    '/create_user',
    {
      schema: body(['username', 'password', 'admin_token', 'tenant_name'], {
        username: str,
        password: str,
        admin_token: str,
        tenant_name: str,
        email: nullableStr,
        two_factor: nullableBool,
        scopes: nullableScopes,
        data: anyJson,
      }),
      preHandler: requireAdmin(services),
      config: { rateLimitGroup: 'admin' },
      bodyLimit: services.config.body_limit,
    },
    async (req) => {
      const { admin_token: _token, ...input } = req.body;
      await identity.createUser(input);
      return {};
    },
  );

  app.post<{ Body: { username: string; password: string; totp?: string | null } }>(
    '/login',
    {
      schema: body(['username', 'password'], { username: str, password: str, totp: nullableStr }),
      config: { rateLimitGroup: 'login' },
    },
    async (req) => {
      const { jwt } = await identity.login(req.body.username, req.body.password, req.body.totp ?? undefined);
      return { jwt };
    },
  );

  app.get('/verify', { config: { rateLimitGroup: 'user' } }, async (req) =>
    identity.verification(await identity.authenticate(req.headers.authorization)),
  );

  app.post<{ Body: { totp: string; username: string; password: string } }>(
    '/password_reset',
    {
      schema: body(['totp', 'username', 'password'], { totp: str, username: str, password: str }),
      config: { rateLimitGroup: 'login' },
    },
    async (req) => {
      await identity.resetPassword(req.body.username, req.body.totp, req.body.password);
      return {};
    },
  );
}
