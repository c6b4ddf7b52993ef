import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type TestBroker } from './helpers/broker.js';

describe('health', () => {
  let broker: TestBroker;
  beforeAll(async () => {
    broker = await startBroker();
  });
  afterAll(() => broker.stop());

  it('answers GET / and HEAD / with 200', async () => {
    expect((await fetch(`${broker.url}/`)).status).toBe(200);
    expect((await fetch(`${broker.url}/`, { method: 'HEAD' })).status).toBe(200);
  });

  it('answers an unknown route with a 404 JSON error', async () => {
    const res = await fetch(`${broker.url}/nope`);
    expect(res.status).toBe(404);
    expect(await res.json()).toHaveProperty('error');
  });
});
