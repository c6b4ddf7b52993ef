// vitest setup file of vitest.cluster.config.ts: after each test file, the nats-servers its brokers used stop.
import { afterAll } from 'vitest';
import { natsServerBinary } from './nats.js';
import { stopNatsServers } from './nats-mode.js';

// Cluster mode without nats-server is no cluster mode: fail, never quietly test one node instead.
natsServerBinary();

afterAll(async () => {
  await stopNatsServers();
}, 30_000);
