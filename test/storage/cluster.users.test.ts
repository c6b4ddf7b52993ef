// The UserStore contract against the cluster engine (--nats): a real nats-server, a real LMDB read model.
import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import type { Storage } from '../../src/storage/storage.js';
import { testDir } from '../helpers/broker.js';
import { freshStream, natsServerForFile, openNode } from './cluster-nats.js';
import { userStoreContract } from './users.contract.js';

const nats = natsServerForFile();

userStoreContract(
  'cluster',
  async () => {
    const dir = join(testDir(), 'db');
    const stream = freshStream();
    let storage: Storage = await openNode(dir, nats.url(), stream);
    onTestFinished(() => storage.close());
    return {
      users: storage.users,
      async reopen() {
        await storage.close();
        storage = await openNode(dir, nats.url(), stream);
        return storage.users;
      },
    };
  },
  { durable: true },
);
