// The NATS side of a cluster node: the connection (URLs with their credentials, a .creds file, a CA) and
// the one JetStream stream that holds every write (messages.ts), made by whichever node starts first.
import { readFileSync } from 'node:fs';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { connect, credsAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { DatabaseOpenError } from '../errors.js';
import { writeSubject } from './messages.js';

export interface NatsOptions {
  /** Comma-separated nats:// URLs; user:password@ or a token@ in a URL authenticates. */
  urls: string;
  /** A .creds file (JWT and NKey seed) for NATS accounts. */
  credsFile?: string;
  /** A CA file: the servers' TLS certificates are checked against it. */
  tlsCaFile?: string;
  /** JetStream replicas of the stream (1 with a single NATS server). */
  replicas: number;
  /** The stream's name (tests give each cluster its own). */
  stream?: string;
}

export const DEFAULT_STREAM = 'BROKER';

export interface NatsLink {
  nc: NatsConnection;
  js: JetStreamClient;
  /** For quick questions (the stream's last sequence): a short timeout, since a barrier waits on it. */
  jsm: JetStreamManager;
  stream: string;
  /** When the stream was made: a read model applied from another stream refuses to serve this one. */
  created: string;
}

function servers(urls: string): { servers: string[]; user?: string; pass?: string; token?: string } {
  const list = urls
    .split(',')
    .map((u) => u.trim())
    .filter(Boolean);
  if (list.length === 0) throw new DatabaseOpenError('--nats lists no URL');
  let user: string | undefined;
  let pass: string | undefined;
  let token: string | undefined;
  const plain = list.map((raw) => {
    let url: URL;
    try {
      url = new URL(raw.includes('://') ? raw : `nats://${raw}`);
    } catch {
      throw new DatabaseOpenError(`--nats: not a URL: ${raw.replace(/\/\/[^@/]*@/, '//***@')}`);
    }
    if (url.username && url.password) {
      user = decodeURIComponent(url.username);
      pass = decodeURIComponent(url.password);
    } else if (url.username) token = decodeURIComponent(url.username);
    return `${url.protocol}//${url.host}`;
  });
  return { servers: plain, user, pass, token };
}

export async function connectNats(options: NatsOptions): Promise<NatsLink> {
  const { servers: list, user, pass, token } = servers(options.urls);
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: list,
      ...(user === undefined ? {} : { user, pass }),
      ...(token === undefined ? {} : { token }),
      ...(options.credsFile ? { authenticator: credsAuthenticator(readFileSync(options.credsFile)) } : {}),
      ...(options.tlsCaFile ? { tls: { caFile: options.tlsCaFile } } : {}),
      name: 'broker',
      // A node keeps trying for ever: its reads keep working meanwhile, its writes answer 503.
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
      // A server that dies without closing its socket (a machine gone) is found out in 2-3 s, not after the
      // default 2 minutes: a ping a second costs nothing, and writes resume within 5 s of such a death.
      pingInterval: 1_000,
      maxPingOut: 2,
      timeout: 10_000,
    });
  } catch (err) {
    throw new DatabaseOpenError(`cannot connect to NATS (${list.join(', ')}): ${(err as Error).message}`);
  }
  try {
    const stream = options.stream ?? DEFAULT_STREAM;
    const jsm = await jetstreamManager(nc, { timeout: 2_000 });
    const created = await ensureStream(jsm, stream, options.replicas);
    return { nc, js: jetstream(nc, { timeout: 4_000 }), jsm, stream, created };
  } catch (err) {
    await nc.close().catch(() => {});
    if (err instanceof DatabaseOpenError) throw err;
    throw new DatabaseOpenError(`NATS JetStream is not usable: ${(err as Error).message}`);
  }
}

/** The stream, made if missing (several nodes may race: an identical config is no conflict). */
async function ensureStream(jsm: JetStreamManager, name: string, replicas: number): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    try {
      return (await jsm.streams.info(name)).created;
    } catch (err) {
      if (!/not found/i.test((err as Error).message) && attempt >= 20) throw err;
      if (!/not found/i.test((err as Error).message)) {
        // JetStream may still be electing its leaders just after the servers started.
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
    }
    try {
      return (
        await jsm.streams.add({
          name,
          subjects: [writeSubject(name)],
          storage: StorageType.File,
          retention: RetentionPolicy.Limits,
          num_replicas: replicas,
          // The log is the truth: nothing ages out of it (retention is a message applied by every node).
          max_msgs: -1,
          max_bytes: -1,
          max_age: 0,
          duplicate_window: 120 * 1_000_000_000,
        })
      ).created;
    } catch (err) {
      if (attempt >= 20) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}
