// The apps' admin routes (create_app … delete_api_key): admin_token in the body, Broker's {error} bodies.
import type { FastifyInstance } from 'fastify';
import { requireAdmin } from '../http/require-admin.js';
import { body, str } from '../http/schema.js';
import type { Apps } from './apps.js';
import { type KeyFields, toPublicKey } from './keys.js';

const permissions = { type: 'object', additionalProperties: { type: 'boolean' } } as const;
const origins = { type: 'array', items: str } as const;
const death = { type: 'integer' } as const;
const keyFields = { alias: str, permissions, death, allowed_origins: origins };

export function appAdminRoutes(app: FastifyInstance, parts: { apps: Apps; adminToken: string }): void {
  const { registry, keys } = parts.apps;
  const admin = { preHandler: requireAdmin(parts.adminToken), config: { rateLimitGroup: 'admin' as const } };

  app.post<{ Body: { app_id: string; name?: string; tenant_name?: string } }>(
    '/create_app',
    {
      schema: body(['admin_token', 'app_id'], { admin_token: str, app_id: str, name: str, tenant_name: str }),
      ...admin,
    },
    async (req) => {
      const { admin_token: _t, ...input } = req.body as typeof req.body & { admin_token: string };
      return registry.create(input);
    },
  );

  app.post('/list_apps', { schema: body(['admin_token'], { admin_token: str }), ...admin }, async () =>
    registry.list(),
  );

  app.post<{ Body: { app_id: string } }>(
    '/delete_app',
    { schema: body(['admin_token', 'app_id'], { admin_token: str, app_id: str }), ...admin },
    async (req) => {
      await registry.delete(req.body.app_id);
      return {};
    },
  );

  app.post<{ Body: { app_id: string } & KeyFields }>(
    '/create_api_key',
    {
      schema: body(['admin_token', 'app_id', 'permissions'], { admin_token: str, app_id: str, ...keyFields }),
      ...admin,
    },
    async (req) => {
      const { app_id, alias, permissions, death, allowed_origins } = req.body;
      registry.get(app_id);
      const { key, record } = await keys.create(app_id, { alias, permissions, death, allowed_origins });
      const { key_id, alias: a, permissions: p, death: d, allowed_origins: o } = record;
      return { key, key_id, app_id, alias: a, permissions: p, death: d, allowed_origins: o };
    },
  );

  app.post<{ Body: { app_id?: string } }>(
    '/list_api_keys',
    { schema: body(['admin_token'], { admin_token: str, app_id: str }), ...admin },
    async (req) => {
      if (req.body.app_id !== undefined) registry.get(req.body.app_id);
      return keys.list(req.body.app_id).map(toPublicKey);
    },
  );

  app.post<{ Body: { key_id: string } & KeyFields }>(
    '/update_api_key',
    { schema: body(['admin_token', 'key_id'], { admin_token: str, key_id: str, ...keyFields }), ...admin },
    async (req) => {
      const { key_id, alias, permissions, death, allowed_origins } = req.body;
      await keys.update(key_id, { alias, permissions, death, allowed_origins });
      return {};
    },
  );

  app.post<{ Body: { key_id: string } }>(
    '/delete_api_key',
    { schema: body(['admin_token', 'key_id'], { admin_token: str, key_id: str }), ...admin },
    async (req) => {
      await keys.delete(req.body.key_id);
      return {};
    },
  );
}
