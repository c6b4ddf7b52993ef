// Property-based fuzzing of every apps route (as test/fuzz/routes.test.ts does Broker's): hostile bodies,
// keys, origins, paths and query strings. The invariant: no 5xx, an {errorCode, errorMsg} body (Broker's
// {error} on the admin routes) for every 4xx, and a refused request changes nothing stored.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lmdbDatabase } from '../../src/storage/lmdb/storage.js';
import { ADMIN, startBroker, type TestBroker } from '../helpers/broker.js';
import { hostileText, percent, property, SEED, send, type Sent } from '../fuzz/harness.js';
import { call, createApp, createKey } from './support.js';

let broker: TestBroker;
let keys: string[];
const ORIGIN = 'https://fuzz.example';

beforeAll(async () => {
  broker = await startBroker({ management_app: 'mgmt', crash_rate_limit: 0 });
  const { app_id } = await createApp(broker.url, { app_id: 'fuzzed' });
  const full = await createKey(broker.url, app_id, { allowed_origins: [ORIGIN] });
  const none = await createKey(broker.url, app_id, { permissions: { other: true } });
  await createApp(broker.url, { app_id: 'mgmt' });
  const management = await createKey(broker.url, 'mgmt', { permissions: {} });
  keys = [full.key, none.key, management.key];
  const body = { username: 'fuzz-user', password: 'a long enough password', email: 'fuzz@x.example' };
  expect((await call(broker.url, 'POST', '/user/create', full.key, body)).status).toBe(201);
  await call(broker.url, 'POST', '/crash', full.key, { platform: 'ios', version: '1', error: 'E', stack: 'S' });
  await call(broker.url, 'POST', '/count', full.key, { id: '', platform: 'ios' });
  console.info(`apps fuzz seed ${SEED} (replay with FUZZ_SEED=${SEED})`);
});
afterAll(() => broker.stop());

/** What a refused request must not change (lockout counters and last_used may move: they are meant to). */
function snapshot() {
  const db = lmdbDatabase(broker.services.storage);
  const values = <V>(tree: { getRange(o: object): Iterable<{ key: unknown; value: V }> }) =>
    Array.from(tree.getRange({}), ({ key, value }) => [key, value]);
  return JSON.stringify({
    users: Array.from(db.users.getRange({}), ({ value: u }) => [
      u.username,
      u.password,
      u.tenant_name,
      u.email,
      u.token_version,
    ]),
    apps: values(db.apps),
    keys: Array.from(db.api_keys.getRange({}), ({ value: k }) => ({ ...k, last_used: 0 })),
    emails: values(db.app_emails),
    usage: values(db.usage),
    crashes: values(db.crashes),
    archive: values(db.crash_archive),
  });
}

const ROUTES: [string, string][] = [
  ['POST', '/count'],
  ['POST', '/log'],
  ['GET', '/count'],
  ['GET', '/:app/count'],
  ['POST', '/crash'],
  ['GET', '/crash'],
  ['GET', '/:app/crash'],
  ['DELETE', '/crash/:id'],
  ['DELETE', '/:app/crash/:id'],
  ['POST', '/crash/archive'],
  ['POST', '/:app/crash/archive'],
  ['POST', '/user/create'],
  ['POST', '/user/login'],
  ['POST', '/user/changepassword'],
  ['DELETE', '/user/:id'],
  ['POST', '/createUser'],
  ['POST', '/auth'],
];
const ADMIN_ROUTES = [
  '/create_app',
  '/list_apps',
  '/delete_app',
  '/create_api_key',
  '/list_api_keys',
  '/update_api_key',
  '/delete_api_key',
];
const FIELDS = [
  'id',
  'platform',
  'version',
  'appVersion',
  'error',
  'stack',
  'extras',
  'username',
  'password',
  'email',
  'token',
  'old',
  'new',
  'app_id',
  'name',
  'tenant_name',
  'key_id',
  'alias',
  'permissions',
  'death',
  'allowed_origins',
  'admin_token',
];

