// The one place that knows flag names, their defaults, their environment variables and their rules.
// cli.ts turns FLAGS into commander options; everything else receives a validated Config.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';

export type FlagType = 'int' | 'string' | 'bool';

export interface FlagSpec {
  /** The flag as the user types it, underscores as in the original Broker: `--jwt_expiry`. */
  name: keyof Config;
  type: FlagType;
  /** undefined = no default (the help says what happens instead). */
  default: string | number | boolean | undefined;
  description: string;
  min?: number;
  max?: number;
  /** Shown in --help when there is no literal default. */
  defaultText?: string;
  /** The flag's own rule, instead of its type's (it also receives the default). */
  parse?: (name: string, value: unknown) => unknown;
  /** The flag alone (`--trust_proxy`) is allowed and means true, as for a bool. */
  valueOptional?: boolean;
}

/**
 * Whom to believe about the client's address in X-Forwarded-For: a number of proxies in front (0 =
 * nobody, the socket's address counts; 1 = the right-most entry, which the one proxy appended), or the
 * proxies' own addresses/CIDRs (entries are believed from the right while they name a listed proxy).
 */
export type TrustProxy = number | string[];

export interface Config {
  port: number;
  host: string;
  origin: string;
  jwt_expiry: number;
  jwt_secret: string | undefined;
  jwt_secret_file: string | undefined;
  secure: boolean;
  auto_cert: boolean;
  key_path: string;
  cert_path: string;
  certs: string;
  db: string;
  domain: string | undefined;
  admin_token: string | undefined;
  admin_token_file: string | undefined;
  password_checker: boolean;
  totp_duration: number;
  https_port: number;
  http_port: number;
  acme_directory: string;
  acme_staging: boolean;
  acme_email: string | undefined;
  heartbeat: number;
  max_buffer: number;
  max_streams_per_user: number;
  history_max_age: number;
  history_max_events: number;
  body_limit: number;
  map_size: number;
  login_rate_limit: number;
  admin_rate_limit: number;
  trust_proxy: TrustProxy;
  log_level: string;
  tenant_insert_rate: number;
  tenant_quota: number;
  tenant_max_event_names: number;
  keep_alive_timeout: number;
  max_connections_per_ip: number;
}

export const LETSENCRYPT_PRODUCTION = 'https://acme-v02.api.letsencrypt.org/directory';
export const LETSENCRYPT_STAGING = 'https://acme-staging-v02.api.letsencrypt.org/directory';
/** The original Broker's public defaults: anyone who read its README knows them. */
export const PUBLIC_DEFAULT_SECRETS = ['secret', 'letmein'];
/** What --secure requires of a given secret: 256 bits, as much as the generated ones carry. */
export const MIN_SECRET_BYTES = 32;

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
];

export function envName(flag: string): string {
  return `BROKER_${flag.toUpperCase()}`;
}

export class ConfigError extends Error {}

/** Accepts what the original's README writes: true/false, "true"/"false" (quotes kept by some shells), 1/0. */
export function parseBool(name: string, value: unknown): boolean {
  if (typeof value === 'boolean') return value;
  const text = String(value)
    .trim()
    .replace(/^["']|["']$/g, '')
    .toLowerCase();
  if (['true', '1', 'yes', 'on', ''].includes(text)) return true;
  if (['false', '0', 'no', 'off'].includes(text)) return false;
  throw new ConfigError(`--${name} must be true or false, got "${String(value)}"`);
}

const MAX_PROXY_HOPS = 16;

function isProxyAddress(entry: string): boolean {
  const [address, prefix, extra] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || extra !== undefined) return false;
  return prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128));
}

