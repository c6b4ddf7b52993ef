// The preParsing hook of every user route: authenticates before the body is read, so that an anonymous
// request costs no parsing and answers 401 before any 400. Not onRequest: the per-IP rate limit runs
// there and must count a refused request too (Basic password spraying).
import type { FastifyReply, FastifyRequest, RequestPayload } from 'fastify';
import type { Identity, Principal } from './identity.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
}

export function requireUser(identity: Identity, options: { queryToken?: boolean } = {}) {
  return async (req: FastifyRequest, _reply: FastifyReply, payload: RequestPayload) => {
    const token = options.queryToken ? (req.query as { token?: unknown }).token : undefined;
    req.principal =
      typeof token === 'string' && !req.headers.authorization
        ? await identity.authenticateToken(token)
        : await identity.authenticate(req.headers.authorization);
    return payload;
  };
}

export function principalOf(req: FastifyRequest): Principal {
  if (!req.principal) throw new Error('route is missing its requireUser hook');
  return req.principal;
}
