// Every flag in one table: its name (as the original Broker spells it), type, default, help text and
// rule; its environment variable is envName(name). cli.ts turns FLAGS into commander options, and
// config.ts resolves raw values into the Config (flag-spec.ts); the features' flags are in feature-flags.ts.
import { FEATURE_FLAGS } from './feature-flags.js';
import type { FlagSpec } from './flag-spec.js';
import { parseTrustProxy } from './flag-values.js';

export type { Config, FlagSpec, FlagType } from './flag-spec.js';

export const LETSENCRYPT_PRODUCTION = 'https://acme-v02.api.letsencrypt.org/directory';
export const LETSENCRYPT_STAGING = 'https://acme-staging-v02.api.letsencrypt.org/directory';
const MiB = 1024 * 1024;

export const FLAGS: FlagSpec[] = [
  { name: 'port', type: 'int', default: 8080, min: 0, max: 65535, description: 'HTTP port (plain HTTP mode)' },
  // Open to the network only when serving HTTPS: a development broker on plain HTTP stays on this machine.
  {
    name: 'host',
    type: 'string',
    default: undefined,
    defaultText: '127.0.0.1; 0.0.0.0 with --secure',
    description: 'address to listen on (0.0.0.0 = every interface)',
  },
  { name: 'origin', type: 'string', default: '*', description: 'CORS allowed origin' },
  { name: 'jwt_expiry', type: 'int', default: 86400, min: 1, description: 'JWT lifetime in seconds' },
  {
    name: 'jwt_secret',
    type: 'string',
    default: undefined,
    defaultText: 'random, kept in the database',
    description: 'HS256 secret for JWTs (at least 32 bytes with --secure)',
  },
  {
    name: 'jwt_secret_file',
    type: 'string',
    default: undefined,
    defaultText: 'none',
    description: 'read --jwt_secret from this file (trailing newline trimmed), e.g. a systemd credential',
  },
  {
    name: 'secure',
    type: 'bool',
    default: false,
    description: "serve HTTPS (Let's Encrypt, or own certificate with --auto_cert=false)",
  },
  {
    name: 'auto_cert',
    type: 'bool',
    default: true,
    description: "with --secure: obtain and renew a Let's Encrypt certificate",
  },
  {
    name: 'key_path',
    type: 'string',
    default: 'certs/private_key.pem',
    description: 'own certificate private key (PEM), with --auto_cert=false',
  },
  {
    name: 'cert_path',
    type: 'string',
    default: 'certs/chain.pem',
    description: 'own certificate chain (PEM), with --auto_cert=false',
  },
  {
    name: 'certs',
    type: 'string',
    default: 'certs',
    description: 'directory caching the ACME account key and certificates',
  },
  { name: 'db', type: 'string', default: 'db', description: 'database directory (LMDB)' },
  {
    name: 'domain',
    type: 'string',
    default: undefined,
    defaultText: 'none; required with --secure',
    description: 'domain name for the certificate',
  },
  {
    name: 'admin_token',
    type: 'string',
    default: undefined,
    defaultText: 'random, written to <db>/admin_token at first start',
    description: 'token for the admin routes (at least 32 bytes with --secure)',
  },
  {
    name: 'admin_token_file',
    type: 'string',
    default: undefined,
    defaultText: 'none',
    description: 'read --admin_token from this file (trailing newline trimmed), e.g. a systemd credential',
  },
  {
    name: 'password_checker',
    type: 'bool',
    default: undefined,
    defaultText: 'false; true with --secure',
    description: 'refuse passwords whose zxcvbn score is under 3',
  },
  {
    name: 'totp_duration',
    type: 'int',
    default: 300,
    min: 1,
    description: 'seconds a password-reset code stays valid',
  },
  { name: 'https_port', type: 'int', default: 443, min: 0, max: 65535, description: 'HTTPS port with --secure' },
  {
    name: 'http_port',
    type: 'int',
    default: 80,
    min: 0,
    max: 65535,
    description: 'with --secure: port for ACME challenges and redirects to HTTPS',
  },
  { name: 'acme_directory', type: 'string', default: LETSENCRYPT_PRODUCTION, description: 'ACME directory URL' },
  {
    name: 'acme_staging',
    type: 'bool',
    default: false,
    description: "use Let's Encrypt staging (untrusted test certificates)",
  },
  {
    name: 'acme_email',
    type: 'string',
    default: undefined,
    defaultText: 'none',
    description: 'contact email for the ACME account',
  },
  { name: 'heartbeat', type: 'int', default: 15, min: 1, description: 'seconds between SSE keep-alive comments' },
  {
    name: 'max_buffer',
    type: 'int',
    default: MiB,
    min: 1024,
    description: 'bytes an SSE subscriber may lag before its stream is ended',
  },
  {
    name: 'max_streams_per_user',
    type: 'int',
    default: 16,
    min: 1,
    description: 'open SSE streams per user; more answer 429',
  },
  {
    name: 'history_max_age',
    type: 'int',
    default: 0,
    min: 0,
    description: 'seconds of event history kept per tenant (0 = keep all)',
  },
  {
    name: 'history_max_events',
    type: 'int',
    default: 0,
    min: 0,
    description: 'events of history kept per tenant (0 = keep all)',
  },
  {
    name: 'body_limit',
    type: 'int',
    default: MiB,
    min: 1024,
    description: 'largest request body in bytes; larger answers 413',
  },
  {
    name: 'map_size',
    type: 'int',
    default: 8 * 1024 * MiB,
    min: MiB,
    description: 'largest size of the database in bytes (LMDB map size)',
  },
  {
    name: 'login_rate_limit',
    type: 'int',
    default: 600,
    min: 1,
    description: 'per-IP requests a minute to login, password_reset and create_totp',
  },
  {
    name: 'admin_rate_limit',
    type: 'int',
    default: 1200,
    min: 1,
    description: 'per-IP requests a minute to the admin routes',
  },
  {
    name: 'trust_proxy',
    type: 'string',
    default: false,
    parse: parseTrustProxy,
    valueOptional: true,
    description:
      'believe X-Forwarded-For from reverse proxies: true (1 proxy), a proxy count, or their addresses/CIDRs',
  },
  {
    name: 'log_level',
    type: 'string',
    default: 'info',
    description: 'fatal, error, warn, info, debug, trace or silent',
  },
  {
    name: 'tenant_insert_rate',
    type: 'int',
    default: 1000,
    min: 0,
    description: 'inserts a second per tenant (one second of burst); more answer 429 (0 = unlimited)',
  },
  {
    name: 'tenant_quota',
    type: 'int',
    default: 1024 * MiB,
    min: 0,
    description: 'bytes of events a tenant may hold; inserts beyond answer 403 (0 = unlimited)',
  },
  {
    name: 'tenant_max_event_names',
    type: 'int',
    default: 10_000,
    min: 0,
    description: 'distinct event names per tenant; a new name beyond answers 403 (0 = unlimited)',
  },
  {
    name: 'keep_alive_timeout',
    type: 'int',
    default: 10,
    min: 1,
    max: 3600,
    description: 'seconds an idle keep-alive connection is kept open between requests',
  },
  {
    name: 'max_connections_per_ip',
    type: 'int',
    default: 256,
    min: 1,
    description: 'open connections per client address (not counting --trust_proxy proxies); more are closed at once',
  },
  ...FEATURE_FLAGS,
];

export function envName(flag: string): string {
  return `BROKER_${flag.toUpperCase()}`;
}
