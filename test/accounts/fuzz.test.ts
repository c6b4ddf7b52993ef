// Fuzzing the accounts' routes (self-service and OIDC) with fast-check, through the house harness
// (test/fuzz/harness.ts): random bodies, headers and queries never get a 5xx, and a rejected request
// changes nothing. The broker has OIDC on, against a real provider on loopback.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { freePort, startBroker } from '../helpers/broker.js';
import { makeUser } from '../helpers/http.js';
import { arbitraries, checkRequest, type Fixture, percent, property } from '../fuzz/harness.js';
import { CLIENT_ID, CLIENT_SECRET, startProvider, type TestProvider } from '../oidc/provider.js';

const POSTS = ['/change_password', '/enroll_totp', '/confirm_totp', '/logout', '/logout_all', '/auth/oidc/totp'];
const GETS = ['/auth/oidc/login', '/auth/oidc/callback'];

let f: Fixture;
let provider: TestProvider;
let arb: ReturnType<typeof arbitraries>;

beforeAll(async () => {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  provider = await startProvider([`${base}/auth/oidc/callback`]);
  const broker = await startBroker({
    port,
    login_rate_limit: 1_000_000,
    admin_rate_limit: 1_000_000,
    origin: 'https://app.example',
    oidc_issuer_uri: provider.issuer,
    oidc_client_id: CLIENT_ID,
    oidc_client_secret: CLIENT_SECRET,
    oidc_redirect_base: base,
  });
  const alice = await makeUser(broker.url, { username: 'alice', password: 'alice password', tenant_name: 'a' });
  f = { broker, alice, others: [] };
  arb = arbitraries(f, { maxLength: 300 });
});
afterAll(async () => {
  await f.broker.stop();
  await provider.close();
});

const oidcQuery = fc.oneof(
  fc.constant(''),
  fc
    .array(
      fc.tuple(
        fc.constantFrom('return_to', 'state', 'code', 'error', 'iss', 'error_description'),
        // No allowed return_to: fetch would follow the redirect into the provider, whose answers are its own.
        fc.oneof(fc.string(), fc.constantFrom('https://app.example.evil/x', 'https://evil.example/', 'javascript:1')),
      ),
      { maxLength: 4 },
    )
    .map((pairs) => pairs.map(([k, v]) => `${k}=${percent(v)}`).join('&')),
);

describe('accounts routes under fuzzing', () => {
  for (const path of POSTS) {
    it(`POST ${path}: any body, headers and query`, async () => {
      await property(
        fc.record({ body: arb.body(path), headers: arb.headers, query: arb.query }),
        async ({ body, headers, query }) => {
          await checkRequest(f, { method: 'POST', path, query, headers, body });
        },
        60,
        2_500,
      );
    });
  }
  for (const path of GETS) {
    it(`GET ${path}: any headers and query`, async () => {
      await property(
        fc.record({ headers: arb.headers, query: fc.oneof(arb.query, oidcQuery) }),
        async ({ headers, query }) => {
          await checkRequest(f, { method: 'GET', path, query, headers, body: undefined });
        },
        60,
        2_500,
      );
    });
  }
});
