// `broker apps …`: create an app and its keys from a shell on the VPS, for those who would rather not
// curl the admin routes. It talks to the running broker (its admin routes), not to the database files:
// the broker holds every key in memory (keys.ts) and the database's lock refuses a second process, so a
// write beside a running server could not take effect, and stopping the server for a key is no option.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Command, Option } from 'commander';
import { envName, FLAGS } from '../config.js';
import { ADMIN_TOKEN_FILE } from '../storage/secrets.js';

interface Common {
  url: string;
  db: string;
  adminTokenFile?: string;
}

const PERMISSIONS = 'count,log,crash,user,management';

function adminToken(opts: Common): string {
  const fromEnv = process.env[envName('admin_token')];
  if (fromEnv) return fromEnv;
  const file = opts.adminTokenFile ?? process.env[envName('admin_token_file')] ?? join(opts.db, ADMIN_TOKEN_FILE);
  if (!existsSync(file))
    throw new Error(`no admin token: set ${envName('admin_token')}, pass --admin_token_file, or run where ${file} is`);
  return readFileSync(file, 'utf8').trim();
}

async function admin(opts: Common, path: string, body: Record<string, unknown>): Promise<unknown> {
  const res = await fetch(new URL(path, opts.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ admin_token: adminToken(opts), ...body }),
  });
  const answer = (await res.json().catch(() => ({}))) as { error?: string };
  if (!res.ok) throw new Error(`${path}: ${res.status} ${answer.error ?? ''}`.trim());
  return answer;
}

export function appsCommands(program: Command, fail: (message: string) => never): void {
  const db = FLAGS.find((f) => f.name === 'db')!;
  const port = process.env[envName('port')] ?? '8080';
  const common = (c: Command) =>
    c
      .addOption(new Option('--url <url>', 'the running broker').default(`http://127.0.0.1:${port}`))
      .addOption(new Option('--db <dir>', 'where the generated admin token is').env(envName('db')).default(db.default))
      .option('--admin_token_file <file>', `the admin token (else ${envName('admin_token')}, else <db>/admin_token)`);
  const run = async (action: () => Promise<unknown>): Promise<void> => {
    try {
      process.stdout.write(`${JSON.stringify(await action(), null, 2)}\n`);
    } catch (err) {
      fail((err as Error).message);
    }
  };

  const apps = program
    .command('apps')
    .description('manage apps and their API keys on a running broker (Darkstorm / Stupid Backend parity)');
  common(apps.command('create <app_id>').description('create an app'))
    .option('--name <name>', 'display name (default: the app_id)')
    .option('--tenant_name <tenant>', "the Broker tenant of the app's users and events (default: the app_id)")
    .action((app_id: string, opts: Common & { name?: string; tenant_name?: string }) =>
      run(() => admin(opts, '/create_app', { app_id, name: opts.name, tenant_name: opts.tenant_name })),
    );
  common(apps.command('list').description('list the apps with their key counts')).action((opts: Common) =>
    run(() => admin(opts, '/list_apps', {})),
  );
  common(apps.command('key <app_id>').description('create an API key (printed once: store it now)'))
    .option('--permissions <names>', 'comma-separated permissions', PERMISSIONS)
    .option('--alias <alias>', 'what the key is for')
    .option('--death <seconds>', 'Unix seconds after which the key is dead (-1: never)', '-1')
    .option('--origins <origins>', 'comma-separated browser origins that may use the key without sending it')
    .action((app_id: string, opts: Common & { permissions: string; alias?: string; death: string; origins?: string }) =>
      run(() =>
        admin(opts, '/create_api_key', {
          app_id,
          alias: opts.alias,
          permissions: Object.fromEntries(
            opts.permissions
              .split(',')
              .map((p) => p.trim())
              .filter(Boolean)
              .map((p) => [p, true]),
          ),
          death: Number(opts.death),
          allowed_origins: opts.origins ? opts.origins.split(',').map((o) => o.trim()) : undefined,
        }),
      ),
    );
  common(apps.command('keys [app_id]').description('list API keys (never the keys themselves)')).action(
    (app_id: string | undefined, opts: Common) => run(() => admin(opts, '/list_api_keys', { app_id })),
  );
  common(apps.command('delete-key <key_id>').description('delete an API key: refused from the next request on')).action(
    (key_id: string, opts: Common) => run(() => admin(opts, '/delete_api_key', { key_id })),
  );
}
