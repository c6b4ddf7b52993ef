// broker/client's subscribeTopics against the real server: messages of several topics, typed, and a
// resume across the token's expiry (a fresh token from the function) with no gap and no duplicate.
import { afterEach, describe, expect, it } from 'vitest';
import { subscribeTopics, type TopicMessage } from '../../client/index.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { post } from '../helpers/http.js';
import { waitUntil } from '../helpers/wait.js';
import { backendKey, sign } from '../topics/support.js';

let broker: TestBroker | undefined;
afterEach(async () => {
  await broker?.stop();
  broker = undefined;
});

describe('subscribeTopics', () => {
  it('gets every message of its topics across a token expiry, in order, once', async () => {
    const key = await backendKey();
    broker = await startBroker({ topic_public_key: key.pem });
    const url = broker.url;
    const pub = await sign(key, { topics: ['a', 'b', 'c'], scope: 'broadcast' });
    let tokens = 0;
    const got: TopicMessage[] = [];
    const first = await post(url, '/broadcast', { topic: 'a', message: 'before', token: pub });
    const sub = subscribeTopics({
      url,
      topics: ['a', 'b'],
      after: first.body.id - 1,
      token: () => {
        tokens++;
        return sign(key, { topics: ['a', 'b'], scope: 'subscribe' }, { exp: Math.floor(Date.now() / 1000) + 2 });
      },
      onMessage: (m) => got.push(m),
    });
    try {
      const sent: TopicMessage[] = [{ topic: 'a', id: first.body.id, message: 'before' }];
      const until = Date.now() + 4500;
      for (let i = 0; Date.now() < until; i++) {
        const topic = ['a', 'b', 'c'][i % 3];
        const { body } = await post(url, '/broadcast', { topic, message: `m${i}`, token: pub });
        if (topic !== 'c') sent.push({ topic, id: body.id, message: `m${i}` });
        await new Promise((r) => setTimeout(r, 20));
      }
      await waitUntil(() => got.length >= sent.length, 10_000, 'everything');
      expect(got).toEqual(sent);
      expect(tokens).toBeGreaterThan(1);
      expect(sub.lastId).toBe(sent[sent.length - 1].id);
    } finally {
      sub.close();
    }
  }, 30_000);
});
