// Tests that need a system program (pebble, systemd-analyze): outside CI they skip with the reason when
// it is missing; under CI (any truthy value) they run anyway and fail on the missing binary, so CI can never go green
// by silently skipping them.
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

export function findBinary(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/bin', '/usr/sbin', '/bin', '/sbin'];
  for (const dir of dirs) {
    if (!dir) continue;
    const file = join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

/** CI set to any truthy value (true, 1, yes, ...): only unset, empty, 0 and false mean "not CI". */
export const IN_CI = !['', '0', 'false', 'no', 'off'].includes((process.env.CI ?? '').trim().toLowerCase());

/**
 * The binaries' paths, or undefined when the tests should skip (not installed, not in CI; the reason is
 * printed). Under CI a missing binary returns a path-less marker that `requireBinaries` turns into a failure.
 */
export function binariesOrSkip(
  names: string[],
  install: string,
): { skip: boolean; paths: Record<string, string | undefined> } {
  const paths = Object.fromEntries(names.map((n) => [n, findBinary(n)]));
  const missing = names.filter((n) => !paths[n]);
  if (missing.length && !IN_CI) {
    process.stderr.write(
      `skipping: ${missing.join(', ')} not installed (${install}); under CI=true these tests fail instead\n`,
    );
    return { skip: true, paths };
  }
  return { skip: false, paths };
}

export function requireBinary(paths: Record<string, string | undefined>, name: string, install: string): string {
  const path = paths[name];
  if (!path) throw new Error(`${name} is not installed and CI requires it: ${install}`);
  return path;
}
