// The OpenID provider as Broker sees it: its configuration from discovery (openid-client v6), fetched at
// start and, when that failed (a provider down or misconfigured), again on the next login, so the other
// routes never wait on it. ID token signatures are checked against the provider's JWKS: openid-client
// skips that for an ID token from the token endpoint (TLS vouches for it) unless non-repudiation checks
// are on, and a token endpoint reached over a bad proxy or a mistaken http:// must not be trusted blindly.
import * as oidc from 'openid-client';

export interface OidcSettings {
  issuer: string;
  clientId: string;
  clientSecret: string | undefined;
  /** Broker's public base URL; the callback is <base>/auth/oidc/callback. */
  redirectBase: string;
  scopes: string;
  tenant: string;
}

export const CALLBACK_PATH = '/auth/oidc/callback';
/** How long discovery and each request to the provider may take. */
const TIMEOUT_SECONDS = 5;

export class OidcClient {
  private config: oidc.Configuration | undefined;
  private pending: Promise<oidc.Configuration> | undefined;
  readonly redirectUri: string;

  constructor(
    readonly settings: OidcSettings,
    private readonly log: (message: string) => void,
  ) {
    this.redirectUri = new URL(CALLBACK_PATH, withSlash(settings.redirectBase)).href;
  }

  /** The provider's configuration: discovered once; after a failure, discovered again by the next caller. */
  configuration(): Promise<oidc.Configuration> {
    if (this.config) return Promise.resolve(this.config);
    this.pending ??= this.discover().finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  private async discover(): Promise<oidc.Configuration> {
    const { issuer, clientId, clientSecret } = this.settings;
    const url = new URL(issuer);
    try {
      const config = await oidc.discovery(
        url,
        clientId,
        clientSecret === undefined ? undefined : { client_secret: clientSecret },
        clientSecret === undefined ? oidc.None() : oidc.ClientSecretBasic(clientSecret),
        {
          // config.ts allows http:// only for a provider on loopback (a development setup, the tests).
          execute: url.protocol === 'http:' ? [oidc.allowInsecureRequests] : [],
          timeout: TIMEOUT_SECONDS,
        },
      );
      oidc.enableNonRepudiationChecks(config);
      this.config = config;
      this.log(`OIDC provider ${issuer} discovered`);
      return config;
    } catch (err) {
      this.log(`OIDC discovery of ${issuer} failed (${describe(err)}): OIDC login is unavailable until it succeeds`);
      throw err;
    }
  }
}

function withSlash(base: string): string {
  return base.endsWith('/') ? base : `${base}/`;
}

export function describe(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown; cause?: { message?: unknown; code?: unknown } };
  const cause = e?.cause?.message ?? e?.cause?.code;
  return [e?.code, e?.message, cause]
    .filter((p) => typeof p === 'string' && p !== '')
    .join(': ')
    .slice(0, 300);
}
