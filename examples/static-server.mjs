// The example's web server: the page, its script and style, the built client (dist/client), and
// /config.json telling the page where the broker is. The broker is another origin on purpose: that is
// how apps use it, so the example also exercises the broker's CORS.
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const PAGE_DIR = join(here, 'form');
const CLIENT_DIR = resolve(here, '../dist/client');

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
};

/** Maps a URL path to a file, or undefined: only known names, so no path can climb out. */
function fileFor(path) {
  if (path === '/' || path === '/index.html') return join(PAGE_DIR, 'index.html');
  if (path === '/app.js' || path === '/style.css') return join(PAGE_DIR, path.slice(1));
  const client = /^\/client\/([a-z-]+\.js(?:\.map)?)$/.exec(path);
  if (client) return join(CLIENT_DIR, client[1]);
  return undefined;
}

/**
 * Serves the example page for the broker at `brokerUrl` (or the URL a function gives, for a broker that
 * starts after the page, once it knows which origin to allow).
 * @param {{ brokerUrl: string | (() => string | undefined), port?: number, host?: string }} options
 * @returns {Promise<{ url: string, close(): Promise<void> }>}
 */
export async function serveExample({ brokerUrl, port = 0, host = '127.0.0.1' }) {
  const server = createServer(async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const headers = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' };
    if (path === '/config.json') {
      res.writeHead(200, { ...headers, 'content-type': 'application/json' });
      res.end(JSON.stringify({ brokerUrl: typeof brokerUrl === 'function' ? brokerUrl() : brokerUrl }));
      return;
    }
    const file = fileFor(path);
    if (!file) {
      res.writeHead(404, { ...headers, 'content-type': 'text/plain' });
      res.end('not found');
      return;
    }
    try {
      const body = await readFile(file);
      const type = TYPES[file.slice(file.lastIndexOf('.'))] ?? 'application/octet-stream';
      res.writeHead(200, { ...headers, 'content-type': type });
      res.end(body);
    } catch {
      res.writeHead(404, { ...headers, 'content-type': 'text/plain' });
      res.end(file.startsWith(CLIENT_DIR) ? 'client not built: run npx tsc -p tsconfig.json' : 'not found');
    }
  });
  await new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, host, () => ok(undefined));
  });
  const address = server.address();
  return {
    url: `http://${host}:${address.port}`,
    close: () =>
      new Promise((ok) => {
        server.closeAllConnections();
        server.close(() => ok(undefined));
      }),
  };
}
