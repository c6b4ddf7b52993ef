// /insert, /sse and /events: the thin HTTP face of the event log and the hub.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ServerHttp2Stream } from 'node:http2';
import { EPOCH_HEADER, EPOCH_PARAM } from '../../client/protocol.js';
import { badRequest, tooMany, unauthorized } from '../errors.js';
import type { Config } from '../config.js';
import { principalOf, requireUser } from '../http/authenticate.js';
import { anyJson, body, str } from '../http/schema.js';
import type { Identity } from '../identity/identity.js';
import type { EventLog, EventRecord } from '../storage/event-log.js';
import type { IdempotencyClaim } from '../storage/idempotency.js';
import { EVENTS_DEFAULT_LIMIT, EVENTS_MAX_LIMIT, history } from './history.js';
import type { Hub } from './hub.js';
import { type EventStreamTarget, invalidEventName, openEventStream } from './sse.js';
import { Subscriber } from './subscriber.js';
import { type Idempotency, idempotencyKey } from './topics/idempotency.js';
import type { TopicStreamHandler } from './topics/routes.js';
import { TenantLimits } from './tenant-limits.js';

/** The parts the realtime routes use. */
export interface RealtimeParts {
  log: EventLog;
  hub: Hub;
  /** Authenticates requests (requireUser) and re-reads a user record (isCurrent). */
  identity: Identity;
  config: Pick<
    Config,
    'tenant_insert_rate' | 'tenant_quota' | 'tenant_max_event_names' | 'body_limit' | 'max_streams_per_user'
  >;
  /** /sse?topics=…: a topic stream, with a topic token instead of a user's (topics/routes.ts). */
  topicStream?: TopicStreamHandler;
  /** Idempotency-Key on /insert (topics/idempotency.ts). */
  idempotency?: Idempotency;
}

function parseId(value: unknown, what: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  const text = String(value).trim();
  if (!/^\d{1,16}$/.test(text)) throw badRequest(`${what} must be a non-negative integer`);
  return Number(text);
}

/** `event=<name>` (one exact name, may repeat) and `events=a,b` (a comma-separated list), on both routes. */
function parseNames(query: Record<string, unknown>): Set<string> | undefined {
  const names = new Set<string>();
  for (const one of [query.event].flat()) if (typeof one === 'string' && one !== '') names.add(one);
  for (const list of [query.events].flat()) {
    if (typeof list !== 'string') continue;
    for (const name of list.split(',')) if (name.trim()) names.add(name.trim());
  }
  return names.size > 0 ? names : undefined;
}

function single(value: unknown): unknown {
  return Array.isArray(value) ? value[0] : value;
}

