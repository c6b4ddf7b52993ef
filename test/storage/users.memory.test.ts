// The UserStore contract against the in-memory engine.
import { MemoryUserStore } from '../../src/storage/memory/users.js';
import { userStoreContract } from './users.contract.js';

userStoreContract('memory', async () => ({ users: new MemoryUserStore() }), { durable: false });
