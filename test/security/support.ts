// Shared by test/security and test/fuzz: a controllable clock, raw HTTP over a socket (for what fetch
// refuses to send), and snapshots of everything a rejected request must leave untouched.
import net from 'node:net';
import { ADMIN, type TestBroker } from '../helpers/broker.js';
import { post } from '../helpers/http.js';
import { lmdbDatabase } from '../../src/storage/lmdb/storage.js';

/** A clock the test moves by hand; the broker reads it through startBroker(..., { now }). */
export class Clock {
  constructor(public ms = Date.UTC(2030, 0, 1)) {}
  readonly now = () => this.ms;
  advance(seconds: number): void {
    this.ms += seconds * 1000;
  }
}

export interface RawAnswer {
  status: number;
  head: string;
  headers: Record<string, string>;
  body: string;
  /** ms from connect to the server closing the socket (or to the answer, if it kept it open). */
  elapsedMs: number;
  closed: boolean;
}

/**
 * Sends bytes exactly as given and reads until the server closes the socket or `settleMs` after a
 * complete answer. fetch normalises headers and refuses malformed ones; an attacker does not.
 */
export function rawRequest(
  url: string,
  bytes: string | Buffer,
  options: { timeoutMs?: number; settleMs?: number } = {},
): Promise<RawAnswer> {
  const { port, hostname } = new URL(url);
  const timeoutMs = options.timeoutMs ?? 10_000;
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = net.connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    let settle: NodeJS.Timeout | undefined;
    const finish = (closed: boolean) => {
      clearTimeout(timer);
      clearTimeout(settle);
      socket.destroy();
      const text = Buffer.concat(chunks).toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      const head = end < 0 ? text : text.slice(0, end);
      const headers: Record<string, string> = {};
      for (const line of head.split('\r\n').slice(1)) {
        const colon = line.indexOf(':');
        if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0);
      resolve({
        status,
        head,
        headers,
        body: end < 0 ? '' : text.slice(end + 4),
        elapsedMs: Date.now() - started,
        closed,
      });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.on('connect', () => socket.write(bytes));
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      clearTimeout(settle);
      settle = setTimeout(() => finish(false), options.settleMs ?? 300);
    });
    socket.on('close', () => finish(true));
    socket.on('error', (err) => (chunks.length ? finish(true) : reject(err)));
  });
}

/** Every stored field a rejected request must not change (the lock bookkeeping is meant to change). */
function durable(record: Record<string, unknown>): Record<string, unknown> {
  const { failures: _f, locked_until: _l, updated_at: _u, reset, ...rest } = record;
  const r = reset as { hash: string; expires_at: number } | null;
  return { ...rest, reset: r ? { hash: r.hash, expires_at: r.expires_at } : null };
}

export interface Snapshot {
  publicUsers: unknown;
  records: Record<string, unknown>[];
  events: unknown[];
  meta: unknown[];
}

/**
 * What the API shows (list_users) and what LMDB holds (every user record, event and meta key), so that
 * a comparison catches a change the API would hide (a token_version bump, a consumed recovery code).
 */
export async function snapshot(broker: TestBroker): Promise<Snapshot> {
  const listed = await post(broker.url, '/list_users', { admin_token: ADMIN });
  if (listed.status !== 200) throw new Error(`list_users failed: ${listed.status} ${listed.text}`);
  const db = lmdbDatabase(broker.services.storage);
  const records = Array.from(db.users.getRange({}), ({ value }) =>
    durable(value as unknown as Record<string, unknown>),
  );
  const events = Array.from(db.events.getRange({}), ({ key, value }) => [key, value]);
  const meta = Array.from(db.meta.getRange({}), ({ key, value }) => [key, value]);
  return { publicUsers: listed.body, records, events, meta };
}

/** A base64 Basic credential of any bytes (fetch's helpers only build valid ones). */
export const basicOf = (text: string) => `Basic ${Buffer.from(text, 'utf8').toString('base64')}`;
