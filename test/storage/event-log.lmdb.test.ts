// The EventLog contract against LMDB, the default engine: a real database in a temp dir, reopened as a
// restart would.
import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import { openStorage, type Storage } from '../../src/storage/storage.js';
import { testDir } from '../helpers/broker.js';
import { eventLogContract } from './event-log.contract.js';

eventLogContract(
  'lmdb',
  async ({ now }) => {
    const dir = join(testDir(), 'db');
    let storage: Storage = openStorage(dir, { now });
    onTestFinished(() => storage.close());
    return {
      log: storage.log,
      async reopen() {
        await storage.close();
        storage = openStorage(dir, { now });
        return storage.log;
      },
    };
  },
  { durable: true },
);
