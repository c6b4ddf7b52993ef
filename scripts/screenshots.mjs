// Screenshots of the dashboard for the README: docs/users.png and docs/events.png. Starts the built
// broker (dist/src/cli.js, after `npm run build && npm run build:dashboard`) on a free port with a
// temp database, fills it with a few demo users and events, and drives Debian's Chromium through
// playwright-core. Usage: node scripts/screenshots.mjs   (CHROMIUM=/path overrides /usr/bin/chromium)
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const ROOT = new URL('..', import.meta.url).pathname;
const ADMIN = 'screenshot-admin-token-of-at-least-32-bytes';
const PASSWORD = 'correct horse battery staple';

const freePort = () =>
  new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });

async function call(base, path, body, headers = {}) {
  const res = await fetch(base + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return res.json();
}

async function waitForBroker(base) {
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`${base}/health`)).ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`broker at ${base} did not start`);
}

async function seed(base) {
  const users = [
    ['ada', 'acme', 'ada@acme.example', ['events:read', 'events:write'], true],
    ['grace', 'acme', 'grace@acme.example', ['events:read'], false],
    ['linus', 'kernel', null, null, false],
    ['margaret', 'apollo', 'margaret@apollo.example', null, true],
  ];
  for (const [username, tenant_name, email, scopes, two_factor] of users)
    await call(base, '/create_user', {
      admin_token: ADMIN,
      username,
      password: PASSWORD,
      tenant_name,
      email,
      scopes,
      two_factor,
    });
  await call(base, '/revoke_user', { admin_token: ADMIN, username: 'linus' });
  const { jwt } = await call(base, '/login', { username: 'grace', password: PASSWORD });
  const auth = { authorization: `Bearer ${jwt}` };
  for (const [event, data] of [
    ['order.created', { id: 1041, total: 42.5 }],
    ['order.paid', { id: 1041 }],
    ['chat', { from: 'ada', text: 'shipping today' }],
    ['order.created', { id: 1042, total: 7 }],
  ])
    await call(base, '/insert', { event, data }, auth);
  return auth;
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'broker-shots-'));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const child = spawn(
    process.execPath,
    [join(ROOT, 'dist/src/cli.js'), '--port', String(port), '--host', '127.0.0.1', '--db', join(dir, 'db')],
    { env: { ...process.env, BROKER_ADMIN_TOKEN: ADMIN, BROKER_LOG_LEVEL: 'error' }, stdio: 'inherit' },
  );
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking'],
  });
  try {
    await waitForBroker(base);
    const auth = await seed(base);
    const page = await browser.newPage({ viewport: { width: 1200, height: 720 }, deviceScaleFactor: 1 });
    await page.goto(`${base}/_/`);
    await page.getByLabel('Admin token').fill(ADMIN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('row').filter({ hasText: 'margaret' }).waitFor();
    writeFileSync(join(ROOT, 'docs/users.png'), await page.screenshot({ animations: 'disabled' }));

    await page.getByRole('link', { name: 'Events' }).click();
    await page.getByLabel('Tenant').fill('acme');
    await page.getByLabel('Tenant').press('Enter');
    await page.getByText('live', { exact: true }).waitFor();
    await call(base, '/insert', { event: 'order.shipped', data: { id: 1041, carrier: 'DHL' } }, auth);
    await page.getByRole('log').getByText('order.shipped').waitFor();
    await page.getByRole('table', { name: 'Latest of every name' }).getByText('order.shipped').waitFor();
    writeFileSync(join(ROOT, 'docs/events.png'), await page.screenshot({ animations: 'disabled' }));
    console.log('wrote docs/users.png and docs/events.png');
  } finally {
    await browser.close();
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
