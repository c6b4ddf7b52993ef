// buildApp: a Fastify instance with every route, not listening (server.ts listens; tests may inject).
import cors from '@fastify/cors';
import rateLimit from '@fastify/rate-limit';
import type { ServerHttp2Session } from 'node:http2';
import type { Socket } from 'node:net';
import Fastify, { type FastifyInstance, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import { appAdminRoutes } from '../apps/admin-routes.js';
import { appRoutes, isAppPath } from '../apps/routes.js';
import { adminRoutes } from '../identity/admin-routes.js';
import { identityRoutes } from '../identity/routes.js';
import { selfServiceRoutes } from '../identity/self-service-routes.js';
import { oidcRoutes } from '../identity/oidc/routes.js';
import { capConnectionsPerAddress } from './connection-cap.js';
import { toHttpError } from '../errors.js';
import { parseJsonBody, SMALL_BODY_LIMIT } from './json-body.js';
import { EPOCH_HEADER } from '../../client/protocol.js';
import { openApiRoutes } from '../ops/openapi-routes.js';
import { metricsRoutes } from '../ops/routes.js';
import { realtimeRoutes } from '../realtime/routes.js';
import { dashboardRoutes } from '../ops/dashboard/routes.js';
import { topicRoutes, topicStream } from '../realtime/topics/routes.js';
import { logRequests, OneLinePerRequest, redactUrl } from './request-log.js';
import { formatSchemaErrors } from './schema.js';
import type { Services } from '../services.js';
import { proxyTrust } from './trust-proxy.js';

const notFoundBody = (req: FastifyRequest) => ({ error: `no route ${req.method} ${req.url.split('?')[0]}` });

/**
 * Streams one HTTP/2 connection may have open at once (Node's default is 2^32-1): with the per-IP
 * connection cap this bounds what one client holds; more than a browser's tabs will ever open.
 */
const H2_MAX_STREAMS = 128;

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'cache-control': 'no-store',
} as const;

export interface AppOptions {
  logger?: FastifyServerOptions['logger'];
  https?: FastifyServerOptions extends { https?: infer H } ? H : never;
}

