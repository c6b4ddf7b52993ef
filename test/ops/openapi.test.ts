// GET /openapi.json and GET /docs: the document is valid OpenAPI 3.1 (a validator of its own, not
// @fastify/swagger's word for it); every route the server registers is in it, and every route the three
// contracts (API.md, APPS-API.md, TOPICS-API.md) name exists in the server; /docs renders in Chromium
// under its own CSP, with every asset from Broker itself.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Validator } from '@seriousme/openapi-schema-validator';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routesSeen } from '../../src/ops/openapi-routes.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { get } from '../helpers/http.js';
import { IN_CI } from '../tls/system-binary.js';

const CHROMIUM = process.env.BROKER_TEST_CHROMIUM ?? '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const CONTRACTS = ['API.md', 'APPS-API.md', 'TOPICS-API.md'];
const SHARED = [resolve(import.meta.dirname, '../../../shared'), '/work/shared'].find((d) =>
  existsSync(join(d, 'API.md')),
);

let broker: TestBroker;
let doc: { openapi: string; paths: Record<string, Record<string, { summary?: string }>> };

beforeAll(async () => {
  // With OIDC configured, its routes are registered (and so must be documented) too.
  broker = await startBroker({
    oidc_issuer_uri: 'http://127.0.0.1:1/issuer',
    oidc_client_id: 'broker',
    oidc_redirect_base: 'http://127.0.0.1:8080',
  });
  const res = await get(broker.url, '/openapi.json');
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  doc = res.body;
});
afterAll(async () => {
  await broker?.stop();
});

/** `/:appID/crash` (fastify) -> `/{appID}/crash` (OpenAPI and the contracts). */
const openApiPath = (url: string) => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

/** Every `METHOD /path` the contracts name (query strings dropped), e.g. "GET /{appID}/crash". */
function documentedRoutes(): Set<string> {
  const routes = new Set<string>();
  for (const file of CONTRACTS) {
    const text = readFileSync(join(SHARED!, file), 'utf8');
    for (const m of text.matchAll(/`(GET|POST|PUT|PATCH|DELETE|HEAD) +(\/[^`\s?]*)/g)) routes.add(`${m[1]} ${m[2]}`);
  }
  return routes;
}

describe('GET /openapi.json', () => {
  it('is a valid OpenAPI 3.1 document', async () => {
    expect(doc.openapi).toBe('3.1.0');
    const result = await new Validator().validate(doc);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it("holds every route the server registers (hidden ones are UI assets only), the contracts' with a summary", () => {
    const seen = routesSeen(broker.app);
    expect(seen.length).toBeGreaterThan(50);
    const contract = documentedRoutes();
    const missing: string[] = [];
    for (const { method, url, hidden } of seen) {
      // Hidden: @fastify/cors's OPTIONS catch-all (preflights), Swagger UI's assets, the dashboard's (/_/).
      if (hidden) {
        const asset = url === '*' || url === '/docs' || url.startsWith('/docs/') || url.startsWith('/_/');
        expect(asset, `${method} ${url} hidden`).toBe(true);
        continue;
      }
      const operation = doc.paths[openApiPath(url)]?.[method.toLowerCase()];
      if (!operation) missing.push(`${method} ${url}`);
      else if (!operation.summary && contract.has(`${method === 'HEAD' ? 'GET' : method} ${openApiPath(url)}`))
        missing.push(`${method} ${url} (no summary)`);
    }
    expect(missing).toEqual([]);
  });

  it('and every route of API.md, APPS-API.md and TOPICS-API.md exists in the server', () => {
    expect(SHARED, 'the contracts (../shared or /work/shared)').toBeDefined();
    const server = new Set(
      routesSeen(broker.app)
        .filter((r) => !r.hidden)
        .map((r) => `${r.method} ${openApiPath(r.url)}`),
    );
    const documented = documentedRoutes();
    expect(documented.size).toBeGreaterThan(40);
    const absent = [...documented].filter((route) => !server.has(route));
    expect(absent).toEqual([]);
    for (const route of documented) {
      const [method, path] = route.split(' ');
      expect(doc.paths[path]?.[method.toLowerCase()], route).toBeDefined();
    }
  });

  it('describes request bodies from the validation schemas (create_user requires what the server requires)', () => {
    const op = doc.paths['/create_user'].post as unknown as {
      requestBody: { content: Record<string, { schema: { required: string[]; additionalProperties: boolean } }> };
    };
    const schema = Object.values(op.requestBody.content)[0].schema;
    expect(schema.required).toEqual(expect.arrayContaining(['username', 'password', 'admin_token']));
    expect(schema.additionalProperties).toBe(false);
  });
});

describe('GET /docs', () => {
  if (!HAVE_CHROMIUM && IN_CI) throw new Error(`${CHROMIUM} is needed under CI`);

  it('serves Swagger UI under a CSP without inline scripts, every asset from Broker', async () => {
    const page = await get(broker.url, '/docs');
    expect(page.status).toBe(200);
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toMatch(/script-src[^;]*unsafe-inline/);
    expect(page.text).not.toMatch(/https?:\/\//);
  });

  it.skipIf(!HAVE_CHROMIUM)('renders the document in Chromium with no CSP violation', { timeout: 60_000 }, async () => {
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking'],
    });
    try {
      const page = await browser.newPage();
      const problems: string[] = [];
      const foreign: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') problems.push(m.text());
      });
      page.on('pageerror', (e) => problems.push(e.message));
      page.on('request', (r) => {
        if (!r.url().startsWith(broker.url) && !r.url().startsWith('data:')) foreign.push(r.url());
      });
      await page.goto(`${broker.url}/docs`);
      await page.waitForSelector('.swagger-ui .info .title', { timeout: 20_000 });
      expect(await page.textContent('.swagger-ui .info .title')).toContain('Broker');
      await page.waitForSelector('.opblock-summary-path', { timeout: 20_000 });
      expect(await page.locator('.opblock-summary-path').count()).toBeGreaterThan(40);
      expect(problems).toEqual([]);
      expect(foreign).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
