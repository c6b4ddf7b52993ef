// Reading a JWT's claims without verifying it: the client only needs `exp` to renew the token before
// the broker ends streams at that instant. Trust stays with the server, which verifies every request.

export interface TokenTimes {
  /** Seconds since the epoch. */
  exp?: number;
  iat?: number;
}

function base64UrlDecode(part: string): string {
  const base64 = part.replace(/-/g, '+').replace(/_/g, '/');
  const padded = base64 + '='.repeat((4 - (base64.length % 4)) % 4);
  const binary = atob(padded);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return new TextDecoder().decode(bytes);
}

/** `exp` and `iat` of a JWT, or {} for anything that is not one (an opaque token never expires here). */
export function tokenTimes(token: string | undefined): TokenTimes {
  if (!token) return {};
  const parts = token.split('.');
  if (parts.length !== 3) return {};
  try {
    const claims = JSON.parse(base64UrlDecode(parts[1])) as Record<string, unknown>;
    return {
      exp: typeof claims.exp === 'number' ? claims.exp : undefined,
      iat: typeof claims.iat === 'number' ? claims.iat : undefined,
    };
  } catch {
    return {};
  }
}

/** The `sub` claim (the broker puts the username there), or undefined. */
export function tokenSubject(token: string | undefined): string | undefined {
  const parts = token?.split('.') ?? [];
  if (parts.length !== 3) return undefined;
  try {
    const sub = (JSON.parse(base64UrlDecode(parts[1])) as Record<string, unknown>).sub;
    return typeof sub === 'string' ? sub : undefined;
  } catch {
    return undefined;
  }
}
