// The baseline: a minimal broadcast hub on plain node:http, the shape most hand-written SSE hubs have.
// GET /sse keeps the response; POST /insert {event, data} frames the event once and res.write()s the same
// Buffer to every open response (chunked encoding, one write per subscriber per event). No auth, no
// storage, no batching, no backpressure limit: it measures what Node's HTTP stack costs per delivery.
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface BaselineHub {
  server: Server;
  url: string;
  subscribers: Set<ServerResponse>;
  close(): Promise<void>;
}

export async function startBaseline(host = '127.0.0.1', port = 0): Promise<BaselineHub> {
  const subscribers = new Set<ServerResponse>();
  let lastId = 0;
  const server = createServer((req, res) => {
    if (req.method === 'GET' && req.url?.startsWith('/sse')) {
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        'x-accel-buffering': 'no',
        connection: 'keep-alive',
      });
      res.write('retry:2000\n\n');
      subscribers.add(res);
      res.once('close', () => subscribers.delete(res));
      return;
    }
    if (req.method === 'POST' && req.url === '/insert') {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        let body: { event?: unknown; data?: unknown };
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { event?: unknown; data?: unknown };
        } catch {
          res.writeHead(400).end('{"error":"bad json"}');
          return;
        }
        const id = ++lastId;
        const frame = Buffer.from(`event:${String(body.event)}\nid:${id}\ndata:${JSON.stringify(body.data)}\n\n`);
        for (const sub of subscribers) sub.write(frame);
        res.writeHead(200, { 'content-type': 'application/json' }).end(`{"id":${id}}`);
      });
      return;
    }
    if (req.url === '/') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      return;
    }
    res.writeHead(404).end();
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, backlog: 4096 }, () => resolve());
  });
  const address = server.address() as AddressInfo;
  return {
    server,
    url: `http://${host}:${address.port}`,
    subscribers,
    async close() {
      for (const sub of subscribers) sub.end();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