/** The epoch a resume's id is from (`epoch` parameter or Broker-Epoch header); undefined when not sent. */
function epochOf(req: FastifyRequest<{ Querystring: Record<string, string | string[] | undefined> }>) {
  const value = single(req.headers[EPOCH_HEADER]) ?? single(req.query[EPOCH_PARAM]);
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** What carries the stream once fastify has let go (reply.hijack): the socket, or the request's h2 stream. */
function eventStreamTarget(raw: FastifyReply['raw']): EventStreamTarget {
  const h2 = (raw as unknown as { stream?: ServerHttp2Stream }).stream;
  return h2 ? { h2 } : { socket: raw.socket };
}

/** The stored data is compact JSON text already: spliced into the answer, never parsed again. */
function eventsJson(records: EventRecord[], next: number | undefined): string {
  let out = '{"events":[';
  for (let i = 0; i < records.length; i++) {
    const r = records[i];
    out += `${i ? ',' : ''}{"id":${r.id},"event":${JSON.stringify(r.event)},`;
    out += `"data":${r.data},"timestamp":${r.timestamp}}`;
  }
  return `${out}]${next === undefined ? '' : `,"next":${next}`}}`;
}

export function realtimeRoutes(app: FastifyInstance, parts: RealtimeParts): void {
  const { identity, log, hub, config, topicStream, idempotency } = parts;
  const limits = new TenantLimits(
    { insertRate: config.tenant_insert_rate, quota: config.tenant_quota, maxEventNames: config.tenant_max_event_names },
    log,
  );

  app.post<{ Body: { event: string; data: unknown } }>(
    '/insert',
    {
      preParsing: requireUser(identity),
      schema: body(['event', 'data'], { event: str, data: anyJson }),
      config: { rateLimitGroup: 'user' },
      bodyLimit: config.body_limit,
    },
    async (req) => {
      const key = idempotencyKey(req.headers['idempotency-key']);
      const { user } = principalOf(req);
      // Authenticated before the body arrived (up to --body_limit, possibly slowly): a revoke or tenant
      // move meanwhile must not let this write land in the old tenant.
      if (!identity.isCurrent(user)) throw unauthorized('invalid or expired token');
      const problem = invalidEventName(req.body.event);
      if (problem) throw badRequest(problem);
      const data = JSON.stringify(req.body.data);
      // Checked and appended in one turn: concurrent inserts cannot both pass the last byte of a quota.
      const append = async (idempotency?: IdempotencyClaim) => {
        limits.check(user.tenant_name, req.body.event, data);
        return (await log.append(user.tenant_name, req.body.event, data, { idempotency })).id;
      };
      if (key === undefined || !idempotency) return { id: await append() };
      const content = JSON.stringify([req.body.event, data]);
      return { id: await idempotency.once(user.tenant_name, key, content, append) };
    },
  );

  app.get<{ Querystring: Record<string, string | string[] | undefined> }>(
    '/events',
    { preParsing: requireUser(identity), config: { rateLimitGroup: 'user' } },
    async (req, reply) => {
      const { user } = principalOf(req);
      const after = parseId(single(req.query.after), 'after') ?? 0;
      const before = parseId(single(req.query.before), 'before');
      const limit = Math.max(
        1,
        Math.min(parseId(single(req.query.limit), 'limit') ?? EVENTS_DEFAULT_LIMIT, EVENTS_MAX_LIMIT),
      );
      const order = single(req.query.order);
      if (order !== undefined && order !== 'asc' && order !== 'desc') throw badRequest('order must be asc or desc');
      // `before` alone reads back from it ("the 50 before this one"); otherwise oldest first unless asked.
      const desc = order === 'desc' || (order === undefined && before !== undefined && req.query.after === undefined);
      const { records, next } = await history(log, user.tenant_name, {
        after,
        before,
        desc,
        limit,
        names: parseNames(req.query),
      });
      return reply
        .type('application/json; charset=utf-8')
        .header(EPOCH_HEADER, log.epoch)
        .send(eventsJson(records, next));
    },
  );

  const userStream = requireUser(identity, { queryToken: true });
  app.get<{ Querystring: Record<string, string | string[] | undefined> }>(
    '/sse',
    {
      preParsing: (req, reply, payload) =>
        topicStream && req.query.topics !== undefined ? Promise.resolve(payload) : userStream(req, reply, payload),
      config: { rateLimitGroup: 'user' },
    },
    async (req, reply) => {
      if (topicStream && req.query.topics !== undefined) return topicStream(req, reply);
      const { user, exp } = principalOf(req);
      const header = req.headers['last-event-id'];
      const lastEventId =
        parseId(Array.isArray(header) ? header[0] : header, 'Last-Event-ID') ??
        parseId(single(req.query.last_event_id), 'last_event_id');
      const names = parseNames(req.query);
      if (!hub.canSubscribe(user.username))
        throw tooMany(`at most ${config.max_streams_per_user} open streams per user`, 5);

      const epoch = epochOf(req);
      reply.hijack();
      const headers = { ...reply.getHeaders(), [EPOCH_HEADER]: log.epoch };
      const sink = openEventStream(eventStreamTarget(reply.raw), headers, log.epoch);
      if (!sink) return;
      const sub = new Subscriber({
        stream: user.tenant_name,
        username: user.username,
        sink,
        names,
        expiresAt: exp === undefined ? undefined : exp * 1000,
        isCurrent: () => identity.isCurrent(user),
      });
      await hub.attach(sub, lastEventId === undefined ? undefined : { after: lastEventId, epoch });
    },
  );
}
