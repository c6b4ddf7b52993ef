// API keys never rest in clear: not in any file of the database directory after a graceful stop, and
// not in a log line (a `?key=` is redacted as `?token=` is).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ADMIN, killAfterTest, spawnBroker, startBroker, testDir } from '../helpers/broker.js';
import { waitUntil } from '../helpers/wait.js';
import { appWithKey, call } from './support.js';

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? filesUnder(join(dir, e.name)) : [join(dir, e.name)],
  );
}

describe('API keys at rest and in logs', () => {
  it('no file of the database directory holds a key in clear after a graceful stop', async () => {
    const dir = testDir();
    const broker = await startBroker({}, { dir });
    const keys: string[] = [];
    for (let i = 0; i < 3; i++) {
      const { key } = await appWithKey(broker.url, { allowed_origins: [`https://site${i}.example`] });
      keys.push(key);
      expect((await call(broker.url, 'POST', '/count', key, { id: '', platform: 'ios' })).status).toBe(201);
      expect((await call(broker.url, 'GET', '/count', key)).status).toBe(200);
    }
    await broker.stop();
    const files = filesUnder(join(dir, 'db'));
    expect(files.some((f) => f.endsWith('data.mdb'))).toBe(true);
    for (const file of files) {
      const bytes = readFileSync(file);
      for (const key of keys) {
        expect(bytes.includes(Buffer.from(key)), `${key} in ${file}`).toBe(false);
        // Nor its random part alone, in any encoding a store might use.
        expect(bytes.includes(Buffer.from(key.slice(3))), `${key} in ${file}`).toBe(false);
        expect(bytes.includes(Buffer.from(key.slice(3), 'base64url')), `${key} bytes in ${file}`).toBe(false);
      }
    }
  });

  it('a ?key= never reaches a log line', async () => {
    const broker = killAfterTest(await spawnBroker(['--db', join(testDir(), 'db'), '--admin_token', ADMIN]));
    const { key } = await appWithKey(broker.url);
    await call(broker.url, 'POST', `/count?key=${key}`, undefined, { id: '', platform: 'ios' });
    await call(broker.url, 'POST', `/log?id=&platform=ios&%6Bey=${key}`, undefined);
    await waitUntil(() => broker.stdout.filter((l) => l.includes('"url"')).length >= 4, 5000, 'requests logged');
    await broker.kill('SIGTERM');
    const logs = broker.stdout.join('\n') + broker.stderr.join('\n');
    expect(logs).toContain('/count?key=***');
    expect(logs).not.toContain(key);
  });
});
