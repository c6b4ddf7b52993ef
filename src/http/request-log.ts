// One log line per request (fastify's own logging writes two at info, "incoming request" and "request
// completed"), written when the answer is complete or the client went away, with the URL redacted.
import { LogController, type FastifyInstance } from 'fastify';

/**
 * Query parameters whose values are harmless to log. Every other value is redacted, whatever its name
 * or however that name is percent-encoded: `/sse?%74oken=` is read as `token` by the query parser, so
 * a list of secret names matched against the raw text would let the JWT through.
 */
const LOGGED_PARAMS = new Set(['after', 'limit', 'event', 'events', 'before', 'order', 'last_event_id', 'epoch']);
// Topic names (realtime/topics/) are not secrets; a topic token in `?token=` stays redacted.
for (const name of ['topic', 'topics']) LOGGED_PARAMS.add(name);
// The dashboard's reads: tenants, offsets, platforms and app ids are not secrets (its user search q= stays
// redacted: it may be an email).
for (const name of ['tenant', 'offset', 'platform', 'app_id']) LOGGED_PARAMS.add(name);

function decodedName(part: string): string | undefined {
  const eq = part.indexOf('=');
  try {
    return decodeURIComponent((eq < 0 ? part : part.slice(0, eq)).replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

/** Query-string secrets (`/sse?token=`) never reach a log line. */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const query = url
    .slice(q + 1)
    .split('&')
    .map((part) => {
      const name = decodedName(part);
      if (part === '' || (name !== undefined && LOGGED_PARAMS.has(name))) return part;
      const eq = part.indexOf('=');
      // A bare name may itself be a pasted token: only a named value keeps its name.
      return eq < 0 ? '***' : `${part.slice(0, eq)}=***`;
    })
    .join('&');
  return `${url.slice(0, q)}?${query}`;
}

/** fastify's two lines per request give way to ours (logRequests); its other lines (errors) stay. */
export class OneLinePerRequest extends LogController {
  override incomingRequest(): void {}
  override requestCompleted(): void {}
}

const QUIET_LEVELS = new Set(['silent', 'fatal', 'error', 'warn']);

export function logRequests(app: FastifyInstance): void {
  // The response's 'close' comes once per request: after the answer is complete, or when the client
  // went away first (how a stream usually ends, so an SSE request is logged when it ends).
  app.addHook('onRequest', (req, reply, done) => {
    // Nothing is built for a level that writes nothing (a silent or warn-level broker pays no redaction).
    if (QUIET_LEVELS.has(req.log.level)) return done();
    reply.raw.once('close', () => {
      const fields = {
        method: req.method,
        url: redactUrl(req.url),
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime),
        ip: req.ip,
      };
      if (reply.raw.writableFinished) req.log.info(fields, 'request');
      else req.log.info({ ...fields, aborted: true }, 'request ended by the client');
    });
    done();
  });
}
