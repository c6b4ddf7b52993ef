// "Sign in with your identity provider" in real Chromium: a page using broker/client clicks "Sign in",
// fills the provider's login form (oidc-provider on loopback), lands back signed in, and sees a live event.
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startBroker, type TestBroker } from '../helpers/broker.js';
import { bearer, post } from '../helpers/http.js';
import { CLIENT_ID, CLIENT_SECRET, startProvider, type TestProvider } from '../oidc/provider.js';
import { IN_CI } from '../tls/system-binary.js';

const CHROMIUM = process.env.BROKER_TEST_CHROMIUM ?? '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const CLIENT_DIR = resolve(import.meta.dirname, '../../dist/client');

const page = (brokerUrl: string) => `<!doctype html><meta charset="utf-8"><title>app</title>
<button id="signin">Sign in</button><p id="who"></p><p id="error"></p><ul id="events"></ul>
<script type="module">
import { BrokerClient } from '/client/index.js';
const client = new BrokerClient({ url: ${JSON.stringify(brokerUrl)} });
const result = client.handleRedirect();
if (result?.error) document.querySelector('#error').textContent = result.error;
document.querySelector('#signin').onclick = () => client.loginWithRedirect();
if (client.token) {
  window.brokerToken = client.token;
  const me = await client.verify();
  client.subscribe({
    onEvent: (e) => {
      const li = document.createElement('li');
      li.textContent = e.event + ':' + JSON.stringify(e.data);
      document.querySelector('#events').append(li);
    },
    onOpen: () => { document.querySelector('#who').textContent = me.username; },
  });
}
</script>`;

/** The app's own origin: the page and the built client (dist/client). */
async function servePage(brokerUrl: string): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const client = /^\/client\/([a-z-]+\.js)$/.exec(path);
    if (client && existsSync(join(CLIENT_DIR, client[1]))) {
      res.writeHead(200, { 'content-type': 'text/javascript' });
      res.end(readFileSync(join(CLIENT_DIR, client[1])));
    } else if (path === '/') {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(page(brokerUrl));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return server;
}

describe.skipIf(!HAVE_CHROMIUM && !IN_CI)('OIDC login in Chromium', () => {
  let provider: TestProvider;
  let broker: TestBroker;
  let app: Server;
  let appUrl: string;

  beforeAll(async () => {
    const port = await freePort();
    const brokerUrl = `http://127.0.0.1:${port}`;
    provider = await startProvider([`${brokerUrl}/auth/oidc/callback`]);
    app = await servePage(brokerUrl);
    appUrl = `http://127.0.0.1:${(app.address() as AddressInfo).port}`;
    broker = await startBroker({
      port,
      origin: appUrl,
      oidc_issuer_uri: provider.issuer,
      oidc_client_id: CLIENT_ID,
      oidc_client_secret: CLIENT_SECRET,
      oidc_redirect_base: brokerUrl,
    });
  });
  afterAll(async () => {
    await broker?.stop();
    await provider?.close();
    await new Promise((r) => app?.close(r));
  });

  it('click Sign in, fill the provider form, land back signed in, see a live event', async () => {
    provider.accounts.set('browser-user', {
      preferred_username: 'grace',
      email: 'g@example.com',
      email_verified: true,
    });
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking'],
    });
    try {
      const tab = await browser.newPage();
      await tab.goto(`${appUrl}/`);
      await tab.click('#signin');
      await tab.waitForSelector('input[name=login]', { timeout: 15_000 });
      await tab.fill('input[name=login]', 'browser-user');
      await tab.fill('input[name=password]', 'any password');
      await tab.click('button[type=submit]');
      // The provider's consent page, then back to the app.
      await tab.waitForURL((url) => url.origin === appUrl || url.pathname.includes('/interaction/'), {
        timeout: 15_000,
      });
      if (!tab.url().startsWith(appUrl)) await tab.click('button[type=submit]');
      await tab.waitForFunction(() => document.querySelector('#who')?.textContent === 'grace', null, {
        timeout: 15_000,
      });
      // The fragment is gone from the address bar.
      expect(tab.url()).toBe(`${appUrl}/`);
      const jwt = (await tab.evaluate(() => (window as unknown as { brokerToken: string }).brokerToken)) as string;
      expect((await post(broker.url, '/insert', { event: 'greeting', data: 'hello' }, bearer(jwt))).status).toBe(200);
      await tab.waitForFunction(
        () => document.querySelector('#events')?.textContent?.includes('greeting:"hello"'),
        null,
        {
          timeout: 15_000,
        },
      );
    } finally {
      await browser.close();
    }
  }, 60_000);
});
