// Test helpers for topics: an app backend's own ES256 key (as notiflux deployments have), tokens signed
// with it, and a real `ws` client that records every text frame it gets.
import { type CryptoKey, SignJWT, exportSPKI, generateKeyPair } from 'jose';
import WebSocket from 'ws';
import { waitUntil } from '../helpers/wait.js';

export interface BackendKey {
  privateKey: CryptoKey;
  pem: string;
}

export async function backendKey(): Promise<BackendKey> {
  const pair = await generateKeyPair('ES256', { extractable: true });
  return { privateKey: pair.privateKey, pem: await exportSPKI(pair.publicKey) };
}

export function sign(
  key: BackendKey,
  claims: { topics: string[]; scope: string; sub?: string },
  options: { exp?: number | null } = {},
): Promise<string> {
  const jwt = new SignJWT({ topics: claims.topics, scope: claims.scope })
    .setProtectedHeader({ alg: 'ES256' })
    .setSubject(claims.sub ?? 'tester');
  if (options.exp !== null) jwt.setExpirationTime(options.exp ?? Math.floor(Date.now() / 1000) + 600);
  return jwt.sign(key.privateKey);
}

export class WsClient {
  readonly frames: string[] = [];
  readonly ws: WebSocket;
  closed = false;

  constructor(url: string, protocol?: string) {
    this.ws = new WebSocket(`${url.replace(/^http/, 'ws')}/ws`, protocol ? [protocol] : []);
    this.ws.on('message', (data) => this.frames.push(data.toString()));
    this.ws.on('close', () => {
      this.closed = true;
    });
    this.ws.on('error', () => {});
  }

  open(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.ws.readyState === WebSocket.OPEN) return resolve();
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
  }

  send(text: string): void {
    this.ws.send(text);
  }

  json(): any[] {
    return this.frames.map((f) => JSON.parse(f));
  }

  async waitFor(n: number, what = `${n} frames`, ms = 5000): Promise<void> {
    await waitUntil(() => this.frames.length >= n, ms, what);
  }

  close(): void {
    this.ws.terminate();
  }
}
