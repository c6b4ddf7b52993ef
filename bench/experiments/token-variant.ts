// Experiment on a COPY of token verification (src/auth/tokens.ts untouched): the same HS256 checks as
// jose's jwtVerify (alg, signature in constant time, issuer, sub/iat/exp present, not expired, nbf) done
// synchronously with node:crypto, applied to the running Identity's Tokens instance in the bench child.
// jose goes through WebCrypto (importKey + a crypto job + promise per verify): ~75 µs CPU vs ~8 µs here
// (bench/experiments/jwt-verify.ts), paid by every /sse connect and every /insert.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Tokens, TokenClaims } from '../../src/auth/tokens.js';

interface TokensInternals {
  key: Uint8Array;
  now: () => number;
  verify(jwt: string): Promise<TokenClaims | undefined>;
}

export function verifyHs256(key: Uint8Array, token: string, nowSeconds: number): TokenClaims | undefined {
  const dot1 = token.indexOf('.');
  const dot2 = dot1 < 0 ? -1 : token.indexOf('.', dot1 + 1);
  if (dot1 <= 0 || dot2 < 0 || token.indexOf('.', dot2 + 1) >= 0) return undefined;
  try {
    const header = JSON.parse(Buffer.from(token.slice(0, dot1), 'base64url').toString('utf8')) as { alg?: unknown; crit?: unknown };
    if (header.alg !== 'HS256' || header.crit !== undefined) return undefined;
    const expected = createHmac('sha256', key).update(token.slice(0, dot2)).digest();
    const given = Buffer.from(token.slice(dot2 + 1), 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    const c = JSON.parse(Buffer.from(token.slice(dot1 + 1, dot2), 'base64url').toString('utf8')) as Record<string, unknown>;
    if (c.iss !== 'Broker' || typeof c.sub !== 'string' || typeof c.exp !== 'number' || typeof c.iat !== 'number') return undefined;
    if (c.exp <= nowSeconds) return undefined;
    if (typeof c.nbf === 'number' && c.nbf > nowSeconds) return undefined;
    return { sub: c.sub, iat: c.iat, exp: c.exp, tv: typeof c.tv === 'number' ? c.tv : 0 };
  } catch {
    return undefined;
  }
}

/** Replaces verify on the Tokens instance the Identity holds. */
export function applySyncJwt(identity: unknown): void {
  const tokens = (identity as { tokens: Tokens }).tokens as unknown as TokensInternals;
  tokens.verify = async (jwt: string) => verifyHs256(tokens.key, jwt, Math.floor(tokens.now() / 1000));
}
