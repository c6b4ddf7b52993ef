// JWTs: HS256 only, issuer "Broker", claims sub/iat/exp plus `tv`, the user's token version, so that a
// password change or a revoke ends every token issued before it.
import { createHmac } from 'node:crypto';
import { SignJWT } from 'jose';
import { sameBytes } from '../lib/digest.js';

export interface TokenClaims {
  sub: string;
  iat: number;
  exp: number;
  tv: number;
}

export const ISSUER = 'Broker';

export class Tokens {
  private readonly key: Buffer;

  constructor(
    secret: string,
    private readonly expirySeconds: number,
    private readonly now: () => number = Date.now,
  ) {
    this.key = Buffer.from(secret, 'utf8');
  }

  async issue(username: string, tokenVersion: number): Promise<{ jwt: string; exp: number }> {
    const iat = Math.floor(this.now() / 1000);
    const exp = iat + this.expirySeconds;
    const jwt = await new SignJWT({ tv: tokenVersion })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(username)
      .setIssuer(ISSUER)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .sign(this.key);
    return { jwt, exp };
  }

  /**
   * The claims, or undefined for anything not a valid, unexpired HS256 token of ours. Verified with
   * node:crypto rather than jose: this runs on every authenticated request and stream connect, and
   * jose's WebCrypto path costs ~76 µs of CPU against ~8 µs for a synchronous HMAC (bench/experiments).
   * The rules are jose's: the header must say HS256 and carry no `crit`, the signature must match in
   * constant time, iss must be Broker, sub/iat/exp present, exp in the future, nbf (if any) passed.
   */
  verify(jwt: string): TokenClaims | undefined {
    const parts = jwt.split('.');
    if (parts.length !== 3) return undefined;
    const [header, payload, signature] = parts;
    if (!BASE64URL.test(header) || !BASE64URL.test(payload) || !BASE64URL.test(signature)) return undefined;
    const expected = createHmac('sha256', this.key).update(`${header}.${payload}`).digest();
    if (!sameBytes(Buffer.from(signature, 'base64url'), expected)) return undefined;
    const head = parseJsonObject(header);
    if (head?.alg !== 'HS256' || head.crit !== undefined || (head.typ !== undefined && head.typ !== 'JWT'))
      return undefined;
    const claims = parseJsonObject(payload);
    if (!claims) return undefined;
    const { sub, iat, exp, nbf, iss, tv } = claims;
    if (typeof sub !== 'string' || typeof iat !== 'number' || typeof exp !== 'number' || iss !== ISSUER)
      return undefined;
    const now = Math.floor(this.now() / 1000);
    if (exp <= now) return undefined;
    if (nbf !== undefined && (typeof nbf !== 'number' || nbf > now)) return undefined;
    return { sub, iat, exp, tv: typeof tv === 'number' ? tv : 0 };
  }
}

const BASE64URL = /^[A-Za-z0-9_-]+$/;

function parseJsonObject(part: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}
