// `npm run example` (after its build step): the command serves the page and a broker that allows the
// page's origin, with the demo users, and Ctrl-C leaves nothing behind.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SERVE = resolve(import.meta.dirname, '../../examples/serve.mjs');

/** `promise`, or `fallback` once `ms` have passed without it settling. */
function within<T, F>(promise: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<F>((r) => (timer = setTimeout(() => r(fallback), ms)));
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

describe('the example command', () => {
  it('serves the page and a broker with the demo users, and stops cleanly on SIGINT', async () => {
    const proc = spawn(process.execPath, [SERVE], {
      env: { ...process.env, EXAMPLE_PORT: '0', BROKER_PORT: '0', EXAMPLE_DB: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
    let out = '';
    proc.stdout.on('data', (c: Buffer) => (out += c.toString()));
    proc.stderr.on('data', (c: Buffer) => (out += c.toString()));
    try {
      const deadline = Date.now() + 20_000;
      while (!/Shared form (http\S+)/.test(out)) {
        if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`example did not start: ${out}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const pageUrl = /Shared form (http\S+)/.exec(out)![1];
      const brokerUrl = /Broker +(http\S+)/.exec(out)![1];
      const dataDir = /data in (\S+)\)/.exec(out)![1];
      expect(existsSync(dataDir)).toBe(true);

      const html = await fetch(pageUrl);
      expect(html.status).toBe(200);
      expect(await html.text()).toContain('id="shared-form"');
      const js = await fetch(`${pageUrl}/client/index.js`);
      expect(js.headers.get('content-type')).toMatch(/javascript/);
      expect(await js.text()).toContain('BrokerClient');
      expect((await fetch(`${pageUrl}/client/../../package.json`)).status).toBe(404);
      expect(await (await fetch(`${pageUrl}/config.json`)).json()).toEqual({ brokerUrl });

      // The browser's preflight for an authenticated stream from the page's origin is allowed.
      const preflight = await fetch(`${brokerUrl}/sse`, {
        method: 'OPTIONS',
        headers: {
          origin: pageUrl,
          'access-control-request-method': 'GET',
          'access-control-request-headers': 'authorization,last-event-id',
        },
      });
      expect(preflight.headers.get('access-control-allow-origin')).toBe(pageUrl);
      for (const username of ['alice', 'bob']) {
        const login = await fetch(`${brokerUrl}/login`, {
          method: 'POST',
          body: JSON.stringify({ username, password: 'correct horse battery staple' }),
        });
        expect(login.status).toBe(200);
      }

      proc.kill('SIGINT');
      expect(await within(exited, 10_000, 'still running 10 s after SIGINT')).toBe(0);
      expect(existsSync(dirname(dataDir))).toBe(false);
      await expect(fetch(`${brokerUrl}/`)).rejects.toThrow();
    } finally {
      // SIGKILL would leave serve.mjs's broker child orphaned (and its temp dir behind): ask with SIGINT,
      // which stops both, and only force it when that does not end it in time.
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGINT');
        if ((await within(exited, 10_000, 'timeout')) === 'timeout') proc.kill('SIGKILL');
      }
    }
  });
});
