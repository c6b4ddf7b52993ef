// The log's epoch on the wire: every stream announces it (Broker-Epoch header and a first `:epoch`
// comment), /events answers carry the header, and a resume that sends an epoch other than the log's
// gets `event:reset` and the snapshot, even when its id is one this log has issued.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EPOCH_HEADER, EPOCH_PARAM, RESET_EVENT } from '../../client/protocol.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { bearer, get, makeUser, post, request } from '../helpers/http.js';
import { openSse, type SseReader } from '../helpers/sse.js';

let broker: TestBroker;
let base: string;
let epoch: string;
const readers: SseReader[] = [];
const sse = (...args: Parameters<typeof openSse>) => {
  const r = openSse(...args);
  readers.push(r);
  return r;
};

beforeAll(async () => {
  broker = await startBroker({ max_streams_per_user: 64 });
  base = broker.url;
  epoch = broker.services.log.epoch;
});
afterAll(async () => {
  for (const r of readers) r.close();
  await broker.stop();
});

/** A user whose tenant holds a=1, b=2, a=3, b=4 (the snapshot: ids 3 and 4). */
async function history(tenant: string): Promise<string> {
  const { jwt } = await makeUser(base, { tenant_name: tenant });
  for (const [i, event] of ['a', 'b', 'a', 'b'].entries())
    expect((await post(base, '/insert', { event, data: i + 1 }, bearer(jwt))).status).toBe(200);
  return jwt;
}

const ids = (r: SseReader) => r.events.map((f) => Number(f.id));

describe('the epoch is visible to clients', () => {
  it('in the Broker-Epoch header and a first `:epoch` comment right after retry:', async () => {
    expect(epoch).toMatch(/^[A-Za-z0-9_-]{11}$/);
    const { jwt } = await makeUser(base, { tenant_name: 'epoch-announce' });
    const r = sse(base, jwt);
    await r.waitFor((x) => x.epoch !== undefined);
    expect(r.headers!.get(EPOCH_HEADER)).toBe(epoch);
    expect(r.epoch).toBe(epoch);
    // The bytes themselves: retry, then the epoch comment, in the stream's first block.
    const res = await fetch(`${base}/sse`, { headers: bearer(jwt) });
    const reader = res.body!.getReader();
    let text = '';
    while (!text.includes('\n\n')) text += new TextDecoder().decode((await reader.read()).value);
    await reader.cancel();
    expect(text.startsWith(`retry:2000\n:epoch ${epoch}\n\n`)).toBe(true);
  });

  it('on GET /events answers, and browsers may read it and send it (CORS)', async () => {
    const { jwt } = await makeUser(base, { tenant_name: 'epoch-events' });
    const events = await get(base, '/events', { ...bearer(jwt), origin: 'https://app.example' });
    expect(events.status).toBe(200);
    expect(events.headers.get(EPOCH_HEADER)).toBe(epoch);
    expect(events.headers.get('access-control-expose-headers')?.toLowerCase()).toContain(EPOCH_HEADER);
    const preflight = await request(`${base}/sse`, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://app.example',
        'access-control-request-method': 'GET',
        'access-control-request-headers': `authorization,last-event-id,${EPOCH_HEADER}`,
      },
    });
    expect(preflight.status).toBeLessThan(300);
    expect(preflight.headers.get('access-control-allow-headers')?.toLowerCase()).toContain(EPOCH_HEADER);
  });
});

describe('a resume with an epoch', () => {
  it(`resumes normally when it is the log's (${EPOCH_PARAM}= or the header)`, async () => {
    const jwt = await history('epoch-same');
    const byParam = sse(base, jwt, { lastEventId: 2, query: `${EPOCH_PARAM}=${epoch}` });
    const byHeader = sse(base, jwt, { lastEventId: 2, headers: { [EPOCH_HEADER]: epoch } });
    for (const r of [byParam, byHeader]) {
      await r.waitForEvents(2);
      expect(ids(r)).toEqual([3, 4]);
      expect(r.events.some((f) => f.event === RESET_EVENT)).toBe(false);
    }
  });

  it('gets reset and the snapshot when it is another epoch, even with an id within the log', async () => {
    const jwt = await history('epoch-other');
    // Id 1 is one this log issued: without the epoch, a resume after it would get 2, 3, 4.
    const byParam = sse(base, jwt, { lastEventId: 1, query: `${EPOCH_PARAM}=someOtherEpoch` });
    const byHeader = sse(base, jwt, { lastEventId: 1, headers: { [EPOCH_HEADER]: 'someOtherEpoch' } });
    for (const r of [byParam, byHeader]) {
      await r.waitForEvents(3);
      expect(r.events[0].event).toBe(RESET_EVENT);
      expect(ids(r).slice(1)).toEqual([3, 4]);
      expect(r.events.map((f) => `${f.event}=${f.data}`).slice(1)).toEqual(['a=3', 'b=4']);
    }
  });

  it("without one, today's rules apply (older clients send only Last-Event-ID)", async () => {
    const jwt = await history('epoch-absent');
    const r = sse(base, jwt, { lastEventId: 1 });
    await r.waitForEvents(3);
    expect(ids(r)).toEqual([2, 3, 4]);
    const ahead = sse(base, jwt, { lastEventId: 99 });
    await ahead.waitForEvents(3);
    expect(ahead.events[0].event).toBe(RESET_EVENT);
  });
});
