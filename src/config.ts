// Raw values (flags, BROKER_* variables, .env, or code) -> a validated Config: defaults, every rule, the
// secrets read from their files; and the unsafe settings the startup log warns about. The flags
// themselves are one table in flags.ts, their value parsers in flag-values.ts; everything else
// imports from here and receives a validated Config.
import { readFileSync } from 'node:fs';
import { ConfigError, parseBool, parseInt10 } from './flag-values.js';
import { FLAGS, LETSENCRYPT_STAGING, type Config } from './flags.js';

export { ConfigError, parseBool, parseTrustProxy, type TrustProxy } from './flag-values.js';
export {
  FLAGS,
  LETSENCRYPT_PRODUCTION,
  LETSENCRYPT_STAGING,
  envName,
  type Config,
  type FlagSpec,
  type FlagType,
} from './flags.js';

/** The original Broker's public defaults: anyone who read its README knows them. */
export const PUBLIC_DEFAULT_SECRETS = ['secret', 'letmein'];
/** What --secure requires of a given secret: 256 bits, as much as the generated ones carry. */
export const MIN_SECRET_BYTES = 32;

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
  config.oidc_client_secret = secretFromFile(config, 'oidc_client_secret');
  config.metrics_token = secretFromFile(config, 'metrics_token');
  checkAccountFlags(config);
  if (config.secure) {
    for (const name of ['jwt_secret', 'admin_token', 'metrics_token'] as const) {
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
function secretFromFile(
  config: Config,
  name: 'jwt_secret' | 'admin_token' | 'oidc_client_secret' | 'metrics_token',
): string | undefined {
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

/** Whether an address to listen on is this machine only. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** A URL flag, parsed; http is allowed only on loopback (a provider or a Broker on this machine). */
function urlFlag(name: string, value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`--${name} must be a URL (https://...), not "${value.slice(0, 100)}"`);
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopback(url.hostname)))
    throw new ConfigError(`--${name} must be an https:// URL (http:// only on loopback)`);
  return url;
}

/** The rules of --local and the --oidc_* flags (identity/local.ts, identity/oidc/). */
function checkAccountFlags(config: Config): void {
  if (config.local) {
    if (config.secure)
      throw new ConfigError('--local serves one user on this machine without credentials: it cannot be --secure');
    if (!isLoopback(config.host))
      throw new ConfigError(
        `--local listens on loopback only (127.0.0.1 or ::1): --host ${config.host} would open it to the network`,
      );
  }
  const set = (['oidc_client_id', 'oidc_client_secret', 'oidc_redirect_base'] as const).filter(
    (n) => config[n] !== undefined,
  );
  if (config.oidc_issuer_uri === undefined) {
    if (set.length > 0) throw new ConfigError(`--${set[0]} needs --oidc_issuer_uri`);
    return;
  }
  urlFlag('oidc_issuer_uri', config.oidc_issuer_uri);
  if (config.oidc_client_id === undefined) throw new ConfigError('--oidc_issuer_uri needs --oidc_client_id');
  if (config.oidc_redirect_base === undefined)
    throw new ConfigError('--oidc_issuer_uri needs --oidc_redirect_base (the public URL of this Broker)');
  const base = urlFlag('oidc_redirect_base', config.oidc_redirect_base);
  if (base.search || base.hash) throw new ConfigError('--oidc_redirect_base must have no query or fragment');
  if (!config.oidc_scopes.split(/\s+/).includes('openid')) throw new ConfigError('--oidc_scopes must include "openid"');
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
  if (config.local)
    warnings.push(
      '--local: the data is open to every process of this machine (requests without credentials act as "local")',
    );
  if (config.origin === '*') warnings.push('--origin is "*": any website may call this API from a browser');
  if (typeof config.trust_proxy === 'number' && config.trust_proxy > 0)
    warnings.push(
      '--trust_proxy is a count of proxies: any peer may be one, so --max_connections_per_ip is off and ' +
        "X-Forwarded-For is believed from anyone who reaches this port; list the proxies' addresses instead",
    );
  return warnings;
}