export async function buildApp(services: Services, options: AppOptions = {}): Promise<FastifyInstance> {
  const { config } = services;
  const trust = proxyTrust(config.trust_proxy);
  const app = Fastify({
    logger: options.logger ?? {
      level: config.log_level,
      serializers: {
        req: (req) => ({ method: req.method, url: redactUrl(req.url), remoteAddress: req.ip }),
      },
      redact: {
        paths: ['req.headers.authorization', 'req.body', '*.admin_token', '*.password', '*.totp', '*.jwt'],
        censor: '***',
      },
      hooks: { logMethod: services.warnings.hook() },
    },
    logController: new OneLinePerRequest(),
    // Only the routes with a `data` field (create_user, update_user, insert) take --body_limit.
    bodyLimit: Math.min(SMALL_BODY_LIMIT, config.body_limit),
    // Behind reverse proxies, the client's address comes from X-Forwarded-For (per-IP limits).
    trustProxy: trust.hop ?? false,
    // Slow clients (slowloris) cannot hold a request open: headers in 10 s, the whole request in 30 s.
    // An SSE response is not a request being received, so streams are unaffected.
    requestTimeout: 30_000,
    connectionTimeout: 0,
    // Between requests an idle connection is closed after this (fastify's default is 72 s).
    keepAliveTimeout: config.keep_alive_timeout * 1000,
    schemaErrorFormatter: formatSchemaErrors,
    // A path parameter (the apps' /{appID}/ routes) as long as a URL may be: past fastify's 100, any long
    // one-segment path would answer 414 instead of a plain 404. The handlers bound what they accept.
    routerOptions: { maxParamLength: 16 * 1024 },
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false } },
    // Node enforces headersTimeout/requestTimeout only when it sweeps connections (every 30 s by
    // default), so a slowloris client could hold a socket for 40 s; sweep every second instead.
    http: { connectionsCheckingInterval: 1000 },
    clientErrorHandler: answerClientError,
    // HTTPS speaks HTTP/2 (ALPN h2, HTTP/1.1 for clients without it): a browser holds at most six
    // HTTP/1.1 connections per host, and each open stream takes one, so a 7th tab could not connect.
    // An h2 session idle (no stream, so no heartbeat) past one heartbeat and a margin is closed.
    ...(options.https
      ? {
          http2: true,
          http2SessionTimeout: config.heartbeat * 1000 + 5000,
          https: { allowHTTP1: true, settings: { maxConcurrentStreams: H2_MAX_STREAMS }, ...(options.https as object) },
        }
      : {}),
  } as FastifyServerOptions);
  app.server.headersTimeout = 10_000;
  // fastify sets these only on an HTTP/1.1 server; the HTTP/2 server's HTTP/1.1 fallback reads them too.
  if (options.https)
    Object.assign(app.server, {
      requestTimeout: 30_000,
      connectionsCheckingInterval: 1000,
      keepAliveTimeout: config.keep_alive_timeout * 1000,
    });
  logRequests(app);
  capConnectionsPerAddress(app.server, config.max_connections_per_ip, trust.peer);

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, text, done) => {
    try {
      done(null, parseJsonBody(text as string));
    } catch (err) {
      done(err as Error, undefined);
    }
  });

  app.setErrorHandler((err, req, reply) => {
    const answer = toHttpError(err);
    if (answer.statusCode >= 500) req.log.error({ err }, 'request failed');
    void reply.code(answer.statusCode).headers(answer.headers).send(answer.body);
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send(notFoundBody(req));
  });

  app.addHook('onRequest', async (_req, reply) => {
    void reply.headers(SECURITY_HEADERS);
    if (config.secure) void reply.header('strict-transport-security', 'max-age=31536000');
  });

  // Per-IP limits by group. Basic credentials cost an argon2 check on every request, so on user
  // routes a Basic request counts like a login (password spraying must not go around the limit);
  // Bearer requests there are not limited.
  const isBasic = (req: { headers: { authorization?: string } }) => /^basic\s/i.test(req.headers.authorization ?? '');
  const limits = {
    login: { max: config.login_rate_limit, timeWindow: 60_000 },
    admin: { max: config.admin_rate_limit, timeWindow: 60_000 },
    user: {
      max: config.login_rate_limit,
      timeWindow: 60_000,
      allowList: (req: { headers: { authorization?: string } }) => !isBasic(req),
    },
  };
  app.addHook('onRoute', (route) => {
    const group = (route.config as { rateLimitGroup?: keyof typeof limits } | undefined)?.rateLimitGroup;
    if (group && group !== 'user') route.config = { ...route.config, rateLimit: limits[group] } as typeof route.config;
  });

  const corsOptions = {
    origin: config.origin === '*' ? '*' : config.origin.split(',').map((o) => o.trim()),
    methods: ['GET', 'HEAD', 'POST', 'OPTIONS'],
    allowedHeaders: ['authorization', 'content-type', 'last-event-id', 'cache-control', EPOCH_HEADER],
    exposedHeaders: [EPOCH_HEADER],
    maxAge: 600,
  };
  // The app routes (src/apps) also allow their keys' allowed_origins, DELETE and the X-API-Key header.
  const appCors = { ...corsOptions, methods: [...corsOptions.methods, 'DELETE'] };
  appCors.allowedHeaders = [...corsOptions.allowedHeaders, 'x-api-key'];
  await app.register(cors, {
    delegator: (req, done) => {
      if (!isAppPath(req.url ?? '')) return done(null, corsOptions);
      const origin = req.headers.origin;
      done(null, origin && services.apps.keys.originAllowed(origin) ? { ...appCors, origin } : appCors);
    },
  });
  // An unknown route answers before its body is read or parsed (after CORS, so a browser can read the
  // 404). An announced body is not waited for: the connection closes after the answer instead.
  app.addHook('onRequest', async (req, reply) => {
    if (!req.is404) return;
    const hasBody = req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] ?? '0') !== '0';
    if (hasBody && req.raw.httpVersionMajor === 1) void reply.header('connection', 'close');
    return reply.code(404).send(notFoundBody(req));
  });
  await app.register(rateLimit, {
    global: false,
    errorResponseBuilder: (_req, context) =>
      Object.assign(new Error(`too many requests: retry in ${Math.ceil(context.ttl / 1000)} s`), { statusCode: 429 }),
  });

  // A route's own limit keeps one counter per route: the user routes share one, so that spreading Basic
  // guesses over /verify, /insert, /events and /sse does not multiply the budget.
  const basicLimit = app.rateLimit(limits.user);
  app.addHook('onRequest', async function (req, reply) {
    if (req.routeOptions.config?.rateLimitGroup === 'user') await basicLimit.call(this, req, reply);
  });

  reapConnectionsOnClose(app);

  // First: the OpenAPI document describes the routes registered after it (ops/openapi-routes.ts).
  await openApiRoutes(app);
  metricsRoutes(app, { metrics: services.metrics, token: config.metrics_token });
  // A cluster node (--nats) catches up to the stream's last sequence before a request decides on state
  // (a login after a create_user on another node, a lockout counted on three): one round trip, shared by
  // the requests that arrive meanwhile. One node: no hook.
  const { storage } = services;
  if (storage.state()) {
    app.addHook('onRequest', async (req) => {
      if (req.url !== '/') await storage.sync();
    });
  }
  app.get('/', async () => {
    const cluster = storage.state();
    return cluster ? { cluster } : {};
  });
  const { identity, adminToken } = services;
  const { users, login, twoFactor, resets, credentials, verifier } = identity;
  identityRoutes(app, { users, login, resets, credentials, verifier, adminToken, bodyLimit: config.body_limit });
  const { identityLinks, selfService } = identity;
  adminRoutes(app, { users, twoFactor, resets, identityLinks, adminToken, bodyLimit: config.body_limit });
  selfServiceRoutes(app, { selfService, credentials });
  oidcRoutes(app, { identity, config, now: services.now });
  const { topics, log } = services;
  await topicRoutes(app, { topics, log, adminToken, bodyLimit: config.body_limit, now: services.now });
  const topicSse = topicStream({ topics, log });
  realtimeRoutes(app, {
    log,
    hub: services.hub,
    identity,
    config,
    topicStream: topicSse,
    idempotency: services.idempotency,
  });
  appAdminRoutes(app, { apps: services.apps, adminToken });
  await appRoutes(app, services.apps);
  if (config.dashboard) await dashboardRoutes(app, services, { dir: config.dashboard_dir });
  return app;
}

