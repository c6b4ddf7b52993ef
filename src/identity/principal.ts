// Who made a request, once authenticated: a union on `kind`, so that an API key, a topic token or the
// local user (later issues) each become one more member. A route that needs a user checks `kind`; code
// that only passes a principal on (to /verify, to a stream) needs no change when a kind is added.
import type { UserRecord } from '../storage/users.js';

/** A user, by a Bearer JWT (`exp` its expiry, in seconds) or by Basic credentials (`exp` undefined). */
export interface UserPrincipal {
  readonly kind: 'user';
  readonly user: UserRecord;
  readonly exp: number | undefined;
}

/**
 * The one user of --local (identity/local.ts): a request that sent no credentials at all. `exp` is
 * undefined, as for Basic: the session lasts as long as the user is current.
 */
export interface LocalPrincipal {
  readonly kind: 'local';
  readonly user: UserRecord;
  readonly exp: undefined;
}

export type Principal = UserPrincipal | LocalPrincipal;
