// `npm run example`: the shared-form page and, beside it, a local broker (the built CLI, in a child
// process) with two demo users in one tenant. Ctrl-C stops both.
//   EXAMPLE_PORT (default 5173)  the page;  BROKER_PORT (default 8080)  the broker (0 = any free port);
//   EXAMPLE_DB   (default: a temp dir removed on exit)  keep the data between runs.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serveExample } from './static-server.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const CLI = resolve(here, '../dist/src/cli.js');
const HOST = '127.0.0.1';
const DEMO_USERS = ['alice', 'bob'];
const DEMO_PASSWORD = 'correct horse battery staple';
const pagePort = Number(process.env.EXAMPLE_PORT ?? 5173);
const brokerPort = Number(process.env.BROKER_PORT ?? 8080);
const tempDb = process.env.EXAMPLE_DB ? undefined : mkdtempSync(join(tmpdir(), 'broker-example-'));
const db = resolve(process.env.EXAMPLE_DB || join(tempDb, 'db'));
const adminToken = randomBytes(24).toString('base64url');

/**
 * The demo broker's environment. The CLI reads any BROKER_* variable (and a ./.env file) as a setting,
 * so passing a developer's whole environment would silently change the demo (TLS, rate limits, secrets
 * of their own broker...). It gets only what Node needs (PATH, HOME, NODE_*) and its admin token; the
 * rest of its settings are the explicit flags, and it runs in this directory, which has no .env.
 */
function demoEnv() {
  const env = { BROKER_ADMIN_TOKEN: adminToken };
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && (key === 'PATH' || key === 'HOME' || key.startsWith('NODE_'))) env[key] = value;
  }
  return env;
}

/** Starts the broker, allowing the page's origin, and resolves with its URL once it listens. */
function startBroker(pageUrl) {
  const origin = [pageUrl, pageUrl.replace(HOST, 'localhost')].join(',');
  const child = spawn(
    process.execPath,
    [CLI, '--host', HOST, '--port', String(brokerPort), '--db', db, '--origin', origin, '--log_level', 'info'],
    {
      // The admin token travels in the environment, not argv, so `ps` does not show it.
      env: demoEnv(),
      cwd: here,
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const url = new Promise((ok, fail) => {
    let buffered = '';
    child.stdout.on('data', (chunk) => {
      buffered += chunk;
      for (let nl; (nl = buffered.indexOf('\n')) >= 0; ) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        try {
          const entry = JSON.parse(line);
          if (entry.url) ok(entry.url);
          else if (entry.level >= 40) console.error(`broker: ${entry.msg}`);
        } catch {
          process.stdout.write(`${line}\n`);
        }
      }
    });
    child.once('exit', (code) =>
      fail(new Error(`the broker exited (${code}) before listening; is port ${brokerPort} free? (BROKER_PORT=...)`)),
    );
  });
  return { child, url };
}

async function createDemoUsers(brokerUrl) {
  for (const username of DEMO_USERS) {
    const res = await fetch(`${brokerUrl}/create_user`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ admin_token: adminToken, username, password: DEMO_PASSWORD, tenant_name: 'demo' }),
    });
    // 400 "already exists" when EXAMPLE_DB kept them from an earlier run.
    if (!res.ok && res.status !== 400) throw new Error(`create_user ${username}: ${res.status} ${await res.text()}`);
  }
}

let page;
let broker;
let brokerUrl;
async function stop(code = 0) {
  await page?.close();
  if (broker && broker.child.exitCode === null && broker.child.signalCode === null) {
    broker.child.kill('SIGTERM');
    await new Promise((ok) => broker.child.once('exit', ok));
  }
  if (tempDb) rmSync(tempDb, { recursive: true, force: true });
  process.exit(code);
}
process.once('SIGINT', () => stop());
process.once('SIGTERM', () => stop());

try {
  // The page first: the broker must know the page's origin to allow it (CORS).
  page = await serveExample({ brokerUrl: () => brokerUrl, port: pagePort, host: HOST });
  broker = startBroker(page.url);
  brokerUrl = await broker.url;
  await createDemoUsers(brokerUrl);
  console.log(`
  Broker      ${brokerUrl}   (data in ${db})
  Shared form ${page.url}

  Open the form in two browser windows, sign in as ${DEMO_USERS.join(' and ')} (password "${DEMO_PASSWORD}"),
  and edit either one: the other follows live. Ctrl-C stops everything.
`);
} catch (err) {
  console.error(`example: ${err.message}`);
  await stop(1);
}
