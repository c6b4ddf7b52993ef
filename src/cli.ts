#!/usr/bin/env node
// The `broker` command: flags (or BROKER_* variables, or a .env file) -> Config -> start.
// Precedence: flag > environment > .env > default. A bad value exits 2 before anything listens.
import { existsSync, readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import { Command, CommanderError, Option } from 'commander';
import { ConfigError, FLAGS, envName, resolveConfig, type Config } from './config.js';
import { DatabaseInUseError } from './storage/process-lock.js';
import { DatabaseOpenError } from './storage/database.js';
import { exitOnSignals, start } from './server.js';

function loadDotEnv(file = '.env'): void {
  if (!existsSync(file)) return;
  const values = parseEnv(readFileSync(file, 'utf8')) as Record<string, string>;
  for (const [key, value] of Object.entries(values)) {
    if (process.env[key] === undefined) process.env[key] = value;
  }
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
    .exitOverride()
    .configureHelp({ sortOptions: false });

  for (const spec of FLAGS) {
    const flag = spec.type === 'bool' ? `--${spec.name} [bool]` : `--${spec.name} <${spec.type === 'int' ? 'number' : 'value'}>`;
    // commander prints no default for an undefined value, so a computed default goes in the text.
    const text = spec.default === undefined ? `${spec.description} (default: ${spec.defaultText ?? 'none'})` : spec.description;
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
  return program;
}

async function runServer(config: Config): Promise<void> {
  try {
    const server = await start(config);
    if (server.services.generatedAdminToken) {
      // Printed once, at the first start, outside the JSON log (so no log shipper keeps it).
      process.stderr.write(
        `\nGenerated admin token (shown only this once; it is kept in ${server.services.db.path}):\n  ${server.services.generatedAdminToken}\n` +
          `Pass --admin_token or set BROKER_ADMIN_TOKEN to choose your own.\n\n`,
      );
    }
    exitOnSignals(server);
  } catch (err) {
    if (err instanceof DatabaseInUseError || err instanceof DatabaseOpenError || err instanceof ConfigError) fail(err.message);
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EADDRINUSE') fail(`port ${config.port} is already in use`);
    if (e.code === 'EACCES') fail(`no permission to listen on port ${config.port} (ports under 1024 need root or CAP_NET_BIND_SERVICE)`);
    throw err;
  }
}

export async function main(argv = process.argv): Promise<void> {
  loadDotEnv();
  const program = buildProgram(runServer);
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.exitCode === 0) process.exit(0);
      process.exit(2);
    }
    process.stderr.write(`broker: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  }
}

await main();
