import { defineConfig } from 'vitest/config';

// Two projects in one run, sharing its workers: every test on one node (LMDB), and the identity, realtime
// and apps route suites again with each broker a cluster node (`--nats` on a real single-server JetStream,
// --nats_replicas 1; test/helpers/nats-mode.ts). The same files, unchanged: one behaviour, two engines.
// `npx vitest run --project cluster` runs only the second.
const shared = { testTimeout: 30_000, hookTimeout: 30_000 };

export default defineConfig({
  test: {
    // Each file starts its own servers on ephemeral ports in temp dirs, so files run in parallel. Most of a
    // file's time is spent waiting (timers, child processes, fsync), so 2 files at once on 2 cores (vitest's
    // default here is cores - 1 = 1) cut the run by about a third. 3 at once was faster still, but with the
    // cluster tests' seven processes beside them, timing tests of other files ran out of their margins.
    pool: 'forks',
    maxWorkers: 2,
    projects: [
      {
        test: {
          ...shared,
          name: 'node',
          include: ['test/**/*.test.ts'],
        },
      },
      {
        test: {
          ...shared,
          name: 'cluster',
          include: [
            'test/identity/**/*.test.ts',
            'test/realtime/**/*.test.ts',
            // The apps routes: keys, users through an app, crash reports and counts (the other apps files
            // reach into LMDB, or are the single-node CLI and upgrades).
            'test/apps/{keys,users,crashes,usage}.test.ts',
          ],
          env: { BROKER_TEST_NATS: '1' },
          // Cluster mode without nats-server is no cluster mode: it fails; and it stops the servers.
          setupFiles: ['test/helpers/nats-setup.ts'],
        },
      },
    ],
  },
});
