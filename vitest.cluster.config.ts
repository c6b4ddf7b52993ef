// The identity and realtime route suites again, each broker a cluster node (--nats on a real nats-server,
// --nats_replicas 1): `npx vitest run --config vitest.cluster.config.ts`. The tests are the same files as in
// the default run; test/helpers/nats-mode.ts is what changes how their brokers start.
import { defineConfig } from 'vitest/config';
import base from './vitest.config.js';

export default defineConfig({
  test: {
    // Not mergeConfig: it would append these files to the default run's include instead of replacing it.
    ...base.test,
    include: ['test/identity/**/*.test.ts', 'test/realtime/**/*.test.ts'],
    env: { BROKER_TEST_NATS: '1' },
    setupFiles: ['test/helpers/nats-setup.ts'],
  },
});
