// How a flag's text becomes its value: booleans as the original Broker's README writes them, whole
// numbers within the flag's bounds, and --trust_proxy's three forms. A bad value is a ConfigError with
// one clear line, which the command prints before exiting 2.
import { isIP } from 'node:net';

/**
 * Whom to believe about the client's address in X-Forwarded-For: a number of proxies in front (0 =
 * nobody, the socket's address counts; 1 = the right-most entry, which the one proxy appended), or the
 * proxies' own addresses/CIDRs (entries are believed from the right while they name a listed proxy).
 */
export type TrustProxy = number | string[];

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

/** A whole number (as text or a number) within `spec`'s bounds. */
export function parseInt10(spec: { name: string; min?: number; max?: number }, value: unknown): number {
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
