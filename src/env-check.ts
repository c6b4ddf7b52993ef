// BROKER_* variables that name no flag: a typo (BROKER_JWT_SECRT) would otherwise be ignored in
// silence and the broker would start with the default the operator meant to replace.
import { FLAGS, envName } from './config.js';

/** Variables with the BROKER_ prefix that are not settings (read by tests and tools, not by the server). */
const NOT_SETTINGS = new Set(['BROKER_TEST_CHROMIUM']);

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length];
}

/** The closest setting's variable, if it is close enough to be what was meant. */
function closest(name: string): string | undefined {
  let best: { env: string; distance: number } | undefined;
  for (const flag of FLAGS) {
    const env = envName(flag.name);
    const distance = editDistance(name, env);
    if (!best || distance < best.distance) best = { env, distance };
  }
  // A third of the part after BROKER_ may differ: catches typos, not unrelated names.
  return best && best.distance <= Math.max(2, Math.floor((name.length - 'BROKER_'.length) / 3)) ? best.env : undefined;
}

/** One warning per unknown BROKER_* variable, saying where it came from and what it may have meant. */
export function unknownEnvWarnings(env: NodeJS.ProcessEnv, fromDotEnv: ReadonlySet<string>): string[] {
  const known = new Set(FLAGS.map((f) => envName(f.name)));
  const warnings: string[] = [];
  for (const name of Object.keys(env).sort()) {
    if (!name.startsWith('BROKER_') || known.has(name) || NOT_SETTINGS.has(name)) continue;
    const where = fromDotEnv.has(name) ? 'in .env' : 'in the environment';
    const guess = closest(name);
    const hint = guess
      ? `: did you mean ${guess} (--${guess.slice('BROKER_'.length).toLowerCase()})?`
      : ': no broker setting has this name, it is ignored';
    warnings.push(`unknown variable ${name} ${where}${hint}`);
  }
  return warnings;
}
