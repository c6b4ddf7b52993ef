// The admin token that admin routes carry in their body: compared in constant time, through digests of
// equal length, so that neither its content nor its length leaks through timing.
import { sameSecret } from '../lib/digest.js';

export function isAdminToken(given: string, expected: string): boolean {
  return sameSecret(given, expected);
}
