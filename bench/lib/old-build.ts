// Another build of the broker to measure beside the current one in the same run (`broker@old`):
// `--old <dir>` (a checkout built with `npx tsc -p tsconfig.json`, or its dist/), or `--old-ref <ref>` /
// `--compare <ref>` (the bench builds that commit itself). The server child is always the current bench's
// own; only `start`/`resolveConfig`/`FLAGS` come from the old dist, so both builds get the same harness.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { flag } from './args.js';

/** This checkout: dist/bench/lib/old-build.js → three levels up. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
/** The current build's dist/ (the one the bench itself was compiled into). */
export const CURRENT_DIST = join(REPO_ROOT, 'dist');

export interface Build {
  /** a dist/ directory holding src/server.js and src/config.js */
  dist: string;
  /** what to print: the ref and commit, or the directory */
  label: string;
}

const git = (args: string[], cwd = REPO_ROOT) =>
  execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();

/** A build given as a directory: the checkout (with dist/) or the dist/ itself. Never builds there. */
export function buildFromDir(dir: string): Build {
  const abs = resolve(dir);
  for (const dist of [join(abs, 'dist'), abs]) {
    if (existsSync(join(dist, 'src', 'server.js')) && existsSync(join(dist, 'src', 'config.js')))
      return { dist, label: abs };
  }
  throw new Error(`--old ${dir}: no dist/src/server.js there; build it first (cd ${dir} && npx tsc -p tsconfig.json)`);
}

/**
 * Builds commit `ref` of this repository in a temp directory keyed by its commit (reused by later runs:
 * a commit never changes), from `git archive` rather than a worktree so that a crashed run leaves no git
 * state behind. node_modules is this checkout's (the old package.json may pin other versions: the figures
 * then measure the old source on today's dependencies, which is what a code regression check wants).
 */
export function buildFromRef(ref: string, log: (line: string) => void): Build {
  let sha: string;
  try {
    sha = git(['rev-parse', '--verify', `${ref}^{commit}`]);
  } catch {
    throw new Error(`--old-ref ${ref}: not a commit of ${REPO_ROOT}`);
  }
  const full = git(['log', '-1', '--format=%s', sha]);
  const subject = full.length > 60 ? `${full.slice(0, 59)}…` : full;
  const label = `${ref} = ${sha.slice(0, 10)} (${subject})`;
  const dir = join(tmpdir(), `broker-bench-build-${sha.slice(0, 16)}`);
  const dist = join(dir, 'dist');
  const marker = join(dir, '.bench-built');
  if (existsSync(marker)) {
    log(`  · old build ${label}: reusing ${dir}`);
    return { dist, label };
  }
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const tar = join(dir, 'src.tar');
  git(['archive', '--format=tar', '-o', tar, sha]);
  execFileSync('tar', ['-xf', tar, '-C', dir]);
  rmSync(tar);
  symlinkSync(realpathSync(join(REPO_ROOT, 'node_modules')), join(dir, 'node_modules'), 'dir');
  // Only src/ is needed (the harness is the current bench's), which also spares compiling old tests.
  writeFileSync(join(dir, 'tsconfig.bench-old.json'), JSON.stringify({ extends: './tsconfig.json', include: ['src'] }));
  log(`  · old build ${label}: compiling in ${dir}`);
  const tsc = spawnSync(
    process.execPath,
    [join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.bench-old.json'],
    { cwd: dir, encoding: 'utf8' },
  );
  const built = existsSync(join(dist, 'src', 'server.js')) && existsSync(join(dist, 'src', 'config.js'));
  if (!built)
    throw new Error(
      `old build ${label}: tsc failed (exit ${tsc.status}):\n${`${tsc.stdout}${tsc.stderr}`.slice(0, 2000)}`,
    );
  // Type errors still emit JavaScript (e.g. an old source against today's type definitions): run it, say so.
  if (tsc.status !== 0)
    log(
      `  · old build ${label}: tsc reported errors but emitted; first ` +
        `lines:\n${tsc.stdout.split('\n').slice(0, 5).join('\n')}`,
    );
  writeFileSync(marker, `${sha}\n`);
  return { dist, label };
}

/** The old build named on the command line (`--old <dir>`, `--old-ref <ref>` or `--compare <ref>`), if any. */
export function oldBuildFromArgs(
  log: (line: string) => void,
  argv: readonly string[] = process.argv,
): Build | undefined {
  const dir = flag('old', argv);
  const ref = flag('old-ref', argv) ?? flag('compare', argv);
  if (dir !== undefined && ref !== undefined)
    throw new Error('give either --old <dir> or --old-ref/--compare <ref>, not both');
  if (dir !== undefined) {
    if (!dir) throw new Error('--old needs a directory');
    return buildFromDir(dir);
  }
  if (ref !== undefined) {
    if (!ref) throw new Error('--old-ref/--compare needs a git ref (e.g. HEAD~3, main, a tag)');
    return buildFromRef(ref, log);
  }
  return undefined;
}
