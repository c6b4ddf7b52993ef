// The flags the bench starts a broker build with, fitted to the flags that build knows: an old build
// refuses options it has never heard of, and a new build may have limits that would refuse the bench's
// own load (one tenant, one user holding every stream, eight loopback source addresses).

/** The part of a build's FLAGS table the bench reads. */
export interface KnownFlag {
  name: string;
  type: string;
  default?: unknown;
  min?: number;
  max?: number;
}

/** Raised to "practically off" wherever a build has them. */
const HIGH = 1_000_000_000;

/**
 * Per-IP, per-user and per-tenant limits: every build's flags whose names say they bound request rates,
 * quotas, connections or streams per client. Matched by name so that a limit added later (issue 9: a
 * per-tenant insert rate limit and byte quota, per-IP connection caps) is raised without editing the
 * bench; what the bench measures (body size, buffers, map size, history) is never touched.
 */
const LOAD_LIMIT = /((^|_)rate(_|$)|rate_limit|quota|per_ip|tenant|per_user|connection|max_streams|inserts?_per)/;
const MEASURED = new Set([
  'body_limit',
  'max_buffer',
  'map_size',
  'history_max_age',
  'history_max_events',
  'heartbeat',
]);
/** Durations are not limits on load: raising a connection timeout would change what is measured. */
const DURATION = /(timeout|idle|expiry|duration|_age|interval)/;

export interface FittedConfig {
  /** raw values for that build's resolveConfig */
  raw: Record<string, unknown>;
  /** limits raised because the build has them: name=value */
  raised: string[];
  /** wanted settings the build does not know, left out */
  dropped: string[];
}

/**
 * `base` is what the bench needs (port, db, secrets, log level); `overrides` come from the caller. Without
 * a FLAGS table (a build older than it) everything is passed and resolveConfig decides.
 */
export function fitConfig(
  flags: readonly KnownFlag[] | undefined,
  base: Record<string, unknown>,
  overrides: Record<string, unknown> = {},
): FittedConfig {
  const raised: string[] = [];
  const limits: Record<string, unknown> = {};
  for (const f of flags ?? []) {
    if (
      f.name in base ||
      f.name in overrides ||
      f.type !== 'int' ||
      MEASURED.has(f.name) ||
      DURATION.test(f.name) ||
      !LOAD_LIMIT.test(f.name)
    )
      continue;
    const value = Math.min(HIGH, f.max ?? HIGH);
    limits[f.name] = value;
    raised.push(`${f.name}=${value}`);
  }
  const wanted = { ...limits, ...base, ...overrides };
  if (!flags) return { raw: wanted, raised, dropped: [] };
  const known = new Set(flags.map((f) => f.name));
  const raw: Record<string, unknown> = {};
  const dropped: string[] = [];
  for (const [k, v] of Object.entries(wanted)) {
    if (known.has(k)) raw[k] = v;
    else dropped.push(k);
  }
  return { raw, raised, dropped };
}
