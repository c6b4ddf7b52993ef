// Property-based fuzzing of the dashboard's JSON routes, signed in and from Broker's own origin (so the
// requests get past the guard to the handlers): hostile bodies and queries. The harness's invariant: no
// 5xx, no hang, JSON errors, and a rejected request changes nothing stored.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN } from '../helpers/broker.js';
import { post } from '../helpers/http.js';
import { arbitraries, checkRequest, fixture, percent, property, SEED, type Fixture } from '../fuzz/harness.js';

let f: Fixture;
let arb: ReturnType<typeof arbitraries>;
let auth: Record<string, string>;

beforeAll(async () => {
  f = await fixture();
  arb = arbitraries(f, { maxLength: 300 });
  const signed = await post(f.broker.url, '/_/api/session', { token: ADMIN }, { origin: f.broker.url });
  expect(signed.status).toBe(200);
  auth = { cookie: (signed.headers.get('set-cookie') ?? '').split(';')[0], origin: f.broker.url };
  console.info(`fuzz seed ${SEED} (replay with FUZZ_SEED=${SEED})`);
});
afterAll(() => f.broker.stop());

const POSTS = [
  '/_/api/users',
  '/_/api/users/update',
  '/_/api/users/revoke',
  '/_/api/users/qr',
  '/_/api/users/reset_code',
  '/_/api/users/recovery_codes',
  '/_/api/events',
  '/_/api/streams/close',
  '/_/api/apps/keys',
  '/_/api/apps/crashes/delete',
  '/_/api/session',
];
const GETS = ['/_/api/users', '/_/api/events', '/_/api/events/latest', '/_/api/events/tail', '/_/api/apps/usage'];

describe('dashboard routes under fuzzing', () => {
  for (const path of POSTS) {
    it(`POST ${path}: any body`, async () => {
      const field = fc.oneof(arb.text, arb.json, fc.constantFrom('alice', 'bob', 'tenant-a', 'news', 1, true));
      const body = fc.oneof(
        fc
          .dictionary(
            fc.constantFrom(
              'username',
              'password',
              'tenant_name',
              'tenant',
              'event',
              'data',
              'id',
              'app_id',
              'revoked',
            ),
            field,
          )
          .map((o) => JSON.stringify(o)),
        arb.text,
        arb.json.map((j) => JSON.stringify(j)),
      );
      await property(
        body,
        async (b) => {
          await checkRequest(f, {
            method: 'POST',
            path,
            query: '',
            headers: { ...auth, 'content-type': 'application/json' },
            body: b,
          });
        },
        40,
        2_000,
      );
    });
  }

  for (const path of GETS) {
    it(`GET ${path}: any query`, async () => {
      const key = fc.constantFrom('q', 'offset', 'limit', 'tenant', 'after', 'before', 'event', 'app_id', 'platform');
      const query = fc
        .array(fc.tuple(key, fc.oneof(arb.text, fc.nat().map(String), fc.constant('tenant-a'))), { maxLength: 5 })
        .map((pairs) => pairs.map(([k, v]) => `${k}=${percent(v)}`).join('&'));
      await property(
        query,
        async (q) => {
          await checkRequest(f, { method: 'GET', path, query: q, headers: auth, body: undefined });
        },
        40,
        2_000,
      );
    });
  }
});
