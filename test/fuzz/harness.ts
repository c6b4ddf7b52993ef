// The fuzzing harness: a real broker with a few users and events, arbitraries for everything a client
// controls (body, headers, query string), and the invariant every request must keep:
//   - never a 5xx, always an answer within the timeout (no crash, no hang);
//   - an error is JSON {"error": string};
//   - a rejected request (>= 400) changes no stored record (users, events, meta) and not list_users;
//   - no answer carries another tenant's events.
// fast-check prints the seed and the shrunk counterexample on failure; FUZZ_SEED=<n> replays a run.
import fc from 'fast-check';
import { expect } from 'vitest';
import { ADMIN, startBroker, type TestBroker } from '../helpers/broker.js';
import { bearer, makeUser, post } from '../helpers/http.js';
import { snapshot } from '../security/support.js';

/** Stored only in tenant-b's events: no answer to a fuzzed request may contain it. */
export const OTHER_TENANT_SECRET = 'TENANT-B-SECRET-7f3a';

export const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : Date.now() % 2 ** 31;

export interface Fixture {
  broker: TestBroker;
  /** Never touched by admin writes or wrong passwords, so its credentials stay valid all run long. */
  alice: { username: string; password: string; jwt: string };
  /** Fair game for admin writes. */
  others: string[];
}

export async function fixture(): Promise<Fixture> {
  // Generous limits: the fuzzer sends thousands of requests from one address.
  const broker = await startBroker({
    login_rate_limit: 1_000_000,
    admin_rate_limit: 1_000_000,
    jwt_expiry: 10 * 365 * 86400,
  });
  const alice = await makeUser(broker.url, { username: 'alice', password: 'alice password', tenant_name: 'tenant-a' });
  await makeUser(broker.url, {
    username: 'bob',
    password: 'bob password',
    tenant_name: 'tenant-a',
    two_factor: true,
    scopes: ['news:get'],
  });
  await makeUser(broker.url, {
    username: 'carol',
    password: 'carol password',
    tenant_name: 'tenant-b',
    email: 'c@example.com',
  });
  await post(broker.url, '/revoke_user', { admin_token: ADMIN, username: 'carol' });
  for (const event of ['news', 'chat', 'news']) {
    await post(broker.url, '/insert', { event, data: { n: event } }, bearer(alice.jwt));
  }
  // Another tenant's events, which no fuzzed request may ever see (the fuzzer never holds erin's
  // credentials, and nothing of tenant-b may leak into alice's answers).
  const erin = await makeUser(broker.url, { username: 'erin', password: 'erin password', tenant_name: 'tenant-b' });
  for (const event of ['news', 'private']) {
    await post(broker.url, '/insert', { event, data: { secret: OTHER_TENANT_SECRET } }, bearer(erin.jwt));
  }
  return { broker, alice, others: ['bob', 'carol', 'dave'] };
}

export interface Sent {
  method: string;
  path: string;
  query: string;
  headers: Record<string, string>;
  body: string | Uint8Array | undefined;
}

export interface Received {
  status: number;
  text: string;
  contentType: string | null;
}

/** Sends with fetch; a stream (SSE) is cut as soon as its status is known. */
export async function send(base: string, r: Sent): Promise<Received> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error(`no answer within 10 s: ${r.method} ${r.path}`)), 10_000);
  try {
    const res = await fetch(`${base}${r.path}${r.query ? `?${r.query}` : ''}`, {
      method: r.method,
      headers: r.headers,
      // Bytes go as they are (invalid UTF-8 included): BodyInit's types lag behind what fetch accepts.
      body: r.method === 'GET' || r.method === 'HEAD' ? undefined : (r.body as BodyInit | undefined),
      signal: controller.signal,
    });
    const contentType = res.headers.get('content-type');
    if (contentType?.startsWith('text/event-stream')) {
      controller.abort();
      return { status: res.status, text: '', contentType };
    }
    return { status: res.status, text: await res.text(), contentType };
  } finally {
    clearTimeout(timer);
  }
}

/** The invariant, checked around one request. */
export async function checkRequest(f: Fixture, r: Sent): Promise<Received> {
  const before = await snapshot(f.broker);
  const answer = await send(f.broker.url, r);
  expect(answer.status, `${r.method} ${r.path} answered ${answer.status}: ${answer.text}`).toBeLessThan(500);
  expect(answer.status).toBeGreaterThanOrEqual(200);
  expect(answer.text, `${r.method} ${r.path} leaked another tenant's event`).not.toContain(OTHER_TENANT_SECRET);
  if (answer.status >= 400) {
    // @fastify/cors answers a malformed preflight (OPTIONS without Origin or Access-Control-Request-Method)
    // itself, in text/plain: a browser never sends one, and no client parses it. Everything else is JSON.
    const corsPreflight = r.method === 'OPTIONS' && answer.text === 'Invalid Preflight Request';
    if (r.method !== 'HEAD' && !corsPreflight) {
      expect(answer.contentType).toMatch(/^application\/json/);
      expect(JSON.parse(answer.text)).toEqual({ error: expect.any(String) });
    }
    const after = await snapshot(f.broker);
    expect(after, `${r.method} ${r.path} was rejected (${answer.status}) but changed stored data`).toEqual(before);
  }
  return answer;
}

