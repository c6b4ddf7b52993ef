// The accounts' stores beside the users (identity/oidc/, identity/self-service.ts): external identities
// linked to a user, and the tokens a user logged out of. LMDB implements them (lmdb/accounts.ts).
import type { Signal } from '../lib/signal.js';

/** One external identity (an OpenID provider's user) linked to a Broker user. */
export interface IdentityLink {
  /** The provider's issuer URL, exactly as its ID tokens say it. */
  issuer: string;
  /** The provider's stable id of the user (`sub`): never the email, which may change. */
  subject: string;
  username: string;
  /** ms since epoch */
  linked_at: number;
}

/** A user has at most this many links (get_user lists them all). */
export const MAX_LINKS_PER_USER = 16;

export interface IdentityLinkStore {
  /** The username this identity is linked to. Synchronous: a local read. */
  find(issuer: string, subject: string): string | undefined;
  /** false when the identity is linked already, or the user has MAX_LINKS_PER_USER links. */
  link(link: IdentityLink): Promise<boolean>;
  /** The user's links, at most MAX_LINKS_PER_USER. */
  ofUser(username: string): IdentityLink[];
  /** Removes the user's links to this issuer; how many went. */
  unlink(username: string, issuer: string): Promise<number>;
}

/**
 * Tokens ended by POST /logout before their expiry, by the sha256 of the token and its `exp`: an entry
 * is needed only until then, so prune() keeps the list as small as the tokens still alive.
 */
export interface TokenDenylist {
  /** Synchronous: a local read on every Bearer request. */
  has(hash: string, exp: number): boolean;
  /** `username`: whose token it is, so that every cluster node ends that user's sessions (`loggedOut`). */
  add(hash: string, exp: number, username?: string): Promise<void>;
  /**
   * A cluster node's: a logout applied here, from any node (identity/sessions.ts ends the user's sessions).
   * One node has none: the logout ends the sessions itself, being the only node.
   */
  readonly loggedOut?: Signal<{ username: string }>;
  /** At most `limit` entries ordered by exp and hash, after the given one (a page of them: `broker migrate`). */
  page(after: { hash: string; exp: number } | undefined, limit: number): { hash: string; exp: number }[];
  /** Drops the entries of tokens expired at `nowSeconds`, at most `limit` of them; how many went. */
  prune(nowSeconds: number, limit: number): Promise<number>;
}
