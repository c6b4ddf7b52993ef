// How much of an /sse connect or an /insert is token verification? jose's jwtVerify with the secret as a
// Uint8Array (what src/tokens/tokens.ts did before) against the same with a CryptoKey imported once, and
// against a synchronous node:crypto HMAC check of the same HS256 token (same claim checks, constant-time
// compare), which is what src/tokens/tokens.ts does now (jose only signs there).
//   node dist/bench/experiments/jwt-verify.js
import { createHmac, timingSafeEqual, webcrypto } from 'node:crypto';
import { SignJWT, jwtVerify } from 'jose';

const secret = new TextEncoder().encode('bench-jwt-secret-0123456789abcdef');
const now = Math.floor(Date.now() / 1000);
const jwt = await new SignJWT({ tv: 0 })
  .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
  .setSubject('bench')
  .setIssuer('Broker')
  .setIssuedAt(now)
  .setExpirationTime(now + 3600)
  .sign(secret);
const cryptoKey = await webcrypto.subtle.importKey('raw', secret, { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);

function verifySync(token: string): { sub: string; exp: number } | undefined {
  const dot1 = token.indexOf('.');
  const dot2 = token.indexOf('.', dot1 + 1);
  if (dot1 < 0 || dot2 < 0 || token.indexOf('.', dot2 + 1) >= 0) return undefined;
  const header = JSON.parse(Buffer.from(token.slice(0, dot1), 'base64url').toString('utf8')) as { alg?: string };
  if (header.alg !== 'HS256') return undefined;
  const expected = createHmac('sha256', secret).update(token.slice(0, dot2)).digest();
  const given = Buffer.from(token.slice(dot2 + 1), 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
  const claims = JSON.parse(Buffer.from(token.slice(dot1 + 1, dot2), 'base64url').toString('utf8')) as {
    sub?: unknown;
    exp?: unknown;
    iss?: unknown;
    iat?: unknown;
  };
  if (
    claims.iss !== 'Broker' ||
    typeof claims.sub !== 'string' ||
    typeof claims.exp !== 'number' ||
    typeof claims.iat !== 'number'
  )
    return undefined;
  if (claims.exp <= Math.floor(Date.now() / 1000)) return undefined;
  return { sub: claims.sub, exp: claims.exp };
}

async function measure(name: string, n: number, concurrency: number, fn: () => Promise<unknown> | unknown) {
  for (let i = 0; i < 200; i++) await fn();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let done = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (done < n) {
        done++;
        await fn();
      }
    }),
  );
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  console.log(
    `${name.padEnd(48)} ${((wall * 1000) / n).toFixed(1).padStart(7)} µs wall  ` +
      `${((cpu.user + cpu.system) / n).toFixed(1).padStart(7)} µs CPU per verify (all threads)`,
  );
}

const opts = { algorithms: ['HS256'], issuer: 'Broker', requiredClaims: ['sub', 'exp', 'iat'] };
for (const c of [1, 64]) {
  console.log(`concurrency ${c}:`);
  await measure('jose jwtVerify, Uint8Array secret (src before)', 20_000, c, () => jwtVerify(jwt, secret, opts));
  await measure('jose jwtVerify, CryptoKey imported once', 20_000, c, () => jwtVerify(jwt, cryptoKey, opts));
  await measure('node:crypto createHmac, synchronous (src today)', 20_000, c, () => verifySync(jwt));
}
