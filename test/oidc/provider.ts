// A real OpenID provider for tests: oidc-provider 8 in this process on 127.0.0.1 (its devInteractions
// login form: any login, any password), with one client registered for Broker's callback. `tamper`
// rewrites the ID token of the next token responses (re-signed with the provider's own key, or forged),
// to prove that Broker refuses what a broken or hostile token endpoint could send.
import { generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';

export const CLIENT_ID = 'broker-test';
export const CLIENT_SECRET = 'broker-test-secret-of-some-length';

export interface Tamper {
  header?: (h: Record<string, unknown>) => Record<string, unknown>;
  payload?: (p: Record<string, unknown>) => Record<string, unknown>;
  /** Sign with another key than the provider's (the signature is then forged). */
  forge?: boolean;
}

export interface TestProvider {
  issuer: string;
  /** Claims per login name (sub = the login); a name not here gets {sub}. */
  accounts: Map<string, Record<string, unknown>>;
  tamper: Tamper | undefined;
  close(): Promise<void>;
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

function resign(idToken: string, tamper: Tamper, key: KeyObject, forged: KeyObject): string {
  const [h, p] = idToken.split('.');
  const header = JSON.parse(Buffer.from(h, 'base64url').toString()) as Record<string, unknown>;
  const payload = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
  const head = b64(tamper.header ? tamper.header(header) : header);
  const input = `${head}.${b64(tamper.payload ? tamper.payload(payload) : payload)}`;
  return `${input}.${sign('sha256', Buffer.from(input), tamper.forge ? forged : key).toString('base64url')}`;
}

export async function startProvider(redirectUris: string[]): Promise<TestProvider> {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const forged = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'test-key', alg: 'RS256', use: 'sig' };
  let handler: (req: IncomingMessage, res: ServerResponse) => void = (_q, s) => s.end();
  const server = createServer((req, res) => handler(req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const accounts = new Map<string, Record<string, unknown>>();
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
        redirect_uris: redirectUris,
        grant_types: ['authorization_code'],
        response_types: ['code'],
      },
    ],
    jwks: { keys: [jwk as never] },
    cookies: { keys: ['test-cookie-key-0123456789'] },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['preferred_username', 'name'] },
    // Claims in the ID token itself, as Google, Entra and Keycloak send them.
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    features: { devInteractions: { enabled: true } },
    async findAccount(_ctx: unknown, sub: string) {
      return { accountId: sub, claims: async () => ({ sub, ...accounts.get(sub) }) };
    },
  });
  // oidc-provider warns about its development defaults on the console: not a test's business.
  const callback = provider.callback();
  const state: TestProvider = {
    issuer,
    accounts,
    tamper: undefined,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  handler = (req, res) => {
    const tamper = state.tamper;
    if (tamper && req.method === 'POST' && req.url?.startsWith('/token')) {
      const end = res.end.bind(res) as (chunk?: unknown) => ServerResponse;
      res.end = ((chunk?: unknown) => {
        const body = JSON.parse(String(chunk)) as { id_token?: string };
        if (body.id_token) body.id_token = resign(body.id_token, tamper, privateKey, forged);
        const text = JSON.stringify(body);
        res.setHeader('content-length', Buffer.byteLength(text));
        return end(text);
      }) as typeof res.end;
    }
    callback(req, res);
  };
  return state;
}
