// Property-based fuzzing of every route: random bodies (shaped like the route's, any JSON, any text, any
// bytes), random headers (Authorization, Content-Type, Last-Event-ID, ...) and random query strings.
// The invariant (harness.ts): no 5xx, no hang, JSON errors, and a rejected request changes nothing.
// Bounded: each property stops after its run count or its time budget, so the file stays under 60 s.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer } from '../helpers/http.js';
import {
  GET_ROUTES,
  POST_ROUTES,
  SEED,
  arbitraries,
  percent,
  checkRequest,
  fixture,
  property,
  type Fixture,
} from './harness.js';

let f: Fixture;
let arb: ReturnType<typeof arbitraries>;

beforeAll(async () => {
  f = await fixture();
  arb = arbitraries(f, { maxLength: 300 });
  // Printed up front as well, so that a run killed by a timeout can still be replayed (FUZZ_SEED=...).
  console.info(`fuzz seed ${SEED} (replay with FUZZ_SEED=${SEED})`);
});
afterAll(() => f.broker.stop());

const PER_ROUTE_MS = 2_500;

// Short strings (fast-check's default sizes) try many shapes; long ones (up to 5,000 characters, well
// past LMDB's key limit and a QR code's capacity, and URLs past 16 KiB) try the limits.
const POST_SUITES = [
  { name: 'every POST route', what: 'any body, headers and query', options: undefined, runs: 60, ms: PER_ROUTE_MS },
  {
    name: 'every POST route, with long strings',
    what: 'long bodies, headers and query',
    options: { maxLength: 5000, size: 'xlarge' as const },
    runs: 30,
    ms: 1_000,
  },
];

for (const suite of POST_SUITES) {
  describe(suite.name, () => {
    let arbs: ReturnType<typeof arbitraries>;
    beforeAll(() => {
      arbs = suite.options ? arbitraries(f, suite.options) : arb;
    });
    for (const path of POST_ROUTES) {
      it(`${path}: ${suite.what}`, async () => {
        await property(
          fc.record({ body: arbs.body(path), headers: arbs.headers, query: arbs.query }),
          async ({ body, headers, query }) => {
            await checkRequest(f, { method: 'POST', path, query, headers, body });
          },
          suite.runs,
          suite.ms,
        );
      });
    }
  });
}

describe('every GET route', () => {
  for (const path of GET_ROUTES) {
    it(`${path}: any headers and query`, async () => {
      await property(
        fc.record({ headers: arb.headers, query: arb.query, method: fc.constantFrom('GET', 'HEAD') }),
        async ({ headers, query, method }) => {
          await checkRequest(f, { method, path, query, headers, body: undefined });
        },
        60,
        PER_ROUTE_MS,
      );
    });
  }
});

describe('anything else', () => {
  it('unknown paths and wrong methods answer 404 (or 405/400), never 5xx', async () => {
    const path = fc.oneof(
      fc.constantFrom(
        ...POST_ROUTES,
        ...GET_ROUTES,
        '/admin',
        '/..',
        '/%2e%2e/',
        '//login',
        '/login/',
        '/LOGIN',
        '/login;x',
        '/login%00',
      ),
      arb.text.map((t) => `/${percent(t)}`),
    );
    await property(
      fc.record({
        path,
        method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'),
        body: arb.body('/login'),
        headers: arb.headers,
      }),
      async (r) => {
        const answer = await checkRequest(f, { ...r, query: '' });
        // fetch resolves dot segments (/%2e%2e/ is /): judge the path the server really received.
        const received = new URL(f.broker.url + r.path).pathname;
        if (![...POST_ROUTES, ...GET_ROUTES].includes(received) && r.method !== 'OPTIONS')
          expect(answer.status).toBeGreaterThanOrEqual(400);
      },
      80,
      PER_ROUTE_MS,
    );
  });

  it('the users and events the fuzzer could not touch are intact', async () => {
    const login = await checkRequest(f, {
      method: 'POST',
      path: '/login',
      query: '',
      headers: {},
      body: JSON.stringify({ username: 'alice', password: f.alice.password }),
    });
    expect(login.status).toBe(200);
    const events = await checkRequest(f, {
      method: 'GET',
      path: '/events',
      query: 'after=0',
      headers: bearer(f.alice.jwt),
      body: undefined,
    });
    expect(events.status).toBe(200);
    expect(
      JSON.parse(events.text)
        .events.slice(0, 3)
        .map((e: { event: string }) => e.event),
    ).toEqual(['news', 'chat', 'news']);
  });
});
