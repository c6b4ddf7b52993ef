// Topic tokens (TOPICS-API.md): JWTs signed ES256 with `exp`, `topics` and `scope`, from the app's own
// backend (keys trusted by --topic_public_key, or notiflux's JWT_PUBLIC_KEY_B64) or from Broker itself
// (its own key pair, kept in the database, public half served as a JWKS). One verification path, jose's,
// with the algorithm pinned, so HS256 (an attacker "signing" with the public key as a secret) and
// `alg: none` never pass; keys are parsed once at start.
import {
  type CryptoKey,
  type JWK,
  SignJWT,
  calculateJwkThumbprint,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  importJWK,
  importSPKI,
  jwtVerify,
} from 'jose';

export type TopicScope = 'subscribe' | 'broadcast';

export interface TopicClaims {
  sub: string;
  topics: readonly string[];
  scope: TopicScope;
  /** Seconds since epoch. */
  exp: number;
}

/** A refused token, with why (the HTTP face answers 401, the WebSocket logs or sends it). */
export class TopicTokenError extends Error {}

/** At most this much clock skew on `exp` (TOPICS-API.md). */
const SKEW_S = 2;
/** POST /create_topic_token's longest expires_in. */
export const MAX_TOPIC_TOKEN_S = 30 * 24 * 3600;
const ALG = 'ES256';

/** PEM blocks from a value that is PEM text or base64 of it (notiflux's JWT_PUBLIC_KEY_B64). */
export function pemBlocks(value: string): string[] {
  const text = value.includes('-----BEGIN') ? value : Buffer.from(value.trim(), 'base64').toString('utf8');
  const blocks = text.match(/-----BEGIN PUBLIC KEY-----[\s\S]*?-----END PUBLIC KEY-----/g) ?? [];
  if (blocks.length === 0) throw new Error('no PEM public key (-----BEGIN PUBLIC KEY-----) found');
  return blocks;
}

interface OwnKey {
  privateKey: CryptoKey;
  publicJwk: JWK;
  kid: string;
}

export class TopicTokens {
  private constructor(
    private readonly trusted: readonly CryptoKey[],
    private readonly own: OwnKey,
    private readonly now: () => number,
  ) {}

  /**
   * `publicKeys`: the trusted PEM value, if any (an unparsable one throws: the start fails, it is not
   * silently ignored). `privateJwk`: Broker's own key as kept; undefined at the first start, then a new
   * pair is made and `save` keeps it.
   */
  static async create(options: {
    publicKeys: string | undefined;
    privateJwk: string | undefined;
    save: (jwk: string) => Promise<void>;
    now: () => number;
  }): Promise<TopicTokens> {
    const trusted: CryptoKey[] = [];
    if (options.publicKeys) {
      for (const pem of pemBlocks(options.publicKeys)) trusted.push(await importSPKI(pem, ALG));
    }
    let jwk: JWK;
    if (options.privateJwk) jwk = JSON.parse(options.privateJwk) as JWK;
    else {
      const pair = await generateKeyPair(ALG, { extractable: true });
      jwk = await exportJWK(pair.privateKey);
      await options.save(JSON.stringify(jwk));
    }
    const { d: _d, ...publicJwk } = jwk;
    const kid = await calculateJwkThumbprint(publicJwk);
    const privateKey = (await importJWK(jwk, ALG)) as CryptoKey;
    const own = { privateKey, publicJwk: { ...publicJwk, kid, alg: ALG, use: 'sig' }, kid };
    trusted.push((await importJWK(publicJwk, ALG)) as CryptoKey);
    return new TopicTokens(trusted, own, options.now);
  }

  /** GET /.well-known/jwks.json: Broker's own public key, so any service can verify its tokens offline. */
  jwks(): { keys: JWK[] } {
    return { keys: [this.own.publicJwk] };
  }

  async sign(topics: readonly string[], scope: TopicScope, expiresIn: number, sub = 'broker'): Promise<string> {
    const iat = Math.floor(this.now() / 1000);
    return new SignJWT({ topics: [...topics], scope })
      .setProtectedHeader({ alg: ALG, kid: this.own.kid, typ: 'JWT' })
      .setSubject(sub)
      .setIssuedAt(iat)
      .setExpirationTime(iat + expiresIn)
      .sign(this.own.privateKey);
  }

  /** The token's claims, or TopicTokenError: not ES256, no or past `exp`, no trusted signature, bad claims. */
  async verify(token: string): Promise<TopicClaims> {
    let alg: unknown;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      throw new TopicTokenError('malformed token');
    }
    if (alg !== ALG) throw new TopicTokenError(`token must be signed ${ALG}`);
    const currentDate = new Date(this.now());
    let payload: Record<string, unknown> | undefined;
    let expired = false;
    // Broker's own key first when the token names it; otherwise each trusted key (a few, for rotation).
    const keys = this.ordered(token);
    for (const key of keys) {
      try {
        ({ payload } = await jwtVerify(token, key, {
          algorithms: [ALG],
          clockTolerance: SKEW_S,
          requiredClaims: ['exp'],
          currentDate,
        }));
        break;
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code === 'ERR_JWT_EXPIRED') expired = true;
        if (code === 'ERR_JWT_CLAIM_VALIDATION_FAILED') throw new TopicTokenError('token must have an exp claim');
      }
    }
    if (!payload) throw new TopicTokenError(expired ? 'token expired' : 'token signature not trusted');
    const { sub, topics, scope, exp } = payload;
    if (!Array.isArray(topics) || !topics.every((t) => typeof t === 'string'))
      throw new TopicTokenError('token must list its topics');
    if (scope !== 'subscribe' && scope !== 'broadcast')
      throw new TopicTokenError('token scope must be subscribe or broadcast');
    return { sub: typeof sub === 'string' ? sub : '', topics: topics as string[], scope, exp: exp as number };
  }

  private ordered(token: string): readonly CryptoKey[] {
    const kid = decodeProtectedHeader(token).kid;
    if (kid !== this.own.kid) return this.trusted;
    const mine = this.trusted[this.trusted.length - 1];
    return [mine];
  }
}