// ---- arbitraries ----

/** Percent-encodes the UTF-8 bytes of any string, lone surrogates included (encodeURIComponent throws). */
export const percent = (s: string) =>
  Array.from(Buffer.from(s, 'utf8'), (b) => `%${b.toString(16).padStart(2, '0')}`).join('');

export interface Limits {
  /** Longest generated string. */
  maxLength: number;
  /** How far towards maxLength lengths go (fast-check biases to short ones unless told otherwise). */
  size?: fc.SizeForArbitrary;
}

/** Hostile strings: any text, graphemes, binary, and the probes every parser must survive (plus `extra`). */
export function hostileText(limits: Limits, extra: string[] = []): fc.Arbitrary<string> {
  const { maxLength, size } = limits;
  return fc.oneof(
    fc.string({ maxLength, size }),
    fc.string({ unit: 'grapheme', maxLength, size }),
    fc.string({ unit: 'binary', maxLength, size }),
    fc.constantFrom(
      '',
      ' ',
      '\0',
      '\ud800',
      '__proto__',
      'constructor',
      '../../etc/passwd',
      '%00',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a log4j probe, sent as it is
      '${jndi:x}',
      "' OR 1=1 --",
      ...extra,
    ),
  );
}

export function arbitraries(f: Fixture, limits: Limits) {
  const text = hostileText(limits);
  const json = fc.jsonValue({ maxDepth: 4 });
  const username = fc.oneof(fc.constantFrom(...f.others, 'nobody'), text);
  const adminToken = fc.oneof(fc.constant(ADMIN), fc.constant(ADMIN), text, json);
  /** A value for a named field: usually the right type, often not. */
  const field = (right: fc.Arbitrary<unknown>) =>
    fc.oneof({ weight: 3, arbitrary: right }, { weight: 1, arbitrary: json });
  const optional = (shape: Record<string, fc.Arbitrary<unknown>>) => fc.record(shape, { requiredKeys: [] });

  const shapes: Record<string, fc.Arbitrary<Record<string, unknown>>> = {
    '/create_user': optional({
      admin_token: adminToken,
      username: field(text),
      password: field(text),
      tenant_name: field(text),
      email: field(fc.oneof(fc.emailAddress(), text, fc.constant(null))),
      two_factor: field(fc.oneof(fc.boolean(), fc.constant(null))),
      scopes: field(fc.oneof(fc.array(fc.oneof(text, fc.constant('a:b'))), fc.constant(null))),
      data: json,
    }),
    '/login': optional({
      username: field(username),
      password: field(text),
      totp: field(fc.oneof(text, fc.stringMatching(/^\d{6}$/), fc.constant(null))),
    }),
    '/insert': optional({ event: field(text), data: json }),
    '/broadcast': optional({ topic: field(text), message: field(text), token: field(text) }),
    '/create_topic_token': optional({
      admin_token: adminToken,
      topics: field(fc.array(text)),
      scope: field(fc.oneof(fc.constantFrom('subscribe', 'broadcast'), text)),
      expires_in: field(fc.oneof(fc.integer(), fc.double(), text)),
    }),
    '/revoke_user': optional({ admin_token: adminToken, username: field(username) }),
    '/unrevoke_user': optional({ admin_token: adminToken, username: field(username) }),
    '/list_users': optional({ admin_token: adminToken }),
    '/get_user': optional({ admin_token: adminToken, username: field(fc.oneof(username, fc.constant('alice'))) }),
    '/update_user': optional({
      admin_token: adminToken,
      username: field(username),
      tenant_name: field(text),
      password: field(text),
      email: field(fc.oneof(fc.emailAddress(), text, fc.constant(null))),
      scopes: field(fc.oneof(fc.array(text), fc.constant(null))),
      data: json,
      two_factor: field(fc.oneof(fc.boolean(), fc.constant(null))),
    }),
    '/create_qr': optional({
      admin_token: adminToken,
      username: field(fc.oneof(username, fc.constant('alice'))),
      issuer: field(text),
    }),
    '/create_totp': optional({ admin_token: adminToken, username: field(username) }),
    '/password_reset': optional({
      totp: field(fc.oneof(text, fc.stringMatching(/^\d{6}$/))),
      username: field(username),
      password: field(text),
    }),
    '/create_recovery_codes': optional({ admin_token: adminToken, username: field(username) }),
  };

  /** Any body: the route's shape with extra keys, any JSON, any text, any bytes. */
  const body = (path: string) =>
    fc.oneof(
      {
        weight: 4,
        arbitrary: fc
          .tuple(shapes[path] ?? fc.constant({}), fc.dictionary(text, json, { maxKeys: 3 }))
          .map(([s, extra]) => JSON.stringify({ ...extra, ...s })),
      },
      { weight: 1, arbitrary: json.map((v) => JSON.stringify(v)) },
      { weight: 1, arbitrary: text },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: limits.maxLength }) },
      {
        weight: 1,
        arbitrary: fc.constantFrom(
          '{',
          '[',
          '{"a":',
          '{"__proto__":{}}',
          '{"constructor":{"prototype":{"x":1}}}',
          'null',
          '1e999',
          '"\\ud800"',
          '['.repeat(70),
        ),
      },
    );

  const headerValue = fc.string({
    unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
    maxLength: Math.min(limits.maxLength, 2000),
  });
  const authorization = fc.oneof(
    fc.constant(`Bearer ${f.alice.jwt}`),
    fc.constant(`Basic ${Buffer.from(`alice:${f.alice.password}`).toString('base64')}`),
    headerValue,
    headerValue.map((v) => `Bearer ${v}`),
    text.map((v) => `Basic ${Buffer.from(`nobody-${v}:${v}`).toString('base64')}`),
  );
  const headers = fc.record(
    {
      authorization,
      'content-type': fc.oneof(
        fc.constantFrom(
          'application/json',
          'text/plain',
          'application/x-www-form-urlencoded',
          'multipart/form-data; boundary=x',
          'application/json; charset=utf-16',
          '',
        ),
        headerValue,
      ),
      'last-event-id': fc.oneof(fc.nat().map(String), headerValue),
      origin: fc.oneof(fc.constant('https://evil.example'), headerValue),
      'content-encoding': fc.constantFrom('gzip', 'deflate', 'br', 'identity'),
      accept: headerValue,
      cookie: headerValue,
      'x-forwarded-for': headerValue,
      'x-random': headerValue,
    },
    { requiredKeys: [] },
  );
  const queryKey = fc.oneof(
    fc.constantFrom(
      'token',
      'after',
      'limit',
      'event',
      'events',
      'last_event_id',
      '__proto__',
      'constructor',
      'a[b]',
      'a[]',
    ),
    text,
  );
  const queryValue = fc.oneof(
    fc.constant(f.alice.jwt),
    fc.nat().map(String),
    fc.constant('-1'),
    fc.constant('9'.repeat(30)),
    text,
  );
  const query = fc.oneof(
    fc
      .array(fc.tuple(queryKey, queryValue), { maxLength: 6 })
      .map((pairs) => pairs.map(([k, v]) => `${percent(k)}=${percent(v)}`).join('&')),
    fc.constantFrom('%', '%zz', '%ud800', '%F0%28', '&&&', '=', 'a=1&a=2&a=3', 'token', 'token=&token='),
  );
  return { body, headers, query, text, json };
}