/** true/false (as for a bool), a number of proxies, or a comma list of proxy addresses/CIDRs. */
export function parseTrustProxy(name: string, value: unknown): TrustProxy {
  if (typeof value === 'boolean') return value ? 1 : 0;
  const text = Array.isArray(value)
    ? value.join(',')
    : String(value)
        .trim()
        .replace(/^["']|["']$/g, '');
  const word = text.toLowerCase();
  if (['true', 'yes', 'on', ''].includes(word)) return 1;
  if (['false', 'no', 'off'].includes(word)) return 0;
  if (/^\d+$/.test(text)) {
    const hops = Number(text);
    if (hops > MAX_PROXY_HOPS)
      throw new ConfigError(`--${name} must be at most ${MAX_PROXY_HOPS} proxies, got ${text}`);
    return hops;
  }
  const entries = text.split(',').map((e) => e.trim());
  const bad = entries.find((e) => !isProxyAddress(e));
  if (bad !== undefined) {
    throw new ConfigError(
      `--${name} must be true, false, a number of proxies or a comma list of proxy addresses/CIDRs, got "${bad}"`,
    );
  }
  return entries;
}

function parseInt10(spec: FlagSpec, value: unknown): number {
  const text =
    typeof value === 'number'
      ? String(value)
      : String(value)
          .trim()
          .replace(/^["']|["']$/g, '');
  if (!/^-?\d+$/.test(text)) throw new ConfigError(`--${spec.name} must be a whole number, got "${String(value)}"`);
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new ConfigError(`--${spec.name} is out of range: ${text}`);
  if (spec.min !== undefined && n < spec.min)
    throw new ConfigError(`--${spec.name} must be at least ${spec.min}, got ${n}`);
  if (spec.max !== undefined && n > spec.max)
    throw new ConfigError(`--${spec.name} must be at most ${spec.max}, got ${n}`);
  return n;
}

/**
 * Builds a Config from raw values (strings from flags or the environment, or typed values from code),
 * applying defaults and every rule. Throws ConfigError with one clear line.
 */
export function resolveConfig(raw: Partial<Record<keyof Config, unknown>>): Config {
  const out: Record<string, unknown> = {};
  for (const spec of FLAGS) {
    const value = raw[spec.name];
    if (spec.parse) {
      out[spec.name] = spec.parse(spec.name, value ?? spec.default);
      continue;
    }
    if (value === undefined || value === null) {
      out[spec.name] = spec.default;
      continue;
    }
    switch (spec.type) {
      case 'bool':
        out[spec.name] = parseBool(spec.name, value);
        break;
      case 'int':
        out[spec.name] = parseInt10(spec, value);
        break;
      case 'string': {
        const text = String(value);
        if (text === '' && spec.default === undefined) out[spec.name] = undefined;
        // An empty --db or --certs would resolve to the working directory: refuse rather than guess.
        else if (text.trim() === '') throw new ConfigError(`--${spec.name} must not be empty`);
        else out[spec.name] = text;
      }
    }
  }
  for (const key of Object.keys(raw)) {
    if (!FLAGS.some((f) => f.name === key)) throw new ConfigError(`unknown option --${key}`);
  }
  const config = out as unknown as Config;
  if (config.acme_staging && raw.acme_directory === undefined) config.acme_directory = LETSENCRYPT_STAGING;
  const levels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
  if (!levels.includes(config.log_level)) throw new ConfigError(`--log_level must be one of ${levels.join(', ')}`);
  // The host and the password checker default to what the mode needs: a development broker (plain
  // HTTP) is reachable from this machine only; a production one (--secure) from everywhere, and checks
  // password strength unless told --password_checker=false.
  config.host ??= config.secure ? '0.0.0.0' : '127.0.0.1';
  config.password_checker ??= config.secure;
  // A secret on the command line shows in `ps`; its _file flag reads it from a file (a systemd credential).
  config.jwt_secret = secretFromFile(config, 'jwt_secret');
  config.admin_token = secretFromFile(config, 'admin_token');
  if (config.secure) {
    for (const name of ['jwt_secret', 'admin_token'] as const) {
      const value = config[name];
      if (value === undefined) continue;
      if (PUBLIC_DEFAULT_SECRETS.includes(value)) {
        throw new ConfigError(
          `refusing to start with --secure: --${name} is the original Broker's public default "${value}"`,
        );
      }
      const bytes = Buffer.byteLength(value);
      if (bytes < MIN_SECRET_BYTES) {
        throw new ConfigError(
          `refusing to start with --secure: --${name} is ${bytes} bytes, it needs at least ${MIN_SECRET_BYTES} ` +
            `(make one with: openssl rand -base64 32)`,
        );
      }
    }
    if (config.auto_cert && !config.domain) throw new ConfigError('--secure with --auto_cert needs --domain');
  }
  if (config.jwt_secret !== undefined && config.jwt_secret.length < 1)
    throw new ConfigError('--jwt_secret must not be empty');
  return config;
}

/** The secret given by --<name>_file, read now (trailing newlines trimmed), or the one given directly. */
function secretFromFile(config: Config, name: 'jwt_secret' | 'admin_token'): string | undefined {
  const file = config[`${name}_file`];
  if (file === undefined) return config[name];
  if (config[name] !== undefined) {
    throw new ConfigError(
      `--${name} and --${name}_file are both set (as flags, BROKER_* variables or in .env): give only one`,
    );
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(
      `--${name}_file ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
    );
  }
  text = text.replace(/[\r\n]+$/, '');
  if (text === '') throw new ConfigError(`--${name}_file ${file} is empty`);
  return text;
}

/** Unsafe settings the startup log warns about. */
export function unsafeSettings(config: Config): string[] {
  const warnings: string[] = [];
  if (config.jwt_secret !== undefined && PUBLIC_DEFAULT_SECRETS.includes(config.jwt_secret))
    warnings.push('--jwt_secret is a public default: anyone can forge tokens');
  if (config.jwt_secret !== undefined && Buffer.byteLength(config.jwt_secret) < MIN_SECRET_BYTES)
    warnings.push(`--jwt_secret is shorter than ${MIN_SECRET_BYTES} bytes (--secure refuses it)`);
  if (config.admin_token !== undefined && Buffer.byteLength(config.admin_token) < MIN_SECRET_BYTES)
    warnings.push(`--admin_token is shorter than ${MIN_SECRET_BYTES} bytes (--secure refuses it)`);
  if (config.admin_token !== undefined && PUBLIC_DEFAULT_SECRETS.includes(config.admin_token))
    warnings.push('--admin_token is a public default: anyone can administer users');
  if (!config.secure)
    warnings.push('plain HTTP: tokens and passwords cross the network unencrypted (use --secure in production)');
  if (config.origin === '*') warnings.push('--origin is "*": any website may call this API from a browser');
  if (typeof config.trust_proxy === 'number' && config.trust_proxy > 0)
    warnings.push(
      '--trust_proxy is a count of proxies: any peer may be one, so --max_connections_per_ip is off and ' +
        "X-Forwarded-For is believed from anyone who reaches this port; list the proxies' addresses instead",
    );
  return warnings;
}
