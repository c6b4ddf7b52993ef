// The plain-HTTP side of --secure, on --http_port: answers ACME HTTP-01 challenges from the tokens the
// ACME client has published, and sends every other request to the same path over HTTPS. It never
// serves the API in clear, so a client that forgot the `s` gets a redirect, not a leaked token.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

const CHALLENGE_PREFIX = '/.well-known/acme-challenge/';

export interface ChallengeServerOptions {
  /** token -> key authorization, filled while an order is being validated. */
  challenges: ReadonlyMap<string, string>;
  /** Redirect target host; without it the request's Host (its port dropped) is used. */
  domain: string | undefined;
  /** The port HTTPS listens on: 443 is left out of the Location. */
  httpsPort: () => number;
}

/** The request's host name without its port, or undefined when it is missing or not a plain host. */
function requestHost(req: IncomingMessage): string | undefined {
  const host = req.headers.host;
  if (!host) return undefined;
  const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.replace(/:\d*$/, '');
  return /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)$/.test(name) ? name : undefined;
}

export function createChallengeServer(options: ChallengeServerOptions): Server {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path.startsWith(CHALLENGE_PREFIX) && (req.method === 'GET' || req.method === 'HEAD')) {
      const token = path.slice(CHALLENGE_PREFIX.length);
      const answer = options.challenges.get(token);
      if (answer === undefined) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('unknown challenge token\n');
        return;
      }
      res
        .writeHead(200, { 'content-type': 'application/octet-stream' })
        .end(req.method === 'HEAD' ? undefined : answer);
      return;
    }
    const host = options.domain ?? requestHost(req);
    if (!host) {
      res
        .writeHead(400, { 'content-type': 'application/json' })
        .end(JSON.stringify({ error: 'this port only redirects to HTTPS: send a Host header' }));
      return;
    }
    const port = options.httpsPort();
    const location = `https://${host}${port === 443 ? '' : `:${port}`}${req.url?.startsWith('/') ? req.url : '/'}`;
    // 301 for reads (cached by browsers), 308 for the rest so a POST stays a POST with its body.
    const status = req.method === 'GET' || req.method === 'HEAD' ? 301 : 308;
    res
      .writeHead(status, { location, 'content-type': 'text/plain' })
      .end(req.method === 'HEAD' ? undefined : `use ${location}\n`);
  });
  // Same slow-client limits as the API: nothing here needs a long-held connection.
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  return server;
}
