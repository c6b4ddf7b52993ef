// GET /openapi.json (OpenAPI 3.1) and GET /docs (Swagger UI, its assets served from node_modules: no
// CDN). @fastify/swagger builds the document from the very schemas fastify validates requests with, so
// it cannot drift from what the server accepts; this file only adds what a reader needs beside them
// (a summary and a tag per route, openapi-summaries.ts). Registered before every route: swagger sees a
// route only if its onRoute hook was there first.
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { existsSync, readFileSync } from 'node:fs';
import { describeRoute } from './openapi-summaries.js';

/**
 * Swagger UI loads only its own files (scripts and styles from /docs/static) and fetches the document from
 * /docs/json; its components set style attributes, hence 'unsafe-inline' for styles (never for scripts).
 */
const DOCS_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
  "connect-src 'self'; font-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** Every route the server registers, as fastify announced it (the OpenAPI test compares it with the document). */
export interface RouteSeen {
  method: string;
  url: string;
  hidden: boolean;
}

interface Announced {
  method: string | string[];
  url: string;
  schema?: { hide?: boolean };
  websocket?: boolean;
}

const seenByApp = new WeakMap<FastifyInstance, Announced[]>();

/**
 * Read when asked, not when announced: a later onRoute hook may still change a route (@fastify/websocket
 * hides its routes from swagger; the transform below shows them again).
 */
export function routesSeen(app: FastifyInstance): RouteSeen[] {
  return (seenByApp.get(app) ?? []).flatMap((route) =>
    [route.method].flat().map((method) => ({
      method,
      url: route.url,
      hidden: route.schema?.hide === true && !route.websocket,
    })),
  );
}

/** The package's version: package.json is 2 levels up from src/ops (tests), 3 from dist/src/ops (the CLI). */
function packageVersion(): string {
  for (const up of ['../../package.json', '../../../package.json']) {
    const url = new URL(up, import.meta.url);
    if (existsSync(url)) return (JSON.parse(readFileSync(url, 'utf8')) as { version: string }).version;
  }
  return '0.0.0';
}

export async function openApiRoutes(app: FastifyInstance): Promise<void> {
  const version = packageVersion();
  const seen: Announced[] = [];
  seenByApp.set(app, seen);
  app.addHook('onRoute', (route) => {
    const described = describeRoute(route.method, route.url);
    // A new object: several routes may share one schema constant.
    if (described && !route.schema?.hide) route.schema = { ...route.schema, ...described };
    seen.push(route as Announced);
  });
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Broker',
        version,
        description:
          'A self-hosted real-time backend: users, tenant event logs streamed over SSE, topics over WebSocket, ' +
          'apps with API keys. The contracts: API.md, APPS-API.md, TOPICS-API.md.',
      },
    },
    exposeHeadRoutes: true,
    // @fastify/websocket marks its routes hidden; GET /ws is a route of the contract (TOPICS-API.md).
    transform: ({ schema, url, route }) =>
      (route as Announced).websocket ? { schema: { ...schema, hide: false }, url } : { schema, url },
  });
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    staticCSP: DOCS_CSP,
    uiConfig: { validatorUrl: null } as Record<string, unknown>,
  });
  app.get('/openapi.json', { schema: { summary: 'This OpenAPI 3.1 document', tags: ['ops'] } }, async (_req, reply) =>
    reply.type('application/json').send(JSON.stringify(app.swagger())),
  );
}
