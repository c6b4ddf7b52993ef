// GET /metrics, the Prometheus face of ops/metrics.ts. Who may scrape: with --metrics_token, whoever
// sends `Authorization: Bearer <it>` (loopback included: a local process is no more trusted than the
// token says); without one, loopback peers only. "Loopback" is the socket's own peer, never req.ip: with
// --trust_proxy, X-Forwarded-For decides req.ip, and a forged "127.0.0.1" must not open the metrics.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BrokerError, unauthorized } from '../errors.js';
import { sameSecret } from '../lib/digest.js';
import type { Metrics } from './metrics.js';

export interface MetricsRouteParts {
  metrics: Metrics;
  /** --metrics_token, or undefined (loopback only). */
  token: string | undefined;
}

/** 127.0.0.0/8 and ::1, also as IPv4-mapped IPv6 (a dual-stack socket's view of an IPv4 peer). */
export function isLoopbackPeer(address: string | undefined): boolean {
  if (!address) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return v4 === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4);
}

const ERROR = { type: 'object', properties: { error: { type: 'string' } } } as const;

function bearer(req: FastifyRequest): string | undefined {
  const match = /^bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  return match?.[1];
}

export function metricsRoutes(app: FastifyInstance, { metrics, token }: MetricsRouteParts): void {
  app.get(
    '/metrics',
    {
      // Wrong tokens count against the admin rate limit, as wrong admin tokens do.
      config: { rateLimitGroup: 'admin' },
      schema: {
        summary: 'Prometheus metrics (text format 0.0.4)',
        description:
          'Without --metrics_token: loopback peers only (others get 403). With it: `Authorization: Bearer ' +
          '<token>` on every request, from anywhere (401 without or with a wrong one).',
        tags: ['ops'],
        response: {
          200: { description: 'Prometheus text exposition format', type: 'string' },
          401: ERROR,
          403: ERROR,
        },
      },
    },
    async (req, reply) => {
      if (token !== undefined) {
        const given = bearer(req);
        if (given === undefined || !sameSecret(given, token)) throw unauthorized('a valid metrics token is required');
      } else if (!isLoopbackPeer(req.raw.socket?.remoteAddress)) {
        throw new BrokerError(403, 'FORBIDDEN', 'metrics are served to loopback peers only (set --metrics_token)');
      }
      const { text, contentType } = await metrics.scrape();
      return reply.type(contentType).send(text);
    },
  );
}
