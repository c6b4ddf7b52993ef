// JWTs: HS256 only, issuer "Broker", claims sub/iat/exp plus `tv`, the user's token version, so that a
// password change or a revoke ends every token issued before it.
import { SignJWT, jwtVerify, errors as joseErrors } from 'jose';

export interface TokenClaims {
  sub: string;
  iat: number;
  exp: number;
  tv: number;
}

export const ISSUER = 'Broker';

export class Tokens {
  private readonly key: Uint8Array;

  constructor(
    secret: string,
    private readonly expirySeconds: number,
    private readonly now: () => number = Date.now,
  ) {
    this.key = new TextEncoder().encode(secret);
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

  /** The claims, or undefined for anything not a valid, unexpired HS256 token of ours. */
  async verify(jwt: string): Promise<TokenClaims | undefined> {
    try {
      const { payload } = await jwtVerify(jwt, this.key, {
        algorithms: ['HS256'],
        issuer: ISSUER,
        currentDate: new Date(this.now()),
        requiredClaims: ['sub', 'exp', 'iat'],
      });
      if (typeof payload.sub !== 'string' || typeof payload.exp !== 'number' || typeof payload.iat !== 'number') return undefined;
      return { sub: payload.sub, iat: payload.iat, exp: payload.exp, tv: typeof payload.tv === 'number' ? payload.tv : 0 };
    } catch (err) {
      if (err instanceof joseErrors.JOSEError || err instanceof TypeError) return undefined;
      throw err;
    }
  }
}