/**
 * Errors Node's HTTP parser raises before any route runs (headers too large, a malformed request line,
 * a header timeout) answer in the contract's shape too, {"error": "..."}, then close the connection.
 */
function answerClientError(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, reason, message] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'Request Header Fields Too Large', 'request headers are too large']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'Request Timeout', 'request took too long to arrive']
        : err.code === 'HPE_URI_TOO_LONG'
          ? [414, 'URI Too Long', 'request URL is too long']
          : [400, 'Bad Request', 'malformed HTTP request'];
  const body = JSON.stringify({ error: message });
  if (socket.writable) {
    socket.end(
      `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ` +
        `${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroySoon?.();
}

/** In-flight requests get this long to finish once close() starts; then every connection is cut. */
const CLOSE_GRACE_MS = 3000;

/**
 * Node counts a connection that has not sent a request yet as active (so headersTimeout can reap
 * it), but server.close() stops that reaper: such a connection, which browsers and undici open ahead
 * of need, would hold close() open forever. Reap those as soon as close() starts, and cut whatever is
 * left after a grace period so that a shutdown always ends.
 */
function reapConnectionsOnClose(app: FastifyInstance): void {
  const sockets = new Set<Socket>();
  app.server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  app.server.on('secureConnection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  // HTTP/2 (HTTPS): Node 20's server.close() leaves open sessions be, and an idle one has read bytes.
  const sessions = new Set<ServerHttp2Session>();
  app.server.on('session', (session: ServerHttp2Session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  });
  app.addHook('preClose', async () => {
    // preClose runs just before server.close(): act right after it, when nothing new is accepted.
    setImmediate(() => {
      for (const socket of sockets) if (socket.bytesRead === 0) socket.destroy();
      // GOAWAY: requests in flight finish, then the session closes.
      for (const session of sessions) session.close();
    });
    setTimeout(() => {
      for (const socket of sockets) socket.destroy();
    }, CLOSE_GRACE_MS).unref();
  });
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Which per-IP rate limit applies: login (login, password_reset, create_totp), admin, or user (Basic only). */
    rateLimitGroup?: 'login' | 'admin' | 'user';
  }
}
