// The preHandler of every admin route: admin_token in the body (identity/admin-token.ts compares it).
import type { FastifyRequest } from 'fastify';
import { unauthorized } from '../errors.js';
import { isAdminToken } from '../identity/admin-token.js';

export function requireAdmin(expected: string) {
  return async (req: FastifyRequest) => {
    // The body schema of every admin route requires admin_token as a string.
    if (!isAdminToken((req.body as { admin_token: string }).admin_token, expected))
      throw unauthorized('invalid admin_token');
  };
}
