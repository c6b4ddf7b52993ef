// Two-factor: the TOTP secret an authenticator app scans (create_qr), recovery codes, and checking the
// second factor of a login. A TOTP step or a recovery code counts once: login.ts consumes it in the
// same transaction that accepts the login.
import { badRequest } from '../errors.js';
import type { UserRecord, UserStore } from '../storage/users.js';
import { qrPngBase64 } from './qr.js';
import { RECOVERY_CODE_COUNT, hashRecoveryCode, matchRecoveryCode, newRecoveryCode } from './recovery-codes.js';
import { matchTotp, otpauthUri } from './totp.js';
import { MAX_ISSUER_CHARS } from './user-fields.js';
import type { Users } from './users.js';

/** The issuer an authenticator app shows when create_qr names none. */
export const DEFAULT_ISSUER = 'Broker';

/** A second factor that matched: the TOTP step it belongs to, or the hash of a recovery code. */
export interface SecondFactor {
  step?: number;
  recovery?: string;
}

export class TwoFactor {
  constructor(
    private readonly store: UserStore,
    private readonly users: Users,
    private readonly now: () => number,
  ) {}

  async createQr(username: string, issuer = DEFAULT_ISSUER): Promise<string> {
    if (issuer.length > MAX_ISSUER_CHARS) throw badRequest(`issuer must be at most ${MAX_ISSUER_CHARS} characters`);
    const user = this.users.get(username);
    return qrPngBase64(otpauthUri(issuer, user.username, user.totp));
  }

  async createRecoveryCodes(name: string): Promise<string[]> {
    const { username } = this.users.get(name);
    const codes = Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode);
    await this.store.update(username, (user) => {
      user.recovery_codes = codes.map(hashRecoveryCode);
    });
    return codes;
  }

  /**
   * Checks the second factor: a TOTP code not used before, or an unused recovery code. `{}` when the user
   * has two-factor off; undefined when the code is missing or wrong.
   */
  check(user: UserRecord, code: string | undefined): SecondFactor | undefined {
    if (!user.two_factor) return {};
    if (!code) return undefined;
    const step = matchTotp(code, user.totp, this.now());
    if (step !== undefined) return step > user.totp_last_step ? { step } : undefined;
    const recovery = matchRecoveryCode(user.recovery_codes, code);
    return recovery === undefined ? undefined : { recovery };
  }
}

/** Whether accepting the factor uses up a TOTP step or a recovery code (a write). */
export function consumes(factor: SecondFactor): boolean {
  return factor.step !== undefined || factor.recovery !== undefined;
}

/**
 * Uses the factor up on `user` (inside the login's transaction, so that one code cannot log in twice
 * concurrently); false when it was used meanwhile.
 */
export function consume(user: UserRecord, factor: SecondFactor): boolean {
  if (factor.step !== undefined && factor.step <= user.totp_last_step) return false;
  if (factor.recovery !== undefined && !user.recovery_codes.includes(factor.recovery)) return false;
  if (factor.step !== undefined) user.totp_last_step = factor.step;
  if (factor.recovery !== undefined) user.recovery_codes = user.recovery_codes.filter((h) => h !== factor.recovery);
  return true;
}
