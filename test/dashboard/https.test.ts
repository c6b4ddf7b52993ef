// The dashboard under --secure (HTTPS with Broker's own certificate files): the session cookie is Secure,
// the Origin check takes the https origin, and the Server page shows the certificate's domain and expiry.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, tempDir, type TestBroker } from '../helpers/broker.js';
import { httpsRequest } from '../tls/https-client.js';
import { issue, type Issued } from '../tls/x509.js';

const ADMIN_TOKEN = 'dashboard-https-admin-token-0123456789';
let broker: TestBroker;
let cert: Issued;
let notAfter: Date;
const certDir = tempDir('broker-dash-https-');

beforeAll(async () => {
  notAfter = new Date(Math.floor(Date.now() / 1000 + 40 * 86400) * 1000);
  cert = issue({ cn: 'dash.example', names: ['dash.example', '127.0.0.1', 'localhost'], notAfter });
  const dir = join(certDir, 'tls');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'cert.pem'), cert.certPem);
  writeFileSync(join(dir, 'key.pem'), cert.keyPem, { mode: 0o600 });
  broker = await startBroker({
    secure: true,
    auto_cert: false,
    cert_path: join(dir, 'cert.pem'),
    key_path: join(dir, 'key.pem'),
    https_port: 0,
    http_port: 0,
    host: '127.0.0.1',
    admin_token: ADMIN_TOKEN,
    jwt_secret: 'dashboard-https-jwt-secret-0123456789abcdef',
  });
});
afterAll(async () => {
  await broker?.stop();
  rmSync(certDir, { recursive: true, force: true });
});

describe('dashboard over HTTPS', () => {
  it('sets a Secure cookie and shows the certificate on the Server page', async () => {
    const origin = broker.url;
    const signed = await httpsRequest(`${broker.url}/_/api/session`, {
      ca: cert.certPem,
      body: { token: ADMIN_TOKEN },
      headers: { 'content-type': 'application/json', origin },
    });
    expect(signed.status).toBe(200);
    const setCookie = String(signed.headers['set-cookie']);
    expect(setCookie).toContain('; Secure');
    expect(setCookie).toContain('HttpOnly');
    const cookie = setCookie.split(';')[0];
    const server = await httpsRequest(`${broker.url}/_/api/server`, { ca: cert.certPem, headers: { cookie, origin } });
    expect(server.status).toBe(200);
    expect(server.body.certificate).toEqual({ domain: 'dash.example', expires: notAfter.getTime() });
    // The http origin of the same host is another origin.
    const plainOrigin = await httpsRequest(`${broker.url}/_/api/server`, {
      ca: cert.certPem,
      headers: { cookie, origin: origin.replace('https:', 'http:') },
    });
    expect(plainOrigin.status).toBe(403);
  });
});
