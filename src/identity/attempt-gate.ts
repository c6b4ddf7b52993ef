// Password checks in flight per account. A check in flight may still become a failure, so together
// with the recorded failures it must not pass the next lock boundary: a burst of parallel wrong guesses
// then gets at most the 3 checks the lock allows. Attempts beyond that wait for one in flight to end
// (rather than fail), so that several devices logging in at once with the right password all succeed.
import { tooMany } from '../errors.js';
import { FAILURES_PER_LOCK, type LockState } from './lockout.js';

interface Gate {
  inFlight: number;
  waiters: Array<() => void>;
}

/** More waiting than this on one account is an attack, not a user with several devices. */
const MAX_WAITING = 64;

export class AttemptGate {
  private readonly gates = new Map<string, Gate>();

  constructor(private readonly now: () => number) {}

  /**
   * Resolves with a release function once a check may run; `state` is read afresh on every try, so a
   * failure recorded meanwhile (and the lock it set) is seen. Throws 429 when the account is locked.
   * Call release only after the attempt's outcome is recorded.
   */
  async enter(username: string, state: () => LockState): Promise<() => void> {
    for (;;) {
      const { failures, locked_until } = state();
      const now = this.now();
      if (locked_until > now) throw tooMany('too many failed logins: try again later', (locked_until - now) / 1000);
      let gate = this.gates.get(username);
      if (!gate) this.gates.set(username, (gate = { inFlight: 0, waiters: [] }));
      const left = FAILURES_PER_LOCK - (failures % FAILURES_PER_LOCK);
      if (gate.inFlight < left) {
        gate.inFlight++;
        return this.releaser(username, gate);
      }
      if (gate.waiters.length >= MAX_WAITING) throw tooMany('too many attempts in progress for this account', 1);
      await new Promise<void>((resolve) => gate.waiters.push(resolve));
    }
  }

  private releaser(username: string, gate: Gate): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      gate.inFlight--;
      // Every waiter re-reads the state: the outcome just recorded decides who may go on.
      const waiters = gate.waiters.splice(0);
      if (gate.inFlight === 0 && waiters.length === 0) this.gates.delete(username);
      for (const wake of waiters) wake();
    };
  }
}