export const POST_ROUTES = [
  '/create_user',
  '/login',
  '/insert',
  '/revoke_user',
  '/unrevoke_user',
  '/list_users',
  '/get_user',
  '/update_user',
  '/create_qr',
  '/create_totp',
  '/password_reset',
  '/create_recovery_codes',
  '/broadcast',
  '/create_topic_token',
];
export const GET_ROUTES = ['/', '/verify', '/sse', '/events', '/presence', '/health', '/.well-known/jwks.json'];

/** Fewest cases a property runs whatever its time budget: fewer would test (almost) nothing. */
export const MIN_RUNS = 10;

/**
 * Runs a property with the run's seed: `minRuns` cases always, then up to `numRuns` within `timeMs`. It
 * fails on a counterexample, with the seed, the path and the shrunk value, so FUZZ_SEED=<n> replays it.
 */
export async function property<T>(
  arb: fc.Arbitrary<T>,
  check: (value: T) => Promise<void>,
  numRuns: number,
  timeMs: number,
  minRuns = Math.min(MIN_RUNS, numRuns),
): Promise<void> {
  // fast-check's time limit abandons the case in flight without waiting for it: its request would then
  // land during the next property (or test) and show up there as data "changed by a refused request".
  const inFlight = new Set<Promise<void>>();
  const tracked = (value: T) => {
    const run = check(value);
    inFlight.add(run);
    return run.finally(() => inFlight.delete(run));
  };
  // The first `minRuns` cases run whatever the time (a loaded machine slows them, and a property that ran
  // two cases and "passed" proves nothing); the rest only within the budget. The second phase's seed is
  // derived from SEED, so FUZZ_SEED=<SEED> replays both.
  const phases = [
    { seed: SEED, numRuns: minRuns },
    { seed: SEED + 1, numRuns: numRuns - minRuns, interruptAfterTimeLimit: timeMs, markInterruptAsFailure: false },
  ];
  for (const phase of phases) {
    if (phase.numRuns <= 0) continue;
    const details = await fc.check(fc.asyncProperty(arb, tracked), { ...phase, endOnFailure: false });
    await Promise.allSettled([...inFlight]);
    if (details.failed) {
      throw new Error(
        `property failed (replay with ` +
          `FUZZ_SEED=${SEED}):\n${fc.defaultReportMessage(details) ?? String(details.errorInstance)}`,
        { cause: details.errorInstance },
      );
    }
  }
}
