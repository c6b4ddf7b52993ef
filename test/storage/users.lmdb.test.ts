// The UserStore contract against LMDB, the default engine: a real database in a temp dir, reopened as a
// restart would.
import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import { openStorage, type Storage } from '../../src/storage/storage.js';
import { testDir } from '../helpers/broker.js';
import { userStoreContract } from './users.contract.js';

userStoreContract(
  'lmdb',
  async () => {
    const dir = join(testDir(), 'db');
    let storage: Storage = openStorage(dir);
    onTestFinished(() => storage.close());
    return {
      users: storage.users,
      async reopen() {
        await storage.close();
        storage = openStorage(dir);
        return storage.users;
      },
    };
  },
  { durable: true },
);
