// The dashboard's Events page: a tenant's latest event of every name, its history, a test insert and a
// live tail. The tail is a hub subscriber like any app's stream (hub.attach, live from the committed
// head), framed as unnamed SSE messages of {id, event, data, timestamp} so the page needs one listener;
// it ends with the session that opened it (sign-out, expiry).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ServerHttp2Stream } from 'node:http2';
import { badRequest, tooMany } from '../../errors.js';
import { anyJson, body, str } from '../../http/schema.js';
import type { Signal } from '../../lib/signal.js';
import { EVENTS_MAX_LIMIT, history } from '../../realtime/history.js';
import { type EventStreamTarget, HEARTBEAT, invalidEventName, openEventStream } from '../../realtime/sse.js';
import { type Framing, Subscriber } from '../../realtime/subscriber.js';
import type { Services } from '../../services.js';
import type { EventRecord } from '../../storage/event-log.js';

/** Live tails open at once across every session (each holds a socket and a buffer). */
export const MAX_TAILS = 16;
/** Bytes of latest events one answer holds (their data is up to --body_limit each). */
const LATEST_MAX_BYTES = 4 * 1024 * 1024;
/** The username the hub files dashboard tails under (U+007F: never a user's name). */
export const DASHBOARD_USER = '\u007fdashboard';

const asJson = (r: EventRecord) =>
  `{"id":${r.id},"event":${JSON.stringify(r.event)},"data":${r.data},"timestamp":${r.timestamp}}`;

const TAIL_FRAMING: Framing = {
  name: 'dashboard',
  frame: (r) => Buffer.from(`id:${r.id}\ndata:${asJson(r)}\n\n`),
  reset: '',
  heartbeat: HEARTBEAT,
};

function tenantOf(value: unknown): string {
  if (typeof value !== 'string' || value === '' || value.length > 256 || /\p{Cc}/u.test(value))
    throw badRequest('tenant must be 1-256 characters without control characters');
  return value;
}

function idOf(value: unknown, what: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string' || !/^\d{1,16}$/.test(value))
    throw badRequest(`${what} must be a non-negative integer`);
  return Number(value);
}

export interface DashboardEventParts {
  services: Services;
  sessionOf: (req: FastifyRequest) => { key: string; expiresAt: number } | undefined;
  ended: Signal<string>;
}

type Query = Record<string, string | undefined>;

export function eventRoutes(app: FastifyInstance, parts: DashboardEventParts): void {
  const { log, hub, identity } = parts.services;
  const tails = new Map<Subscriber, string>();
  parts.ended.subscribe((key) => {
    for (const [sub, owner] of tails) if (owner === key) sub.end();
  });

  app.get('/_/api/tenants', async () => {
    const tenants = new Set<string>();
    for (const u of identity.users.list()) if (tenants.add(u.tenant_name).size >= 1000) break;
    return { tenants: [...tenants].sort() };
  });

  app.get<{ Querystring: Query }>('/_/api/events/latest', async (req, reply) => {
    const tenant = tenantOf(req.query.tenant);
    const { records } = log.getMany(tenant, log.latestIds(tenant), LATEST_MAX_BYTES);
    records.sort((a, b) => (a.event < b.event ? -1 : a.event > b.event ? 1 : 0));
    return reply.type('application/json; charset=utf-8').send(`{"events":[${records.map(asJson).join(',')}]}`);
  });

  app.get<{ Querystring: Query }>('/_/api/events', async (req, reply) => {
    const tenant = tenantOf(req.query.tenant);
    const before = idOf(req.query.before, 'before');
    const limit = Math.max(1, Math.min(idOf(req.query.limit, 'limit') ?? 50, EVENTS_MAX_LIMIT));
    const name = req.query.event;
    if (name !== undefined && name.length > 256) throw badRequest('event must be at most 256 characters');
    // Newest first, a page at a time: `next` continues with before=next.
    const { records, next } = await history(log, tenant, {
      after: idOf(req.query.after, 'after') ?? 0,
      before,
      desc: true,
      limit,
      names: name ? new Set([name]) : undefined,
    });
    const more = next === undefined ? '' : `,"next":${next}`;
    return reply.type('application/json; charset=utf-8').send(`{"events":[${records.map(asJson).join(',')}]${more}}`);
  });

  app.post<{ Body: { tenant: string; event: string; data: unknown } }>(
    '/_/api/events',
    { schema: body(['tenant', 'event', 'data'], { tenant: str, event: str, data: anyJson }) },
    async (req) => {
      const tenant = tenantOf(req.body.tenant);
      const problem = invalidEventName(req.body.event);
      if (problem) throw badRequest(problem);
      return { id: (await log.append(tenant, req.body.event, JSON.stringify(req.body.data))).id };
    },
  );

  app.get<{ Querystring: Query }>('/_/api/events/tail', async (req, reply: FastifyReply) => {
    const tenant = tenantOf(req.query.tenant);
    const session = parts.sessionOf(req);
    if (!session) return reply.code(401).send({ error: 'not signed in' });
    if (tails.size >= MAX_TAILS) throw tooMany(`at most ${MAX_TAILS} live tails at once`, 5);
    reply.hijack();
    const h2 = (reply.raw as unknown as { stream?: ServerHttp2Stream }).stream;
    const target: EventStreamTarget = h2 ? { h2 } : { socket: reply.raw.socket };
    const sink = openEventStream(target, reply.getHeaders(), log.epoch);
    if (!sink) return;
    const sub = new Subscriber({
      stream: tenant,
      username: DASHBOARD_USER,
      sink,
      names: undefined,
      framing: TAIL_FRAMING,
      expiresAt: session.expiresAt,
    });
    tails.set(sub, session.key);
    sink.once('close', () => tails.delete(sub));
    await hub.attach(sub, { after: log.committedId(tenant) });
  });
}
