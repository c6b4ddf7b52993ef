// The HTTP face of topics (TOPICS-API.md): notiflux's /broadcast, /health and /ws, and past it
// /create_topic_token, the JWKS, /presence and topic streams over SSE (topicStream, called by /sse).
import websocket from '@fastify/websocket';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ServerHttp2Stream } from 'node:http2';
import { EPOCH_HEADER } from '../../../client/protocol.js';
import { badRequest, unauthorized } from '../../errors.js';
import { requireAdmin } from '../../http/require-admin.js';
import { body, str } from '../../http/schema.js';
import type { EventLog } from '../../storage/event-log.js';
import { MAX_TOPIC_TOKEN_S } from '../../tokens/topic-tokens.js';
import { openEventStream } from '../sse.js';
import { idempotencyKey } from './idempotency.js';
import { MAX_TOPICS, type Topics, checkTopic } from './topics.js';
import { Connection, V1_PROTOCOL } from './ws.js';

export interface TopicRouteParts {
  topics: Topics;
  log: EventLog;
  adminToken: string;
  bodyLimit: number;
  now: () => number;
}

/** The token of a GET: `Authorization: Bearer`, else `?token=`. */
function bearerOf(req: FastifyRequest): string | undefined {
  const header = req.headers.authorization;
  if (header) {
    const match = /^bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) throw unauthorized('Authorization must be Bearer <token>');
    return match[1];
  }
  const token = (req.query as { token?: unknown }).token;
  return typeof token === 'string' && token !== '' ? token : undefined;
}

const single = (value: unknown) => (Array.isArray(value) ? value[0] : value);

export async function topicRoutes(app: FastifyInstance, parts: TopicRouteParts): Promise<void> {
  const { topics } = parts;
  await app.register(websocket, {
    options: {
      perMessageDeflate: false,
      maxPayload: 64 * 1024,
      handleProtocols: (offered: Set<string>) => (offered.has(V1_PROTOCOL) ? V1_PROTOCOL : false),
    },
  });

  app.get('/health', async () => ({}));
  app.get('/.well-known/jwks.json', async () => topics.tokens.jwks());

  app.get('/ws', { websocket: true }, (socket, req) => {
    new Connection(socket, topics, (message, fields) => req.log.info(fields, message));
  });

  app.post<{ Body: { topic: string; message: string; token: string } }>(
    '/broadcast',
    {
      schema: body(['topic', 'message', 'token'], { topic: str, message: str, token: str }),
      bodyLimit: parts.bodyLimit,
    },
    async (req) => {
      const key = idempotencyKey(req.headers['idempotency-key']);
      const { topic, message, token } = req.body;
      await topics.authorize(token, 'broadcast', [topic]);
      checkTopic(topic);
      return { id: await topics.broadcast(topic, message, key) };
    },
  );

  app.post<{ Body: { admin_token: string; topics: string[]; scope: string; expires_in: number } }>(
    '/create_topic_token',
    {
      schema: body(['admin_token', 'topics', 'scope', 'expires_in'], {
        admin_token: str,
        topics: { type: 'array', items: str, minItems: 1, maxItems: 1000 },
        scope: { type: 'string', enum: ['subscribe', 'broadcast'] },
        expires_in: { type: 'integer', minimum: 1, maximum: MAX_TOPIC_TOKEN_S },
      }),
      preHandler: requireAdmin(parts.adminToken),
      config: { rateLimitGroup: 'admin' },
    },
    async (req) => {
      const { scope, expires_in } = req.body;
      for (const topic of req.body.topics) checkTopic(topic);
      const token = await topics.tokens.sign(req.body.topics, scope as 'subscribe', expires_in);
      return { token, expiry: Math.floor(parts.now() / 1000) + expires_in };
    },
  );

  app.get<{ Querystring: Record<string, unknown> }>('/presence', async (req) => {
    const topic = checkTopic(single(req.query.topic));
    await topics.authorize(bearerOf(req), 'any', [topic]);
    return topics.presenceEverywhere(topic);
  });
}

export type TopicStreamHandler = (
  req: FastifyRequest<{ Querystring: Record<string, unknown> }>,
  reply: FastifyReply,
) => Promise<void>;

/** GET /sse?topics=a,b: realtime/routes.ts owns /sse and hands it here when `topics` is given. */
export function topicStream({ topics, log }: Pick<TopicRouteParts, 'topics' | 'log'>): TopicStreamHandler {
  return async (req, reply) => {
    const list = String(single(req.query.topics) ?? '')
      .split(',')
      .filter((t) => t !== '');
    if (list.length === 0) throw badRequest('topics must list at least one topic');
    if (list.length > MAX_TOPICS) throw badRequest(`at most ${MAX_TOPICS} topics per stream`);
    const names = [...new Set(list.map(checkTopic))];
    const claims = await topics.authorize(bearerOf(req), 'subscribe', names);
    const header = single(req.headers['last-event-id']) ?? single(req.query.last_event_id);
    let after: number | undefined;
    if (header !== undefined && header !== '') {
      if (!/^\d{1,16}$/.test(String(header).trim())) throw badRequest('Last-Event-ID must be a non-negative integer');
      after = Number(String(header).trim());
    }
    reply.hijack();
    const headers = { ...reply.getHeaders(), [EPOCH_HEADER]: log.epoch };
    const h2 = (reply.raw as unknown as { stream?: ServerHttp2Stream }).stream;
    const sink = openEventStream(h2 ? { h2 } : { socket: reply.raw.socket }, headers, log.epoch);
    if (!sink) return;
    await topics.subscribe({ topics: names, claims, sink, after: after === undefined ? undefined : { after } })
      .attached;
  };
}
