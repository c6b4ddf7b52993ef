// What every UserStore engine must guarantee, run against each engine by its runner (users.lmdb.test.ts,
// users.memory.test.ts). Each test is written to fail on an engine that breaks the rule it names.
import { describe, expect, it } from 'vitest';
import { EmailTakenError, type UserRecord, type UserStore } from '../../src/storage/users.js';

export interface OpenedUsers {
  users: UserStore;
  /** Closes the store and opens the same data again (engines that keep data across a restart). */
  reopen?: () => Promise<UserStore>;
}

/** Opens a fresh, empty store; the runner cleans up after the test. */
export type UserStoreFactory = () => Promise<OpenedUsers>;

let n = 0;
/** A user record with every field set (other store tests build theirs with it too). */
export function user(username: string, fields: Partial<UserRecord> = {}): UserRecord {
  return {
    id: `id-${++n}`,
    username,
    password: '$argon2id$fake',
    totp: 'JBSWY3DPEHPK3PXP',
    revoked: false,
    tenant_name: 't',
    email: null,
    scopes: null,
    data: { nested: { list: [1, 2] } },
    two_factor: null,
    token_version: 0,
    totp_last_step: 0,
    reset: null,
    failures: 0,
    locked_until: 0,
    recovery_codes: [],
    created_at: 1,
    updated_at: 1,
    ...fields,
  };
}

export function userStoreContract(engine: string, open: UserStoreFactory, engineIs: { durable: boolean }): void {
  // A reopen test exists only for engines that keep data across a restart (no test shows up as skipped).
  const durableIt = engineIs.durable ? it : () => {};
  describe(`UserStore contract: ${engine}`, () => {
    it('creates a user once: a second create of the name is refused and changes nothing', async () => {
      const { users } = await open();
      const alice = user('alice', { email: 'a@example.org' });
      expect(await users.create(alice)).toBe(true);
      expect(await users.create(user('alice', { email: 'other@example.org' }))).toBe(false);
      expect(users.get('alice')).toEqual(alice);
      expect(users.list()).toEqual([alice]);
    });

    it('of concurrent creates of one name exactly one wins', async () => {
      const { users } = await open();
      const tries = Array.from({ length: 10 }, (_, i) => user('bob', { email: `${i}@example.org` }));
      const won = await Promise.all(tries.map((u) => users.create(u)));
      expect(won.filter(Boolean)).toHaveLength(1);
      expect(users.get('bob')).toEqual(tries[won.indexOf(true)]);
    });

    it('gets by exact username; unknown names are undefined; a read is a copy', async () => {
      const { users } = await open();
      await users.create(user('Carol'));
      expect(users.get('carol')).toBeUndefined();
      expect(users.get('nobody')).toBeUndefined();
      const read = users.get('Carol')!;
      read.failures = 99;
      (read.data as { nested: { list: number[] } }).nested.list.push(3);
      expect(users.get('Carol')).toMatchObject({ failures: 0, data: { nested: { list: [1, 2] } } });
    });

    it('update is read-modify-write: concurrent updates lose none', async () => {
      const { users } = await open();
      await users.create(user('dave'));
      await Promise.all(
        Array.from({ length: 25 }, () =>
          users.update('dave', (u) => {
            u.failures++;
          }),
        ),
      );
      expect(users.get('dave')?.failures).toBe(25);
    });

    it('update answers the new record, stamps updated_at, and may return a replacement', async () => {
      const { users } = await open();
      await users.create(user('erin'));
      const before = Date.now();
      const changed = await users.update('erin', (u) => {
        u.email = 'e@example.org';
      });
      expect(changed).toMatchObject({ username: 'erin', email: 'e@example.org' });
      expect(changed!.updated_at).toBeGreaterThanOrEqual(before);
      expect(users.get('erin')).toEqual(changed);
      const replaced = await users.update('erin', (u) => ({ ...u, scopes: ['x'] }));
      expect(users.get('erin')).toEqual(replaced);
      expect(users.get('erin')).toMatchObject({ email: 'e@example.org', scopes: ['x'] });
    });

    it('a change that returns false writes nothing and answers the record as it is', async () => {
      const { users } = await open();
      const frank = user('frank');
      await users.create(frank);
      const answer = await users.update('frank', (u) => {
        u.revoked = true;
        return false;
      });
      expect(answer).toEqual(frank);
      expect(users.get('frank')).toEqual(frank);
    });

    it('a change that throws writes nothing', async () => {
      const { users } = await open();
      const gina = user('gina');
      await users.create(gina);
      await expect(
        users.update('gina', (u) => {
          u.revoked = true;
          throw new Error('refused');
        }),
      ).rejects.toThrow('refused');
      expect(users.get('gina')).toEqual(gina);
    });

    it('update of an unknown user answers undefined and creates nothing', async () => {
      const { users } = await open();
      let called = false;
      expect(
        await users.update('ghost', () => {
          called = true;
        }),
      ).toBeUndefined();
      expect(called).toBe(false);
      expect(users.get('ghost')).toBeUndefined();
      expect(users.list()).toEqual([]);
    });

    it('lists every user, by username', async () => {
      const { users } = await open();
      const made = ['mia', 'al', 'zoe', 'bo'].map((name) => user(name));
      for (const u of made) await users.create(u);
      expect(users.list()).toEqual([...made].sort((a, b) => (a.username < b.username ? -1 : 1)));
    });

    it('deletes a user, freeing the name; a re-created name starts past the deleted token version', async () => {
      const { users } = await open();
      await users.create(user('del', { token_version: 4 }));
      expect(await users.delete('del')).toBe(true);
      expect(users.get('del')).toBeUndefined();
      expect(await users.delete('del')).toBe(false);
      expect(await users.create(user('del'))).toBe(true);
      expect(users.get('del')?.token_version).toBe(5);
    });

    it('emails are unique (trimmed, any case): create and update refuse a held one, delete frees it', async () => {
      const { users } = await open();
      expect(await users.create(user('em1', { email: 'Me@X.example' }))).toBe(true);
      expect(users.emailOwner(' me@x.EXAMPLE ')).toBe('em1');
      await expect(users.create(user('em2', { email: 'me@x.example' }))).rejects.toBeInstanceOf(EmailTakenError);
      expect(users.get('em2')).toBeUndefined();
      expect(await users.create(user('em2', { email: 'other@x.example' }))).toBe(true);
      await expect(
        users.update('em2', (u) => {
          u.email = 'ME@x.example';
        }),
      ).rejects.toBeInstanceOf(EmailTakenError);
      expect(users.get('em2')?.email).toBe('other@x.example');
      // A new email frees the old one; deleting frees the held one.
      await users.update('em1', (u) => {
        u.email = 'new@x.example';
      });
      expect(users.emailOwner('me@x.example')).toBeUndefined();
      expect(users.emailOwner('new@x.example')).toBe('em1');
      expect(await users.delete('em1')).toBe(true);
      expect(users.emailOwner('new@x.example')).toBeUndefined();
      expect(await users.create(user('em3', { email: 'NEW@x.example' }))).toBe(true);
    });

    durableIt('keeps users and their changes across a reopen', async () => {
      const opened = await open();
      if (!opened.reopen) throw new Error('a durable engine must offer reopen');
      await opened.users.create(user('hal'));
      const changed = await opened.users.update('hal', (u) => {
        u.token_version = 3;
      });
      const users = await opened.reopen();
      expect(users.get('hal')).toEqual(changed);
      expect(users.list()).toEqual([changed]);
    });
  });
}
