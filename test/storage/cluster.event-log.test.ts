// The EventLog contract against the cluster engine (--nats): a real nats-server with JetStream, a real
// LMDB read model in a temp dir, reopened as a node's restart would (it resumes from its applied sequence).
import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import type { Storage } from '../../src/storage/storage.js';
import { testDir } from '../helpers/broker.js';
import { freshStream, natsServerForFile, openNode } from './cluster-nats.js';
import { eventLogContract } from './event-log.contract.js';

const nats = natsServerForFile();

eventLogContract(
  'cluster',
  async ({ now }) => {
    const dir = join(testDir(), 'db');
    const stream = freshStream();
    let storage: Storage = await openNode(dir, nats.url(), stream, now);
    onTestFinished(() => storage.close());
    return {
      log: storage.log,
      async reopen() {
        await storage.close();
        storage = await openNode(dir, nats.url(), stream, now);
        return storage.log;
      },
    };
  },
  { durable: true },
);
