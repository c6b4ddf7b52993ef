// Fuzzing /metrics, /openapi.json and /docs with the routes fuzzer's harness (test/fuzz/harness.ts): any
// method, headers (Authorization included) and query; never a 5xx or a hang, errors in JSON, nothing
// changed. Against a broker without a metrics token (loopback: served) and one with a token (every
// request without the exact Bearer token is a 401).
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer } from '../helpers/http.js';
import { startBroker } from '../helpers/broker.js';
import { arbitraries, checkRequest, fixture, percent, property, type Fixture } from '../fuzz/harness.js';

const TOKEN = 'fuzz-metrics-token-of-at-least-32-bytes';
const PATHS = ['/metrics', '/openapi.json', '/docs', '/docs/', '/docs/json', '/docs/static/index.css'];

let f: Fixture;
let tokened: Fixture;
let arb: ReturnType<typeof arbitraries>;

beforeAll(async () => {
  f = await fixture();
  arb = arbitraries(f, { maxLength: 300 });
  const broker = await startBroker({ metrics_token: TOKEN, admin_rate_limit: 1_000_000 });
  tokened = { broker, alice: f.alice, others: [] };
});
afterAll(async () => {
  await f.broker.stop();
  await tokened.broker.stop();
});

describe('ops routes under fuzzing', () => {
  it('any method, headers and query: never 5xx, errors in JSON, nothing changed', async () => {
    const path = fc.oneof(
      fc.constantFrom(...PATHS),
      arb.text.map((t) => `/docs/static/${percent(t)}`),
    );
    await property(
      fc.record({
        path,
        method: fc.constantFrom('GET', 'HEAD', 'POST', 'DELETE', 'OPTIONS'),
        headers: arb.headers,
        query: arb.query,
      }),
      async (r) => {
        await checkRequest(f, { ...r, body: r.method === 'POST' ? '{}' : undefined });
      },
      120,
      8_000,
    );
  });

  it('with --metrics_token: only the exact Bearer token is served', async () => {
    await property(
      fc.record({ headers: arb.headers, query: arb.query }),
      async ({ headers, query }) => {
        const answer = await checkRequest(tokened, {
          method: 'GET',
          path: '/metrics',
          query,
          headers,
          body: undefined,
        });
        const authorization = Object.entries(headers).find(([k]) => k.toLowerCase() === 'authorization')?.[1];
        if (authorization?.trim() !== `Bearer ${TOKEN}`) expect(answer.status).not.toBe(200);
      },
      80,
      5_000,
    );
    const ok = await checkRequest(tokened, {
      method: 'GET',
      path: '/metrics',
      query: '',
      headers: bearer(TOKEN),
      body: undefined,
    });
    expect(ok.status).toBe(200);
  });
});
