// The accounts' stores in LMDB (storage/accounts.ts): identity links in two trees, one by (issuer,
// subject) for the login's lookup and one by (username, issuer, subject) for get_user and unlink, written
// in one transaction; denied tokens keyed by [exp, hash], so that pruning reads the expired ones in order.
import { type IdentityLink, type IdentityLinkStore, MAX_LINKS_PER_USER, type TokenDenylist } from '../accounts.js';
import type { Database } from './database.js';
import { classified } from './errors.js';

/** lmdb-js refuses keys over 1978 bytes: an issuer and a subject each fit well below. */
const MAX_PART_BYTES = 600;
const fits = (...parts: string[]) => parts.every((p) => Buffer.byteLength(p) <= MAX_PART_BYTES);

export class LmdbIdentityLinks implements IdentityLinkStore {
  constructor(private readonly db: Database) {}

  find(issuer: string, subject: string): string | undefined {
    if (!fits(issuer, subject)) return undefined;
    return this.db.identity_links.get([issuer, subject])?.username;
  }

  async link(link: IdentityLink): Promise<boolean> {
    if (!fits(link.issuer, link.subject, link.username)) return false;
    return classified(() =>
      this.db.root.transaction(() => {
        if (this.db.identity_links.doesExist([link.issuer, link.subject])) return false;
        if (this.ofUser(link.username).length >= MAX_LINKS_PER_USER) return false;
        void this.db.identity_links.put([link.issuer, link.subject], {
          username: link.username,
          linked_at: link.linked_at,
        });
        void this.db.user_identities.put([link.username, link.issuer, link.subject], link.linked_at);
        return true;
      }),
    );
  }

  ofUser(username: string): IdentityLink[] {
    if (!fits(username)) return [];
    const range = this.db.user_identities.getRange({
      start: [username],
      end: [username, '\uffff'],
      limit: MAX_LINKS_PER_USER,
    });
    return Array.from(range, ({ key, value }) => ({ issuer: key[1], subject: key[2], username, linked_at: value }));
  }

  async unlink(username: string, issuer: string): Promise<number> {
    const links = this.ofUser(username).filter((l) => l.issuer === issuer);
    if (links.length === 0) return 0;
    return classified(() =>
      this.db.root.transaction(() => {
        for (const l of links) {
          void this.db.identity_links.remove([l.issuer, l.subject]);
          void this.db.user_identities.remove([l.username, l.issuer, l.subject]);
        }
        return links.length;
      }),
    );
  }
}

export class LmdbTokenDenylist implements TokenDenylist {
  constructor(private readonly db: Database) {}

  has(hash: string, exp: number): boolean {
    return this.db.denied_tokens.doesExist([exp, hash]);
  }

  async add(hash: string, exp: number): Promise<void> {
    await classified(() => this.db.denied_tokens.put([exp, hash], 1));
  }

  page(after: { hash: string; exp: number } | undefined, limit: number): { hash: string; exp: number }[] {
    const range = after === undefined ? { limit } : { start: [after.exp, `${after.hash}\u0000`], limit };
    return Array.from(this.db.denied_tokens.getKeys(range), ([exp, hash]) => ({ hash, exp }));
  }

  async prune(nowSeconds: number, limit: number): Promise<number> {
    const keys = Array.from(this.db.denied_tokens.getKeys({ end: [nowSeconds, '\uffff'], limit }));
    if (keys.length === 0) return 0;
    return classified(() =>
      this.db.root.transaction(() => {
        for (const key of keys) void this.db.denied_tokens.remove(key);
        return keys.length;
      }),
    );
  }
}
