// Crash reports (APPS-API.md): grouping by error and the stack's first line, dedupe by count, archive
// (removes and drops later matches), delete, list, size bounds and the per-key rate limit.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { Clock } from '../security/support.js';
import { appWithKey, call, crash, createApp, createKey } from './support.js';

const clock = new Clock();
let broker: TestBroker;
beforeAll(async () => {
  broker = await startBroker({ management_app: 'ops', crash_rate_limit: 0 }, { now: clock.now });
});
afterAll(() => broker.stop());

describe('crash reports', () => {
  it('groups by error and first line, counts identical crashes, keeps distinct ones', async () => {
    const { key } = await appWithKey(broker.url);
    const report = (f: Record<string, unknown> = {}) => call(broker.url, 'POST', '/crash', key, crash(f));
    const first = await report();
    expect(first.status).toBe(201);
    await report();
    await report({ platform: 'android', appVersion: '2.0', version: undefined, extras: { device: 'pixel' } });
    await report({ stack: 'at main (app.js:1)\nat other (app.js:9)' });
    await report({ error: 'RangeError' });
    const listed = await call(broker.url, 'GET', '/crash', key);
    expect(listed.status).toBe(200);
    expect(listed.body).toHaveLength(2);
    const group = listed.body.find((r: { error: string }) => r.error === 'TypeError: x is undefined');
    expect(group).toEqual({
      id: expect.any(String),
      error: 'TypeError: x is undefined',
      firstLine: 'at main (app.js:1)',
      individual: [
        { platform: 'ios', version: '1.0', error: 'TypeError: x is undefined', stack: crash().stack, count: 2 },
        {
          platform: 'android',
          version: '2.0',
          error: 'TypeError: x is undefined',
          stack: crash().stack,
          count: 1,
          extras: { device: 'pixel' },
        },
        {
          platform: 'ios',
          version: '1.0',
          error: 'TypeError: x is undefined',
          stack: 'at main (app.js:1)\nat other (app.js:9)',
          count: 1,
        },
      ],
    });
  });

  it('archive removes matching crashes (per platform or all), drops later ones, deletes emptied reports', async () => {
    const { key } = await appWithKey(broker.url);
    await call(broker.url, 'POST', '/crash', key, crash());
    await call(broker.url, 'POST', '/crash', key, crash({ platform: 'android' }));
    const { stack, error } = crash();
    const archived = await call(broker.url, 'POST', '/crash/archive', key, { error, stack, platform: 'ios' });
    expect(archived.status).toBe(200);
    let listed = (await call(broker.url, 'GET', '/crash', key)).body;
    expect(listed[0].individual.map((c: { platform: string }) => c.platform)).toEqual(['android']);
    // Reported again after the archive: 201, nothing stored.
    expect((await call(broker.url, 'POST', '/crash', key, crash())).status).toBe(201);
    listed = (await call(broker.url, 'GET', '/crash', key)).body;
    expect(listed[0].individual).toHaveLength(1);
    await call(broker.url, 'POST', '/crash/archive', key, { error, stack, platform: 'all' });
    expect((await call(broker.url, 'GET', '/crash', key)).body).toEqual([]);
    await call(broker.url, 'POST', '/crash', key, crash({ platform: 'web' }));
    expect((await call(broker.url, 'GET', '/crash', key)).body).toEqual([]);
  });

  it('deletes a report by id; an unknown id → 404', async () => {
    const { key } = await appWithKey(broker.url);
    await call(broker.url, 'POST', '/crash', key, crash());
    const [report] = (await call(broker.url, 'GET', '/crash', key)).body;
    expect((await call(broker.url, 'DELETE', `/crash/${report.id}`, key)).status).toBe(200);
    expect((await call(broker.url, 'GET', '/crash', key)).body).toEqual([]);
    const again = await call(broker.url, 'DELETE', `/crash/${report.id}`, key);
    expect(again.status).toBe(404);
    expect(again.body.errorCode).toBe('notFound');
  });

  it('management keys list, delete and archive any app through /{appID}/crash', async () => {
    await createApp(broker.url, { app_id: 'ops' });
    const ops = await createKey(broker.url, 'ops', { permissions: {} });
    const { key, app_id } = await appWithKey(broker.url);
    await call(broker.url, 'POST', '/crash', key, crash());
    await call(broker.url, 'POST', '/crash', key, crash({ error: 'Other' }));
    const listed = await call(broker.url, 'GET', `/${app_id}/crash`, ops.key);
    expect(listed.body).toHaveLength(2);
    expect((await call(broker.url, 'DELETE', `/${app_id}/crash/${listed.body[0].id}`, ops.key)).status).toBe(200);
    const { error, stack } = crash({ error: listed.body[1].error });
    expect(
      (await call(broker.url, 'POST', `/${app_id}/crash/archive`, ops.key, { error, stack, platform: 'all' })).status,
    ).toBe(200);
    expect((await call(broker.url, 'GET', '/crash', key)).body).toEqual([]);
  });

  it('bounds sizes: error ≤ 4 KiB, stack ≤ 64 KiB; past 1,000 individuals counts still increase', async () => {
    const { key } = await appWithKey(broker.url);
    const big = await call(broker.url, 'POST', '/crash', key, crash({ error: 'e'.repeat(4097) }));
    expect(big.status).toBe(400);
    expect(big.body.errorCode).toBe('badRequest');
    const okError = await call(broker.url, 'POST', '/crash', key, crash({ error: 'e'.repeat(4096) }));
    expect(okError.status).toBe(201);
    const bigStack = await call(broker.url, 'POST', '/crash', key, crash({ stack: `a\n${'s'.repeat(64 * 1024)}` }));
    expect(bigStack.status).toBe(400);
    const missing = await call(broker.url, 'POST', '/crash', key, { platform: 'ios', version: '1', error: 'e' });
    expect(missing.body.errorCode).toBe('invalidBody');
    const noVersion = await call(broker.url, 'POST', '/crash', key, { platform: 'ios', error: 'e', stack: 's' });
    expect(noVersion.body.errorCode).toBe('invalidBody');
    // 1,001 distinct versions of one crash: the report keeps 1,000; the first still counts.
    const versions = Array.from({ length: 1001 }, (_, i) => String(i));
    for (let i = 0; i < versions.length; i += 50)
      await Promise.all(
        versions
          .slice(i, i + 50)
          .map((version) => call(broker.url, 'POST', '/crash', key, crash({ error: 'Many', version }))),
      );
    await call(broker.url, 'POST', '/crash', key, crash({ error: 'Many', version: '0' }));
    const report = (await call(broker.url, 'GET', '/crash', key)).body.find(
      (r: { error: string }) => r.error === 'Many',
    );
    expect(report.individual).toHaveLength(1000);
    expect(report.individual.find((c: { version: string }) => c.version === '1000')).toBeUndefined();
    expect(report.individual.find((c: { version: string }) => c.version === '0').count).toBe(2);
  });

  it('limits crash reports per key and minute', async () => {
    const limited = await startBroker({ crash_rate_limit: 3 }, { now: clock.now });
    try {
      const { key } = await appWithKey(limited.url);
      const other = await createKey(limited.url, (await createApp(limited.url)).app_id);
      for (let i = 0; i < 3; i++) expect((await call(limited.url, 'POST', '/crash', key, crash())).status).toBe(201);
      const refused = await call(limited.url, 'POST', '/crash', key, crash());
      expect(refused.status).toBe(429);
      expect(refused.body.errorCode).toBe('tooMany');
      expect((await call(limited.url, 'POST', '/crash', other.key, crash())).status).toBe(201);
      clock.advance(60);
      expect((await call(limited.url, 'POST', '/crash', key, crash())).status).toBe(201);
    } finally {
      await limited.stop();
    }
  });
});
