// The app routes (APPS-API.md): the paths, fields and answers of Darkstorm and Stupid Backend, under an
// API key (authorize.ts), with their {errorCode, errorMsg} bodies. They live in their own fastify scope,
// whose error handler speaks that shape without changing Broker's {error} elsewhere.
import type { FastifyInstance, FastifyReply, FastifyRequest, RequestPayload } from 'fastify';
import { BrokerError, toHttpError } from '../errors.js';
import { parseJsonBody } from '../http/json-body.js';
import type { Apps } from './apps.js';
import { type AppKey, authorize, type Need } from './authorize.js';
import { AppError, badRequest, invalidBody, notFound } from './errors.js';
import { appUserRoutes } from './user-routes.js';

type Q = Record<string, unknown>;

/** The paths of the app routes (CORS allows their keys' origins there: http/app.ts). */
const APP_PATH =
  /^\/(?:(?:count|log|crash|createUser|auth|user)(?:[/?]|$)|[A-Za-z0-9_-]{1,64}\/(?:count|crash)(?:[/?]|$))/;
export const isAppPath = (url: string) => APP_PATH.test(url);
/** A crash's error and stack at their bounds (crashes.ts), JSON-escaped, with extras and the rest. */
const CRASH_BODY_LIMIT = 160 * 1024;
const text = (v: unknown) => (typeof v === 'string' ? v : undefined);

/** The body as an object, or 400 invalidBody. */
export function objectBody(req: FastifyRequest): Q {
  const b = req.body;
  if (b === null || typeof b !== 'object' || Array.isArray(b)) throw invalidBody('the body must be a JSON object');
  return b as Q;
}

/** A string field, or 400 invalidBody when missing or not a string. */
export function field(b: Q, name: string): string {
  const v = b[name];
  if (typeof v !== 'string') throw invalidBody(`missing or non-string field "${name}"`);
  return v;
}

declare module 'fastify' {
  interface FastifyRequest {
    appKey?: AppKey;
  }
}

const one = (v: unknown) => (typeof v === 'string' ? v : undefined);

/** The preParsing hook of every app route: the key and what it may do, before the body is read. */
export function requireKey(apps: Apps, need: Need) {
  return async (req: FastifyRequest, _reply: FastifyReply, payload: RequestPayload) => {
    const secret = one(req.headers['x-api-key']) ?? one((req.query as Q).key);
    const carrier = { secret, origin: one(req.headers.origin), appID: one((req.params as Q).appID) };
    req.appKey = authorize(apps, carrier, need);
    return payload;
  };
}

export function appKeyOf(req: FastifyRequest): AppKey {
  if (!req.appKey) throw new Error('route is missing its requireKey hook');
  return req.appKey;
}

export async function appRoutes(app: FastifyInstance, apps: Apps): Promise<void> {
  await app.register(async (scope) => {
    scope.setErrorHandler((err, req, reply) => answerError(err, req, reply));
    // Broker's parser, its refusals in this scope's words.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => {
      try {
        done(null, parseJsonBody(body as string));
      } catch (err) {
        done(invalidBody((err as Error).message), undefined);
      }
    });
    const on = (need: Need) => ({ preParsing: requireKey(apps, need) });

    const count = async (req: FastifyRequest, reply: FastifyReply, source: Q) => {
      const id = text(source.id);
      const platform = text(source.platform);
      if (id === undefined || platform === undefined) throw invalidBody('id and platform are required strings');
      const kept = await apps.usage.record(appKeyOf(req).app.app_id, id, platform);
      return reply.code(201).send({ id: kept });
    };
    scope.post('/count', on({ permission: 'count' }), async (req, reply) =>
      count(req, reply, req.body === undefined ? (req.query as Q) : objectBody(req)),
    );
    scope.post('/log', on({ permission: 'log' }), async (req, reply) => count(req, reply, req.query as Q));
    const countOf = (req: FastifyRequest) => {
      const platform = text((req.query as Q).platform) ?? 'all';
      return { platform, count: apps.usage.count(appKeyOf(req).app.app_id, platform) };
    };
    scope.get('/count', on({ anyOf: ['management', 'count'] }), async (req) => countOf(req));
    scope.get('/:appID/count', on({ managementKey: true }), async (req) => countOf(req));

    scope.post('/crash', { ...on({ permission: 'crash' }), bodyLimit: CRASH_BODY_LIMIT }, async (req, reply) => {
      const b = objectBody(req);
      const version = text(b.version) ?? text(b.appVersion);
      if (version === undefined) throw invalidBody('missing field "version" (or "appVersion")');
      const crash = { platform: field(b, 'platform'), version, error: field(b, 'error'), stack: field(b, 'stack') };
      const { app: a, key } = appKeyOf(req);
      await apps.crashes.report(a.app_id, key.key_id, b.extras === undefined ? crash : { ...crash, extras: b.extras });
      return reply.code(201).send();
    });
    const list = async (req: FastifyRequest) => apps.crashes.list(appKeyOf(req).app.app_id);
    scope.get('/crash', on({ permission: 'management' }), list);
    scope.get('/:appID/crash', on({ managementKey: true }), list);
    const remove = async (req: FastifyRequest) => {
      const { crashID } = req.params as { crashID: string };
      if (!(await apps.crashes.delete(appKeyOf(req).app.app_id, crashID))) throw notFound('no such crash report');
      return {};
    };
    scope.delete('/crash/:crashID', on({ permission: 'management' }), remove);
    scope.delete('/:appID/crash/:crashID', on({ managementKey: true }), remove);
    const archive = async (req: FastifyRequest) => {
      const b = objectBody(req);
      const request = { error: field(b, 'error'), stack: field(b, 'stack'), platform: field(b, 'platform') };
      await apps.crashes.archive(appKeyOf(req).app.app_id, request);
      return {};
    };
    scope.post('/crash/archive', on({ permission: 'management' }), archive);
    scope.post('/:appID/crash/archive', on({ managementKey: true }), archive);

    appUserRoutes(scope, apps, on);
  });
}

/** Broker's errors in the originals' shape: bad input is never a 5xx. */
function answerError(err: unknown, req: FastifyRequest, reply: FastifyReply): void {
  if (err instanceof AppError) {
    void reply.code(err.statusCode).send({ errorCode: err.errorCode, errorMsg: err.message });
    return;
  }
  const answer = toHttpError(err);
  const status = answer.statusCode;
  if (status >= 500) req.log.error({ err }, 'request failed');
  const e = err as { validation?: unknown; code?: string };
  const code =
    status >= 500
      ? 'internal'
      : status === 429
        ? 'tooMany'
        : status === 401
          ? 'unauthorized'
          : status === 404
            ? 'notFound'
            : e.validation ||
                (typeof e.code === 'string' && e.code.startsWith('FST_ERR_CTP')) ||
                !(err instanceof BrokerError)
              ? 'invalidBody'
              : badRequest('').errorCode;
  void reply.code(status).headers(answer.headers).send({ errorCode: code, errorMsg: answer.body.error });
}
