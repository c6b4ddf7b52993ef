// The accounts' stores (storage/accounts.ts) in LMDB: identity links and the token deny list, across a
// reopen as a restart would.
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { MAX_LINKS_PER_USER } from '../../src/storage/accounts.js';
import { openStorage, type Storage } from '../../src/storage/storage.js';
import { testDir } from '../helpers/broker.js';

function open() {
  const dir = join(testDir(), 'db');
  const box = { storage: openStorage(dir) as Storage };
  onTestFinished(() => box.storage.close());
  return {
    box,
    async reopen() {
      await box.storage.close();
      box.storage = openStorage(dir);
    },
  };
}

describe('LMDB identity links', () => {
  it("links by (issuer, subject), lists a user's links, unlinks by issuer, and survives a reopen", async () => {
    const { box, reopen } = open();
    const links = () => box.storage.identityLinks;
    const at = 1000;
    expect(await links().link({ issuer: 'https://a', subject: 's1', username: 'ann', linked_at: at })).toBe(true);
    expect(await links().link({ issuer: 'https://a', subject: 's1', username: 'bob', linked_at: at })).toBe(false);
    expect(await links().link({ issuer: 'https://b', subject: 's1', username: 'ann', linked_at: at })).toBe(true);
    // A user named as another's prefix sees none of its links.
    expect(await links().link({ issuer: 'https://a', subject: 's2', username: 'an', linked_at: at })).toBe(true);
    await reopen();
    expect(links().find('https://a', 's1')).toBe('ann');
    expect(links().find('https://a', 's9')).toBeUndefined();
    expect(links().find('x'.repeat(5000), 's1')).toBeUndefined();
    expect(
      links()
        .ofUser('ann')
        .map((l) => l.issuer),
    ).toEqual(['https://a', 'https://b']);
    expect(links().ofUser('an')).toHaveLength(1);
    expect(await links().unlink('ann', 'https://a')).toBe(1);
    expect(links().find('https://a', 's1')).toBeUndefined();
    expect(
      links()
        .ofUser('ann')
        .map((l) => l.issuer),
    ).toEqual(['https://b']);
    expect(await links().unlink('ann', 'https://a')).toBe(0);
  });

  it('a user holds at most MAX_LINKS_PER_USER links', async () => {
    const { box } = open();
    for (let i = 0; i < MAX_LINKS_PER_USER; i++)
      expect(await box.storage.identityLinks.link({ issuer: 'i', subject: `s${i}`, username: 'u', linked_at: 0 })).toBe(
        true,
      );
    expect(
      await box.storage.identityLinks.link({ issuer: 'i', subject: 'one more', username: 'u', linked_at: 0 }),
    ).toBe(false);
  });
});

describe('LMDB token deny list', () => {
  it('denies by (hash, exp) until pruned after the expiry, across a reopen', async () => {
    const { box, reopen } = open();
    await box.storage.deniedTokens.add('h1', 100);
    await box.storage.deniedTokens.add('h2', 200);
    await reopen();
    const denied = box.storage.deniedTokens;
    expect(denied.has('h1', 100)).toBe(true);
    expect(denied.has('h1', 101)).toBe(false);
    expect(await denied.prune(150, 10)).toBe(1);
    expect(denied.has('h1', 100)).toBe(false);
    expect(denied.has('h2', 200)).toBe(true);
    expect(await denied.prune(150, 10)).toBe(0);
  });
});
