// Admin routes carry admin_token in the body; it is compared in constant time (hashes of equal length,
// so neither the content nor the length leaks through timing).
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { unauthorized } from '../errors.js';
import type { Services } from '../services.js';

const digest = (s: string) => createHash('sha256').update(s).digest();

export function tokenMatches(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

export function requireAdmin(services: Services) {
  const expected = services.adminToken;
  return async (req: FastifyRequest) => {
    // The body schema of every admin route requires admin_token as a string.
    if (!tokenMatches((req.body as { admin_token: string }).admin_token, expected))
      throw unauthorized('invalid admin_token');
  };
}
