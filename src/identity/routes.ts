// The identity routes any client calls: create_user (admin), login, verify, password_reset.
import type { FastifyInstance } from 'fastify';
import { authenticate } from '../http/authenticate.js';
import { requireAdmin } from '../http/require-admin.js';
import { anyJson, body, nullableBool, nullableScopes, nullableStr, str } from '../http/schema.js';
import type { Verifier } from '../tokens/verification.js';
import type { Credentials } from './credentials.js';
import type { Login } from './login.js';
import type { PasswordResets } from './password-reset.js';
import type { NewUser, Users } from './users.js';

export interface IdentityRouteParts {
  users: Users;
  login: Login;
  resets: PasswordResets;
  credentials: Credentials;
  verifier: Verifier;
  adminToken: string;
  /** --body_limit: create_user's `data` may be that large. */
  bodyLimit: number;
}

export function identityRoutes(app: FastifyInstance, parts: IdentityRouteParts): void {
  const { users, login, resets, credentials, verifier } = parts;

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
      preHandler: requireAdmin(parts.adminToken),
      config: { rateLimitGroup: 'admin' },
      bodyLimit: parts.bodyLimit,
    },
    async (req) => {
      const { admin_token: _token, ...input } = req.body;
      await users.create(input);
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
      const { jwt } = await login.attempt(req.body.username, req.body.password, req.body.totp ?? undefined);
      return { jwt };
    },
  );

  app.get('/verify', { config: { rateLimitGroup: 'user' } }, async (req) =>
    verifier.answer(await authenticate(credentials, req.headers.authorization)),
  );

  app.post<{ Body: { totp: string; username: string; password: string } }>(
    '/password_reset',
    {
      schema: body(['totp', 'username', 'password'], { totp: str, username: str, password: str }),
      config: { rateLimitGroup: 'login' },
    },
    async (req) => {
      await resets.reset(req.body.username, req.body.totp, req.body.password);
      return {};
    },
  );
}
