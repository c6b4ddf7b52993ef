// A page subscribes over Chromium's native WebSocket with notiflux's command and a topic token, and gets
// a broadcast as one text frame: what a notiflux browser client does, unchanged, against Broker.
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { post } from '../helpers/http.js';
import { IN_CI } from '../tls/system-binary.js';
import { backendKey, sign } from '../topics/support.js';

const CHROMIUM = process.env.BROKER_TEST_CHROMIUM ?? '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);

describe.skipIf(!HAVE_CHROMIUM && !IN_CI)('a browser subscribes to a topic over its native WebSocket', () => {
  let browser: Browser;
  let broker: TestBroker;

  beforeAll(async () => {
    if (!HAVE_CHROMIUM) throw new Error(`CI=${process.env.CI} but ${CHROMIUM} is missing: install Debian's chromium`);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking'],
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await broker?.stop();
  });

  it('receives a broadcast as one text frame', async () => {
    const key = await backendKey();
    broker = await startBroker({ topic_public_key: key.pem });
    const token = await sign(key, { topics: ['campaign:42'], scope: 'subscribe' });
    const pub = await sign(key, { topics: ['campaign:42'], scope: 'broadcast' });
    const page = await browser.newPage();
    // The app's page, from its own local origin (Chromium refuses a public page, about:blank included,
    // a connection to a local address).
    const site = createServer((_req, res) => res.end('<!doctype html><title>app</title>'));
    await new Promise<void>((r) => site.listen(0, '127.0.0.1', r));
    const address = site.address();
    await page.goto(`http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/`);
    site.close();
    site.closeAllConnections();
    const wsUrl = `${broker.url.replace(/^http/, 'ws')}/ws`;
    await page.evaluate(
      ([url, t]) =>
        new Promise<void>((resolve, reject) => {
          const ws = new WebSocket(url);
          const w = window as unknown as { got: string[] };
          w.got = [];
          ws.onmessage = (e) => w.got.push(String(e.data));
          ws.onerror = () => reject(new Error('websocket error'));
          ws.onopen = () => {
            ws.send(`/subscribe campaign:42 ${t}`);
            resolve();
          };
        }),
      [wsUrl, token] as const,
    );
    // Broadcast until the subscription (a token check away) has taken effect and the page got one.
    let got: string[] = [];
    for (let i = 0; i < 100 && got.length === 0; i++) {
      expect(
        (await post(broker.url, '/broadcast', { topic: 'campaign:42', message: `hello ${i}`, token: pub })).status,
      ).toBe(200);
      await new Promise((r) => setTimeout(r, 50));
      got = await page.evaluate(() => (window as unknown as { got: string[] }).got);
    }
    expect(got[0]).toMatch(/^hello \d+$/);
  }, 30_000);
});
