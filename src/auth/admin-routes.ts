// Admin routes: each takes admin_token in the body; an unknown username → 404.
import type { FastifyInstance } from 'fastify';
import { anyJson, body, nullableBool, nullableScopes, nullableStr, str } from '../http/schema.js';
import type { Services } from '../services.js';
import { toPublicUser } from '../storage/users.js';
import { requireAdmin } from './admin-token.js';
import type { UserChanges } from './identity.js';

type Named = { admin_token: string; username: string };

export function adminRoutes(app: FastifyInstance, services: Services): void {
  const { identity } = services;
  const admin = { preHandler: requireAdmin(services), config: { rateLimitGroup: 'admin' as const } };
  const named = { schema: body(['admin_token', 'username'], { admin_token: str, username: str }), ...admin };

  app.post('/list_users', { schema: body(['admin_token'], { admin_token: str }), ...admin }, async () =>
    identity.listUsers().map(toPublicUser),
  );

  app.post<{ Body: Named }>('/get_user', named, async (req) => toPublicUser(identity.getUser(req.body.username)));

  app.post<{ Body: Named & UserChanges }>(
    '/update_user',
    {
      schema: body(['admin_token', 'username'], {
        admin_token: str,
        username: str,
        tenant_name: str,
        password: str,
        email: nullableStr,
        scopes: nullableScopes,
        data: anyJson,
        two_factor: nullableBool,
      }),
      ...admin,
      bodyLimit: services.config.body_limit,
    },
    async (req) => {
      const { admin_token: _t, username, ...changes } = req.body;
      // Only the fields present change (the original nulled data, scopes and two_factor when omitted).
      await identity.updateUser(username, changes);
      return {};
    },
  );

  app.post<{ Body: Named }>('/revoke_user', named, async (req) => {
    await identity.setRevoked(req.body.username, true);
    return {};
  });

  app.post<{ Body: Named }>('/unrevoke_user', named, async (req) => {
    await identity.setRevoked(req.body.username, false);
    return {};
  });

  app.post<{ Body: Named & { issuer?: string | null } }>(
    '/create_qr',
    { schema: body(['admin_token', 'username'], { admin_token: str, username: str, issuer: nullableStr }), ...admin },
    async (req) => ({ qr: await identity.createQr(req.body.username, req.body.issuer ?? undefined) }),
  );

  // A reset code is a credential: create_totp shares the login routes' per-IP limit.
  app.post<{ Body: Named }>(
    '/create_totp',
    { ...named, config: { rateLimitGroup: 'login' as const } },
    async (req) => ({ totp: await identity.createResetCode(req.body.username) }),
  );

  app.post<{ Body: Named }>('/create_recovery_codes', named, async (req) => ({
    codes: await identity.createRecoveryCodes(req.body.username),
  }));
}
