// A user's sessions (tokens, Basic streams): whether one opened earlier is still the current one, and the
// signal that ends them all, which the hub answers by closing that user's streams (services.ts).
import { Signal } from '../lib/signal.js';
import type { TokenDenylist } from '../storage/accounts.js';
import type { UserChangeEvent, UserRecord, UserStore } from '../storage/users.js';

/** Why a user's sessions must end now: the hub closes their streams. */
export type SessionEndReason =
  | 'revoked'
  | 'password changed'
  | 'tenant changed'
  | 'two-factor enabled'
  | 'logged out'
  | 'deleted';

export class Sessions {
  /** A user's sessions ended (revoke, password or tenant change): every open stream of theirs must close. */
  readonly sessionEnded = new Signal<{ username: string; reason: SessionEndReason }>();

  constructor(
    private readonly store: UserStore,
    denied?: TokenDenylist,
  ) {
    // Sessions end where the change is applied, not where it was asked for: in a cluster every node
    // applies every user write, so a revoke on one node closes the user's streams on all of them.
    store.changes.subscribe((change) => {
      const reason = endedBy(change);
      if (reason) this.end(change.username, reason);
    });
    // A logout too (a token on the shared deny list): a stream does not know which token opened it.
    denied?.loggedOut?.subscribe(({ username }) => this.end(username, 'logged out'));
  }

  /**
   * Whether a session opened from this record is still the user's current one: same token version
   * (bumped by a password change, a revoke and turning two-factor on), same tenant, not revoked.
   * /sse asks once its stream is registered, so that a change in between cannot leave it open.
   */
  isCurrent(user: UserRecord): boolean {
    const now = this.store.get(user.username);
    return !!now && !now.revoked && now.token_version === user.token_version && now.tenant_name === user.tenant_name;
  }

  end(username: string, reason: SessionEndReason): void {
    this.sessionEnded.emit({ username, reason });
  }
}

/** Why a committed change ends the user's sessions, if it does: the rules isCurrent checks. */
export function endedBy({ before, after }: UserChangeEvent): SessionEndReason | undefined {
  if (!before) return undefined;
  if (!after) return 'deleted';
  if (after.revoked && !before.revoked) return 'revoked';
  if (after.tenant_name !== before.tenant_name) return 'tenant changed';
  if (after.token_version === before.token_version) return undefined;
  if (after.password !== before.password) return 'password changed';
  if (after.two_factor && !before.two_factor) return 'two-factor enabled';
  return 'logged out';
}
