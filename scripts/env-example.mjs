// Writes .env.example from the flag table in src/config.ts (run after `npm run build`):
//   node scripts/env-example.mjs > .env.example
import { FLAGS, envName } from '../dist/src/config.js';

let out =
  "# Every broker flag can be set as BROKER_<FLAG>: in this file (copy it to .env, or point systemd's\n" +
  '# EnvironmentFile= at it), in the environment, or as --flag on the command line.\n' +
  '# Precedence: flag > environment > .env > default. Commented lines show the defaults.\n';
for (const flag of FLAGS) {
  out += `\n# ${flag.description}${flag.defaultText ? ` (default: ${flag.defaultText})` : ''}\n`;
  out += `# ${envName(flag.name)}=${flag.default === undefined ? '' : String(flag.default)}\n`;
}
process.stdout.write(out);
