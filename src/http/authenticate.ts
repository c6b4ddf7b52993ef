// Authenticating a request, its HTTP half: the Authorization header (Bearer JWT or Basic) or, where a
// route allows it, `?token=` → a Principal. The checks themselves are identity/credentials.ts.
//
// requireUser is the preParsing hook of every user route: it authenticates before the body is read, so
// that an anonymous request costs no parsing and answers 401 before any 400. Not onRequest: the per-IP
// rate limit runs there and must count a refused request too (Basic password spraying).
import type { FastifyReply, FastifyRequest, RequestPayload } from 'fastify';
import { unauthorized } from '../errors.js';
import type { Credentials } from '../identity/credentials.js';
import type { Principal } from '../identity/principal.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
}

/**
 * Resolves an Authorization header to a principal. Anything missing, malformed, expired, tampered,
 * revoked or older than the user's last password change → 401.
 */
export async function authenticate(credentials: Credentials, header: string | undefined): Promise<Principal> {
  // In --local mode no credentials at all means the local user; sent credentials are still checked.
  if (!header) return credentials.anonymous();
  const space = header.indexOf(' ');
  const scheme = space < 0 ? header : header.slice(0, space);
  const value = space < 0 ? '' : header.slice(space + 1).trim();
  if (/^bearer$/i.test(scheme)) return credentials.bearer(value);
  if (/^basic$/i.test(scheme)) return basic(credentials, value);
  throw unauthorized('unsupported Authorization scheme');
}

async function basic(credentials: Credentials, value: string): Promise<Principal> {
  if (!/^[A-Za-z0-9+/]+=*$/.test(value)) throw unauthorized('malformed Basic credentials');
  const decoded = Buffer.from(value, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) throw unauthorized('malformed Basic credentials');
  return credentials.password(decoded.slice(0, colon), decoded.slice(colon + 1));
}

/** `identity` is what holds the credential checks (services.identity). */
export function requireUser(identity: { readonly credentials: Credentials }, options: { queryToken?: boolean } = {}) {
  const { credentials } = identity;
  return async (req: FastifyRequest, _reply: FastifyReply, payload: RequestPayload) => {
    const token = options.queryToken ? (req.query as { token?: unknown }).token : undefined;
    req.principal =
      typeof token === 'string' && !req.headers.authorization
        ? await credentials.bearer(token)
        : await authenticate(credentials, req.headers.authorization);
    return payload;
  };
}

export function principalOf(req: FastifyRequest): Principal {
  if (!req.principal) throw new Error('route is missing its requireUser hook');
  return req.principal;
}
