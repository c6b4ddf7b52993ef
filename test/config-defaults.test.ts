// Defaults that depend on the mode: a development broker (plain HTTP) listens on this machine only and
// checks no password strength; a production one (--secure) listens everywhere and checks strength
// unless told --password_checker=false.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveConfig, unsafeSettings } from '../src/config.js';
import { ADMIN, startBroker, testDir } from './helpers/broker.js';
import { post } from './helpers/http.js';
import { httpsRequest } from './tls/https-client.js';
import { issue, type Issued } from './tls/x509.js';

const NAME = 'defaults.broker.test';

describe('plain HTTP defaults', () => {
  it('listens on 127.0.0.1 unless --host says otherwise, and takes weak passwords', async () => {
    const broker = await startBroker({ host: undefined });
    try {
      expect(broker.config.host).toBe('127.0.0.1');
      const address = broker.app.server.address();
      expect(typeof address === 'object' && address?.address).toBe('127.0.0.1');
      expect(
        (
          await post(broker.url, '/create_user', {
            admin_token: ADMIN,
            username: 'weak',
            password: 'aaaaaaaa',
            tenant_name: 't',
          })
        ).status,
      ).toBe(200);
    } finally {
      await broker.stop();
    }
  });

  it('--host 0.0.0.0 opens it to every interface', async () => {
    const broker = await startBroker({ host: '0.0.0.0' });
    try {
      const address = broker.app.server.address();
      expect(typeof address === 'object' && address?.address).toBe('0.0.0.0');
    } finally {
      await broker.stop();
    }
  });
});

describe('--secure defaults', () => {
  function secureOptions(dir: string): Record<string, unknown> {
    mkdirSync(join(dir, 'tls'));
    const ca: Issued = issue({ cn: 'Defaults test CA', ca: true });
    const leaf = issue({ cn: NAME, names: [NAME], issuer: ca });
    writeFileSync(join(dir, 'tls', 'chain.pem'), leaf.certPem + ca.certPem);
    writeFileSync(join(dir, 'tls', 'key.pem'), leaf.keyPem, { mode: 0o600 });
    return {
      secure: true,
      auto_cert: false,
      cert_path: join(dir, 'tls', 'chain.pem'),
      key_path: join(dir, 'tls', 'key.pem'),
      domain: NAME,
      https_port: 0,
      http_port: 0,
      host: undefined,
      ca: ca.certPem,
    };
  }

  it('listens on every interface and refuses weak passwords', async () => {
    const dir = testDir();
    const { ca, ...options } = secureOptions(dir);
    const broker = await startBroker(options, { dir });
    try {
      expect(broker.config.host).toBe('0.0.0.0');
      expect(broker.config.password_checker).toBe(true);
      const port = (broker.app.server.address() as { port: number }).port;
      const weak = await httpsRequest(`https://${NAME}:${port}/create_user`, {
        ca: ca as string,
        body: { admin_token: ADMIN, username: 'weak', password: 'password1', tenant_name: 't' },
      });
      expect(weak.status).toBe(400);
      expect(weak.body.error).toMatch(/weak/);
    } finally {
      await broker.stop();
    }
  });

  it('--password_checker=false given explicitly turns the checker off', async () => {
    const dir = testDir();
    const { ca, ...options } = secureOptions(dir);
    const broker = await startBroker({ ...options, password_checker: 'false' }, { dir });
    try {
      const port = (broker.app.server.address() as { port: number }).port;
      const weak = await httpsRequest(`https://${NAME}:${port}/create_user`, {
        ca: ca as string,
        body: { admin_token: ADMIN, username: 'weak', password: 'password1', tenant_name: 't' },
      });
      expect(weak.status).toBe(200);
    } finally {
      await broker.stop();
    }
  });
});

describe('--trust_proxy as a count of proxies', () => {
  it('is warned about at start: any peer may be the proxy, so the per-IP connection cap is off', () => {
    expect(
      unsafeSettings(resolveConfig({ trust_proxy: '1' })).some((w) =>
        /count of proxies.*max_connections_per_ip is off/.test(w),
      ),
    ).toBe(true);
    expect(unsafeSettings(resolveConfig({ trust_proxy: '127.0.0.1' })).some((w) => /count of proxies/.test(w))).toBe(
      false,
    );
  });
});
