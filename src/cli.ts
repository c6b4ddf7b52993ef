#!/usr/bin/env node
// The `broker` command: flags (or BROKER_* variables, or a .env file) -> Config -> start.
// Precedence: flag > environment > .env > default. A bad value exits 2 before anything listens.
// Subcommands: `broker backup --db DIR --out FILE`, `broker restore --in FILE --db DIR`, `broker apps …`,
// `broker migrate --db DIR --nats URLS`.
import { existsSync, readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import { Command, CommanderError, Option } from 'commander';
import { ConfigError, FLAGS, envName, resolveConfig, type Config } from './config.js';
import { unknownEnvWarnings } from './env-check.js';
import { BackupError, DatabaseInUseError, DatabaseOpenError } from './storage/errors.js';
import { backupDatabase, restoreDatabase } from './storage/storage.js';
import { exitOnSignals, reloadOnHangup, start } from './server.js';
import { CertificateError } from './tls/certificate.js';
import { appsCommands } from './apps/cli.js';
import { migrateCommand } from './migrate-cli.js';

/** Loads ./.env under the environment; returns the names it set (for warnings that say where). */
function loadDotEnv(file = '.env'): Set<string> {
  const set = new Set<string>();
  if (!existsSync(file)) return set;
  const values = parseEnv(readFileSync(file, 'utf8')) as Record<string, string>;
  for (const [key, value] of Object.entries(values)) {
    if (process.env[key] === undefined) {
      process.env[key] = value;
      set.add(key);
    }
  }
  return set;
}

function packageVersion(): string {
  // dist/src/cli.js -> the checkout's package.json.
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function fail(message: string): never {
  process.stderr.write(`broker: ${message}\n`);
  process.exit(2);
}

export function buildProgram(run: (config: Config) => Promise<void>): Command {
  const program = new Command('broker')
    .description('Self-hosted real-time Backend-as-a-Service: users, JWT, TOTP, and an event log streamed over SSE')
    .enablePositionalOptions()
    .allowExcessArguments(false)
    .version(packageVersion(), '--version', 'print the version and exit')
    .exitOverride()
    .configureHelp({ sortOptions: false });

  for (const spec of FLAGS) {
    const flag =
      spec.type === 'bool'
        ? `--${spec.name} [bool]`
        : spec.valueOptional
          ? `--${spec.name} [value]`
          : `--${spec.name} <${spec.type === 'int' ? 'number' : 'value'}>`;
    // commander prints no default for an undefined value, so a computed default goes in the text.
    const text =
      spec.default === undefined ? `${spec.description} (default: ${spec.defaultText ?? 'none'})` : spec.description;
    const option = new Option(flag, text).env(envName(spec.name));
    if (spec.default !== undefined) option.default(spec.default);
    program.addOption(option);
  }

  program.action(async (raw: Record<string, unknown>) => {
    let config: Config;
    try {
      config = resolveConfig(raw as Partial<Record<keyof Config, unknown>>);
    } catch (err) {
      if (err instanceof ConfigError) fail(err.message);
      throw err;
    }
    await run(config);
  });

  // Both default --db to BROKER_DB (from the environment or .env), like the server, so that on a VPS
  // `broker backup --out FILE` run with the service's environment finds the live database.
  const db = FLAGS.find((f) => f.name === 'db')!;
  const dbOption = () => new Option('--db <dir>', db.description).env(envName('db')).default(db.default);
  program
    .command('backup')
    .description('write a consistent, compacted copy of the database to one file (safe while the server runs)')
    .addOption(dbOption())
    .requiredOption('--out <file>', 'the backup file to create (never overwritten)')
    .allowExcessArguments(false)
    .action(async (opts: { db: string; out: string }) => {
      try {
        const { file, bytes } = await backupDatabase(opts.db, opts.out);
        process.stdout.write(`backed up ${opts.db} to ${file} (${bytes} bytes)\n`);
      } catch (err) {
        if (err instanceof BackupError) fail(err.message);
        throw err;
      }
    });
  program
    .command('restore')
    .description('replace the database with a backup file (refused while a broker runs on it)')
    .requiredOption('--in <file>', 'the backup file, made by `broker backup`')
    .addOption(dbOption())
    .allowExcessArguments(false)
    .action(async (opts: { in: string; db: string }) => {
      try {
        const { dir, previous } = await restoreDatabase(opts.in, opts.db);
        process.stdout.write(
          `restored ${opts.in} into ${dir}${previous ? ` (the previous data.mdb is kept as ${previous})` : ''}\n`,
        );
      } catch (err) {
        if (err instanceof BackupError) fail(err.message);
        if (err instanceof DatabaseInUseError) fail(`refusing to restore: ${err.message}`);
        throw err;
      }
    });
  appsCommands(program, fail);
  migrateCommand(program, dbOption, fail);
  return program;
}

async function runServer(config: Config): Promise<void> {
  try {
    const server = await start(config);
    const tokenFile = server.services.generatedAdminTokenFile;
    if (tokenFile) {
      // The path, never the token: stderr ends up in journals and CI logs.
      process.stderr.write(
        `\nGenerated an admin token and wrote it to ${tokenFile} (readable by this user only). Read it with:\n  ` +
          `cat ${tokenFile}\n` +
          `Pass --admin_token_file or set BROKER_ADMIN_TOKEN to choose your own.\n\n`,
      );
    }
    exitOnSignals(server);
    reloadOnHangup(server);
  } catch (err) {
    if (
      err instanceof DatabaseInUseError ||
      err instanceof DatabaseOpenError ||
      err instanceof ConfigError ||
      err instanceof CertificateError
    )
      fail(err.message);
    const e = err as NodeJS.ErrnoException & { port?: number };
    // With --secure the failing port is --https_port or --http_port, which the error carries.
    const port = e.port ?? config.port;
    if (e.code === 'EADDRINUSE') fail(`port ${port} is already in use`);
    if (e.code === 'EACCES')
      fail(`no permission to listen on port ${port} (ports under 1024 need root or CAP_NET_BIND_SERVICE)`);
    throw err;
  }
}

export async function main(argv = process.argv): Promise<void> {
  const fromDotEnv = loadDotEnv();
  for (const warning of unknownEnvWarnings(process.env, fromDotEnv))
    process.stderr.write(`broker: warning: ${warning}\n`);
  const program = buildProgram(runServer);
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.exitCode === 0)
        process.exit(0);
      process.exit(2);
    }
    process.stderr.write(`broker: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  }
}

await main();
