// vitest setup file of project "cluster" (vitest.config.ts): after each file, the nats-servers it used stop.
import { afterAll } from 'vitest';
import { natsServerBinary } from './nats.js';
import { stopNatsServers } from './nats-mode.js';

// Cluster mode without nats-server is no cluster mode: fail, never quietly test one node instead.
natsServerBinary();

afterAll(async () => {
  await stopNatsServers();
}, 30_000);
