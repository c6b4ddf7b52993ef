// /verify's answer: the token's expiry and scopes, and a biscuit carrying one right per scope, so that a
// microservice checks the user's rights offline against `key` (biscuit.ts).
import type { Verification } from '../../client/protocol.js';
import type { Principal } from '../identity/principal.js';
import type { BiscuitIssuer } from './biscuit.js';

export interface VerifierOptions {
  /** A Basic request has no token expiry: the answer expires as a token issued now would. */
  jwtExpiry: number;
  now: () => number;
}

export class Verifier {
  constructor(
    private readonly biscuit: BiscuitIssuer,
    private readonly options: VerifierOptions,
  ) {}

  answer(principal: Principal): Verification {
    const scopes = principal.user.scopes ?? [];
    const expiry = principal.exp ?? Math.floor(this.options.now() / 1000) + this.options.jwtExpiry;
    return {
      key: this.biscuit.publicKey,
      token: this.biscuit.mint(scopes),
      expiry,
      username: principal.user.username,
      scopes,
    };
  }
}
