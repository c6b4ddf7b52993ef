// Password hashing (argon2id, OWASP parameters) and strength checks (zxcvbn).
import argon2 from 'argon2';
import zxcvbn from 'zxcvbn';
import { badRequest, busy } from '../errors.js';
import { Semaphore } from '../lib/semaphore.js';

export const ARGON2_OPTIONS = { type: argon2.argon2id, memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;

/**
 * argon2 runs on libuv's thread pool. Unbounded, a login storm fills the pool and starves every other
 * use of it (file I/O, DNS) and queues unbounded work; two at a time on two cores keeps the event loop
 * free, and a long queue answers 503 instead of growing without end.
 */
export const HASH_CONCURRENCY = 2;
const hashing = new Semaphore(HASH_CONCURRENCY, 2000);

async function bounded<T>(work: () => Promise<T>): Promise<T> {
  const release = await hashing.acquire().catch(() => {
    throw busy('too many logins in progress, try again');
  });
  try {
    return await work();
  } finally {
    release();
  }
}

export function hashPassword(password: string): Promise<string> {
  return bounded(() => argon2.hash(password, ARGON2_OPTIONS));
}

/** A hash of a random password, verified against when the user is unknown so both paths cost the same. */
let dummyHash: Promise<string> | undefined;

export async function verifyPassword(hash: string | undefined, password: string): Promise<boolean> {
  dummyHash ??= argon2.hash('not a password of anyone', ARGON2_OPTIONS);
  const target = hash ?? (await dummyHash);
  const ok = await bounded(() => argon2.verify(target, password).catch(() => false));
  return hash !== undefined && ok;
}

/** zxcvbn's cost grows with length (seconds at 1,000 characters): score only the first 100. */
export function checkStrength(password: string, userInputs: string[]): void {
  const result = zxcvbn(password.slice(0, 100), userInputs);
  if (result.score >= 3) return;
  const hints = [result.feedback.warning, ...result.feedback.suggestions].filter(Boolean).join(' ');
  throw badRequest(`password is too weak${hints ? `: ${hints}` : ''}`);
}
