// The rules of the --oidc_* flags: each clear, before anything listens.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, resolveConfig } from '../../src/config.js';
import { testDir } from '../helpers/broker.js';

const OIDC = {
  oidc_issuer_uri: 'https://id.example.com/realms/r',
  oidc_client_id: 'broker',
  oidc_redirect_base: 'https://broker.example.com',
};

describe('OIDC flags', () => {
  it('defaults: tenant default, scopes openid email profile, off without an issuer', () => {
    const config = resolveConfig({});
    expect(config.oidc_tenant).toBe('default');
    expect(config.oidc_scopes).toBe('openid email profile');
    expect(config.oidc_issuer_uri).toBeUndefined();
    expect(resolveConfig(OIDC).oidc_client_id).toBe('broker');
  });

  it('refuses incomplete or unsafe settings with one clear line', () => {
    expect(() => resolveConfig({ oidc_client_id: 'x' })).toThrow(/--oidc_client_id needs --oidc_issuer_uri/);
    expect(() => resolveConfig({ ...OIDC, oidc_client_id: undefined })).toThrow(/needs --oidc_client_id/);
    expect(() => resolveConfig({ ...OIDC, oidc_redirect_base: undefined })).toThrow(/needs --oidc_redirect_base/);
    expect(() => resolveConfig({ ...OIDC, oidc_issuer_uri: 'http://id.example.com' })).toThrow(/https/);
    expect(() => resolveConfig({ ...OIDC, oidc_issuer_uri: 'not a url' })).toThrow(ConfigError);
    expect(() => resolveConfig({ ...OIDC, oidc_redirect_base: 'https://b.example/?x=1' })).toThrow(/query/);
    expect(() => resolveConfig({ ...OIDC, oidc_scopes: 'email profile' })).toThrow(/openid/);
    // http only on loopback (a development provider).
    expect(resolveConfig({ ...OIDC, oidc_issuer_uri: 'http://127.0.0.1:9000' }).oidc_issuer_uri).toBe(
      'http://127.0.0.1:9000',
    );
  });

  it('--oidc_client_secret_file reads the secret (newline trimmed); both at once is an error', () => {
    const file = join(testDir(), 'secret');
    writeFileSync(file, 'the-client-secret\n');
    expect(resolveConfig({ ...OIDC, oidc_client_secret_file: file }).oidc_client_secret).toBe('the-client-secret');
    expect(() => resolveConfig({ ...OIDC, oidc_client_secret_file: file, oidc_client_secret: 'x' })).toThrow(
      /give only one/,
    );
    expect(() => resolveConfig({ ...OIDC, oidc_client_secret_file: `${file}-missing` })).toThrow(/cannot read/);
  });
});
