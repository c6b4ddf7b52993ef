// The EventLog contract against the in-memory engine.
import { MemoryEventLog } from '../../src/storage/memory/event-log.js';
import { eventLogContract } from './event-log.contract.js';

eventLogContract('memory', async ({ now }) => ({ log: new MemoryEventLog(now) }), { durable: false });
