// Admin routes: each takes admin_token in the body; an unknown username → 404.
import type { FastifyInstance } from 'fastify';
import { requireAdmin } from '../http/require-admin.js';
import { anyJson, body, nullableBool, nullableScopes, nullableStr, str } from '../http/schema.js';
import type { IdentityLinkStore } from '../storage/accounts.js';
import { type UserRecord, toPublicUser } from '../storage/users.js';
import type { PasswordResets } from './password-reset.js';
import type { TwoFactor } from './two-factor.js';
import type { UserChanges, Users } from './users.js';

type Named = { admin_token: string; username: string };

export interface AdminRouteParts {
  users: Users;
  twoFactor: TwoFactor;
  resets: PasswordResets;
  /** Linked external identities: get_user and list_users show them (issuer and subject only). */
  identityLinks: IdentityLinkStore;
  adminToken: string;
  /** --body_limit: update_user's `data` may be that large. */
  bodyLimit: number;
}

export function adminRoutes(app: FastifyInstance, parts: AdminRouteParts): void {
  const { users, twoFactor, resets, identityLinks } = parts;
  const shown = (u: UserRecord) => ({
    ...toPublicUser(u),
    identities: identityLinks.ofUser(u.username).map(({ issuer, subject }) => ({ issuer, subject })),
  });
  const admin = { preHandler: requireAdmin(parts.adminToken), config: { rateLimitGroup: 'admin' as const } };
  const named = { schema: body(['admin_token', 'username'], { admin_token: str, username: str }), ...admin };

  app.post('/list_users', { schema: body(['admin_token'], { admin_token: str }), ...admin }, async () =>
    users.list().map(shown),
  );

  app.post<{ Body: Named }>('/get_user', named, async (req) => shown(users.get(req.body.username)));

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
      bodyLimit: parts.bodyLimit,
    },
    async (req) => {
      const { admin_token: _t, username, ...changes } = req.body;
      // Only the fields present change (the original nulled data, scopes and two_factor when omitted).
      await users.update(username, changes);
      return {};
    },
  );

  // Unlinking does not end the user's sessions: the tokens were Broker's, and the user may still log in
  // with a password; the next OIDC login with that identity makes a new user.
  app.post<{ Body: Named & { issuer: string } }>(
    '/unlink_identity',
    { schema: body(['admin_token', 'username', 'issuer'], { admin_token: str, username: str, issuer: str }), ...admin },
    async (req) => {
      const { username } = users.get(req.body.username);
      return { unlinked: await identityLinks.unlink(username, req.body.issuer) };
    },
  );

  app.post<{ Body: Named }>('/revoke_user', named, async (req) => {
    await users.setRevoked(req.body.username, true);
    return {};
  });

  app.post<{ Body: Named }>('/unrevoke_user', named, async (req) => {
    await users.setRevoked(req.body.username, false);
    return {};
  });

  app.post<{ Body: Named & { issuer?: string | null } }>(
    '/create_qr',
    { schema: body(['admin_token', 'username'], { admin_token: str, username: str, issuer: nullableStr }), ...admin },
    async (req) => ({ qr: await twoFactor.createQr(req.body.username, req.body.issuer ?? undefined) }),
  );

  // A reset code is a credential: create_totp shares the login routes' per-IP limit.
  app.post<{ Body: Named }>(
    '/create_totp',
    { ...named, config: { rateLimitGroup: 'login' as const } },
    async (req) => ({ totp: await resets.create(req.body.username) }),
  );

  app.post<{ Body: Named }>('/create_recovery_codes', named, async (req) => ({
    codes: await twoFactor.createRecoveryCodes(req.body.username),
  }));
}
