// The bench scripts' command line: `--name value` flags, `--name` switches, comma-separated lists.

/** The value after `--name`; '' when the flag is given without one; undefined when absent. */
export function flag(name: string, argv: readonly string[] = process.argv): string | undefined {
  const i = argv.indexOf(`--${name}`);
  if (i < 0) return undefined;
  const v = argv[i + 1];
  return v === undefined || v.startsWith('--') ? '' : v;
}

/** Whether the switch `--name` is given. */
export const has = (name: string, argv: readonly string[] = process.argv): boolean => argv.includes(`--${name}`);

/** A comma-separated value split into its non-empty items; undefined when there is none. */
export const list = (v: string | undefined): string[] | undefined =>
  v
    ? v
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean)
    : undefined;

/** `--name <number>`, or `fallback` when absent or not a finite number. */
export function numFlag(name: string, fallback: number, argv: readonly string[] = process.argv): number {
  const v = flag(name, argv);
  const n = v ? Number(v) : NaN;
  return Number.isFinite(n) ? n : fallback;
}

/** `--name <string>`, or `fallback` when absent or given without a value. */
export function strFlag(name: string, fallback: string, argv: readonly string[] = process.argv): string {
  return flag(name, argv) || fallback;
}
