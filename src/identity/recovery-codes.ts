// Two-factor recovery codes: issued ten at a time, shown once, stored as SHA-256, each usable once.
import { randomBytes } from 'node:crypto';
import { sameBytes, sha256Hex } from '../lib/digest.js';

export const RECOVERY_CODE_COUNT = 10;
const ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';

/** 10 characters of a 32-letter alphabet (50 bits), in two groups: easy to read out and type. */
export function newRecoveryCode(): string {
  const bytes = randomBytes(10);
  let code = '';
  for (let i = 0; i < 10; i++) code += ALPHABET[bytes[i] % ALPHABET.length];
  return `${code.slice(0, 5)}-${code.slice(5)}`;
}

/** What is stored and compared: case and separators do not matter to the person typing it. */
export function hashRecoveryCode(code: string): string {
  return sha256Hex(code.toUpperCase().replace(/[^A-Z0-9]/g, ''));
}

/** The stored hash this code matches, compared in constant time; undefined when none. */
export function matchRecoveryCode(stored: readonly string[], code: string): string | undefined {
  const hashed = hashRecoveryCode(code);
  const given = Buffer.from(hashed, 'hex');
  return stored.some((h) => sameBytes(Buffer.from(h, 'hex'), given)) ? hashed : undefined;
}
