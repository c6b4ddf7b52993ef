// `broker migrate --db DIR --nats URLS`: moves a single-node database into an empty cluster (storage/migrate.ts
// does the copy through the seams). The source is opened like a server opens it, so its lock refuses a
// database a broker still runs on; the target is a cluster node whose read model is a temp dir, removed after.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Command, Option } from 'commander';
import { envName } from './config.js';
import { openClusterStorage } from './storage/cluster/storage.js';
import { DatabaseInUseError, DatabaseOpenError } from './storage/errors.js';
import { migrate, MigrateRefusedError, type MigrateCounts } from './storage/migrate.js';
import { openStorage, type Storage } from './storage/storage.js';

interface MigrateFlags {
  db: string;
  nats: string;
  nats_creds?: string;
  nats_tls_ca?: string;
  nats_replicas: string;
}

const summary = (c: MigrateCounts) =>
  `${c.users} users, ${c.links} links, ${c.apps} apps, ${c.keys} keys, ${c.crashes} crash reports, ` +
  `${c.archived} archived crashes, ${c.usage} usage ids, ${c.denied} denied tokens, ` +
  `${c.events} events in ${c.tenants} streams`;

// The server's own variables (BROKER_NATS, ...), so it runs with the environment of a node's service.
const flag = (name: string, text: string) => new Option(`--${name} <value>`, text).env(envName(name));

export function migrateCommand(program: Command, dbOption: () => Option, fail: (message: string) => never): void {
  program
    .command('migrate')
    .description('copy a single-node database (--db) into an empty cluster (--nats): users, apps, every event')
    .addOption(dbOption())
    .addOption(flag('nats', 'the cluster: NATS URLs, comma-separated').makeOptionMandatory())
    .addOption(flag('nats_creds', 'a NATS .creds file to log in with'))
    .addOption(flag('nats_tls_ca', "a CA file the NATS servers' TLS certificates are checked against"))
    .addOption(flag('nats_replicas', 'JetStream replicas of the stream, if migrate makes it').default('3'))
    .allowExcessArguments(false)
    .action(async (opts: MigrateFlags) => {
      const replicas = Number(opts.nats_replicas);
      if (!Number.isInteger(replicas) || replicas < 1 || replicas > 5) fail('--nats_replicas must be 1 to 5');
      const model = mkdtempSync(join(tmpdir(), 'broker-migrate-'));
      let source: Storage | undefined;
      let target: Storage | undefined;
      try {
        source = openStorage(opts.db);
        target = await openClusterStorage(model, {
          nats: { urls: opts.nats, credsFile: opts.nats_creds, tlsCaFile: opts.nats_tls_ca, replicas },
          // The source's history: event ids are kept, so a client's Last-Event-ID resumes on the cluster.
          epoch: source.epoch,
        });
        let shown = 0;
        const counts = await migrate(source, target, {
          // Progress on stderr, at most once a second for the events (a log of millions takes a while).
          progress: (step, c) => {
            if (step === 'events' && Date.now() - shown < 1000) return;
            shown = Date.now();
            process.stderr.write(`migrate: ${step}: ${summary(c)}\n`);
          },
        });
        process.stdout.write(`migrated ${opts.db} into the cluster: ${summary(counts)}\n`);
        if (target.epoch !== source.epoch)
          process.stderr.write('migrate: the cluster had its own epoch already: clients replay from the start once\n');
      } catch (err) {
        if (err instanceof MigrateRefusedError) fail(`refusing to migrate: ${err.message}`);
        if (err instanceof DatabaseInUseError || err instanceof DatabaseOpenError) fail(err.message);
        throw err;
      } finally {
        await target?.close();
        await source?.close();
        rmSync(model, { recursive: true, force: true });
      }
    });
}
