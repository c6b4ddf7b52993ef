// /insert, /sse and /events: the thin HTTP face of the event log and the hub.
import type { FastifyInstance } from 'fastify';
import { badRequest, tooMany } from '../errors.js';
import { principalOf, requireUser } from '../auth/require-user.js';
import { anyJson, body, str } from '../schema.js';
import type { Services } from '../services.js';
import { Subscriber } from './hub.js';
import { invalidEventName, openEventStream } from './sse.js';
import { startStream } from './stream.js';

function parseId(value: unknown, what: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  const text = String(value).trim();
  if (!/^\d{1,16}$/.test(text)) throw badRequest(`${what} must be a non-negative integer`);
  return Number(text);
}

function parseNames(value: unknown): Set<string> | undefined {
  if (typeof value !== 'string' || value === '') return undefined;
  return new Set(value.split(',').map((s) => s.trim()).filter(Boolean));
}

export function realtimeRoutes(app: FastifyInstance, services: Services): void {
  const { identity, log, hub, config } = services;

  app.post<{ Body: { event: string; data: unknown } }>(
    '/insert',
    { preParsing: requireUser(identity), schema: body(['event', 'data'], { event: str, data: anyJson }), config: { rateLimitGroup: 'user' }, bodyLimit: config.body_limit },
    async (req) => {
      const { user } = principalOf(req);
      const problem = invalidEventName(req.body.event);
      if (problem) throw badRequest(problem);
      const record = await log.append(user.tenant_name, req.body.event, JSON.stringify(req.body.data));
      return { id: record.id };
    },
  );

  app.get<{ Querystring: Record<string, string | undefined> }>('/events', { preParsing: requireUser(identity), config: { rateLimitGroup: 'user' } }, async (req) => {
    const { user } = principalOf(req);
    const after = parseId(req.query.after, 'after') ?? 0;
    const limit = Math.min(parseId(req.query.limit, 'limit') ?? 100, 1000);
    const names = req.query.event ? new Set([req.query.event]) : undefined;
    const events = log.after(user.tenant_name, after, Math.max(limit, 1), names).map((r) => ({
      id: r.id,
      event: r.event,
      data: JSON.parse(r.data) as unknown,
      timestamp: r.timestamp,
    }));
    return { events };
  });

  app.get<{ Querystring: Record<string, string | undefined> }>('/sse', { preParsing: requireUser(identity, { queryToken: true }), config: { rateLimitGroup: 'user' } }, async (req, reply) => {
    const { user, exp } = principalOf(req);
    const header = req.headers['last-event-id'];
    const lastEventId = parseId(Array.isArray(header) ? header[0] : header, 'Last-Event-ID') ?? parseId(req.query.last_event_id, 'last_event_id');
    const names = parseNames(req.query.events);
    if (!hub.canSubscribe(user.username)) throw tooMany(`at most ${config.max_streams_per_user} open streams per user`, 5);

    const sink = openEventStream(reply);
    if (!sink) return;
    const sub = new Subscriber({ tenant: user.tenant_name, username: user.username, sink, names, expiresAt: exp === undefined ? undefined : exp * 1000 });
    hub.add(sub);
    await startStream(hub, log, sub, lastEventId);
  });
}
