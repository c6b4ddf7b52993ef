// No line over 120 characters in the code we write (Biome formats to 120 but leaves long strings and
// comments as they are): a reader should never scroll sideways.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const MAX = 120;
const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '*.ts', '*.mjs'], {
  encoding: 'utf8',
})
  .split('\n')
  .filter((f) => f && !f.includes('node_modules/') && !f.startsWith('dist/') && !f.includes('/dist/'));
let bad = 0;
for (const file of files) {
  let text;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    continue;
  }
  text.split('\n').forEach((line, i) => {
    if (line.length > MAX) {
      bad++;
      console.error(`${file}:${i + 1}: ${line.length} characters (at most ${MAX})`);
    }
  });
}
if (bad > 0) {
  console.error(`${bad} line(s) over ${MAX} characters`);
  process.exit(1);
}