const text = hostileText({ maxLength: 200 }, ['all', 'fuzzed', 'mgmt', '../x', 'x'.repeat(5000)]);
const json = fc.oneof(
  text,
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(text, { maxLength: 3 }),
  fc.dictionary(text, fc.oneof(text, fc.boolean()), { maxKeys: 3 }),
);
const shapedBody = fc
  .dictionary(fc.oneof(fc.constantFrom(...FIELDS), text), json, { maxKeys: 8 })
  .map((o) => JSON.stringify(o));
const anyBody = fc.oneof(
  shapedBody,
  shapedBody,
  text,
  fc.constant(undefined),
  fc.jsonValue().map((v) => JSON.stringify(v)),
);
const keyHeader = () => fc.oneof(fc.constantFrom(...keys), text, fc.constant(undefined));
const headers = () =>
  fc
    .record(
      {
        'x-api-key': keyHeader(),
        origin: fc.oneof(fc.constantFrom(ORIGIN, 'null', 'https://evil.example'), text),
        'content-type': fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded', ''),
      },
      { requiredKeys: [] },
    )
    .map((h) =>
      Object.fromEntries(Object.entries(h).filter(([, v]) => typeof v === 'string' && /^[\t\x20-\x7e]*$/.test(v))),
    );
const query = () =>
  fc.oneof(
    fc.constant(''),
    fc.record({ key: keyHeader(), id: text, platform: text }, { requiredKeys: [] }).map((q) =>
      Object.entries(q)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => `${k}=${percent(v as string)}`)
        .join('&'),
    ),
    text.map(percent),
  );
const segment = fc.oneof(fc.constantFrom('fuzzed', 'mgmt', 'nope'), text.filter((t) => t !== '').map(percent));

async function check(r: Sent, admin: boolean): Promise<void> {
  const before = snapshot();
  const answer = await send(broker.url, r);
  expect(answer.status, `${r.method} ${r.path} answered ${answer.status}: ${answer.text}`).toBeLessThan(500);
  if (answer.status < 400) return;
  if (r.method !== 'OPTIONS') {
    const parsed = JSON.parse(answer.text);
    if (admin) expect(parsed).toEqual({ error: expect.any(String) });
    // A path fastify's router refuses before any route (a parameter past its length) answers in
    // fastify's words: it never reached an app route.
    else if (!('errorCode' in parsed)) expect(parsed.error).toEqual(expect.any(String));
    else expect(parsed).toEqual({ errorCode: expect.any(String), errorMsg: expect.any(String) });
  }
  expect(snapshot(), `${r.method} ${r.path} was refused (${answer.status}) but changed stored data`).toBe(before);
}

describe('apps routes under fuzzing', () => {
  for (const [method, pattern] of ROUTES) {
    it(`${method} ${pattern}: any key, origin, body, path and query`, async () => {
      await property(
        fc.record({ app: segment, id: segment, body: anyBody, headers: headers(), query: query() }),
        async (v) => {
          const path = pattern.replace(':app', v.app).replace(':id', v.id);
          const body = method === 'GET' ? undefined : v.body;
          await check({ method, path, query: v.query, headers: v.headers, body }, false);
        },
        40,
        2_500,
      );
    });
  }

  it('the admin routes: any body, admin token right or wrong', async () => {
    const adminBody = fc
      .dictionary(fc.constantFrom(...FIELDS), json, { maxKeys: 6 })
      .chain((o) => fc.constantFrom(o, { ...o, admin_token: ADMIN }))
      .map((o) => JSON.stringify(o));
    await property(
      fc.record({ path: fc.constantFrom(...ADMIN_ROUTES), body: fc.oneof(adminBody, anyBody) }),
      async (v) => {
        await check({ method: 'POST', path: v.path, query: '', headers: {}, body: v.body }, true);
      },
      150,
      8_000,
    );
  });

  it('the fixture the fuzzer could not touch still works', async () => {
    const login = await call(broker.url, 'POST', '/user/login', keys[0], {
      username: 'fuzz-user',
      password: 'a long enough password',
    });
    expect(login.body.error === '' || login.body.error === 'timeout').toBe(true);
    expect((await call(broker.url, 'GET', '/crash', keys[0])).body.length).toBeGreaterThanOrEqual(1);
  });
});
