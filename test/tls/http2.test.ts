// HTTPS speaks HTTP/2 (ALPN) with an HTTP/1.1 fallback: many streams share one connection (a browser
// allows six HTTP/1.1 connections per host, so the 7th tab's stream could not open), and what holds
// for a stream over HTTP/1.1 holds over h2: the per-user limit, heartbeats, the end at token expiry
// and the cut of a reader that stops reading — which cuts that stream only, not the shared connection.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect, constants, type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SseParser, type SseMessage } from '../../client/sse-parser.js';
import { startBroker, tempDir, type TestBroker } from '../helpers/broker.js';
import { waitUntil } from '../helpers/wait.js';
import { issue, type Issued } from './x509.js';

const ADMIN_TOKEN = 'h2-test-admin-token-that-is-long-enough-0123456789';
const JWT_SECRET = 'h2-test-jwt-secret-that-is-long-enough-0123456789';
const PASSWORD = 'correct horse battery staple';

/** A TLS broker in process on ephemeral ports, with its own certificate for 127.0.0.1. */
async function secureBroker(dir: string, cert: Issued, overrides: Record<string, unknown> = {}): Promise<TestBroker> {
  mkdirSync(join(dir, 'tls'), { recursive: true });
  writeFileSync(join(dir, 'tls', 'cert.pem'), cert.certPem);
  writeFileSync(join(dir, 'tls', 'key.pem'), cert.keyPem, { mode: 0o600 });
  return startBroker(
    {
      secure: true,
      auto_cert: false,
      cert_path: join(dir, 'tls', 'cert.pem'),
      key_path: join(dir, 'tls', 'key.pem'),
      https_port: 0,
      http_port: 0,
      admin_token: ADMIN_TOKEN,
      jwt_secret: JWT_SECRET,
      ...overrides,
    },
    { dir },
  );
}

interface H2Answer {
  status: number;
  body: any;
}

function h2json(
  session: ClientHttp2Session,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<H2Answer> {
  return new Promise((resolve, reject) => {
    const req = session.request({
      ':method': body === undefined ? 'GET' : 'POST',
      ':path': path,
      'content-type': 'application/json',
      ...headers,
    });
    let status = 0;
    let text = '';
    req.on('response', (h) => (status = Number(h[':status'])));
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (text += chunk));
    req.on('end', () => resolve({ status, body: text ? JSON.parse(text) : undefined }));
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

/** One SSE stream on a shared h2 session, parsed with the client's parser. */
class H2Sse {
  readonly messages: SseMessage[] = [];
  comments = 0;
  status = 0;
  headers: Record<string, unknown> = {};
  ended = false;
  reset: number | undefined;
  readonly req: ClientHttp2Stream;

  constructor(session: ClientHttp2Session, jwt: string, { read = true } = {}) {
    this.req = session.request({ ':path': '/sse', authorization: `Bearer ${jwt}` });
    const parser = new SseParser({ onMessage: (m) => this.messages.push(m), onComment: (c) => this.heartbeat(c) });
    this.req.on('response', (h) => {
      this.status = Number(h[':status']);
      this.headers = h;
    });
    this.req.on('data', (chunk: Buffer) => parser.feed(chunk));
    this.req.on('end', () => (this.ended = true));
    this.req.on('close', () => {
      this.ended = true;
      this.reset = this.req.rstCode;
    });
    this.req.on('error', () => {});
    if (!read) this.req.pause();
  }

  /** The stream's first comment is its `:epoch`; the others are heartbeats. */
  private heartbeat(comment: string): void {
    if (!comment.startsWith('epoch ')) this.comments++;
  }

  ids(): number[] {
    return this.messages.filter((m) => m.lastEventId !== '').map((m) => Number(m.lastEventId));
  }

  close(): void {
    this.req.close();
  }
}

describe('HTTP/2 over TLS', () => {
  let dir: string;
  let cert: Issued;
  let broker: TestBroker;
  let session: ClientHttp2Session;
  const users: Record<string, string> = {};

  const login = async (s: ClientHttp2Session, username: string, tenant = 'h2') => {
    const created = await h2json(s, '/create_user', {
      admin_token: ADMIN_TOKEN,
      username,
      password: PASSWORD,
      tenant_name: tenant,
    });
    expect(created.status).toBe(200);
    const answer = await h2json(s, '/login', { username, password: PASSWORD });
    expect(answer.status).toBe(200);
    return answer.body.jwt as string;
  };

  beforeAll(async () => {
    dir = tempDir('broker-h2-');
    cert = issue({ cn: '127.0.0.1', names: ['127.0.0.1', 'localhost'] });
    broker = await secureBroker(dir, cert, { max_streams_per_user: 12, heartbeat: 1 });
    session = connect(broker.url.replace('localhost', '127.0.0.1'), { ca: cert.certPem });
    await new Promise<void>((resolve, reject) => session.once('connect', () => resolve()).once('error', reject));
    users.alice = await login(session, 'alice');
    users.bob = await login(session, 'bob');
  });
  afterAll(async () => {
    session?.destroy();
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('negotiates h2 and carries ten live streams and the inserts on one connection', async () => {
    expect((session.socket as TLSSocket).alpnProtocol).toBe('h2');
    const streams = Array.from({ length: 10 }, () => new H2Sse(session, users.alice));
    await waitUntil(() => streams.every((s) => s.status === 200), 5000, 'ten streams answered');
    expect(streams[0].headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(streams[0].headers.connection).toBeUndefined();
    const inserted = await h2json(
      session,
      '/insert',
      { event: 'h2.hello', data: { n: 1 } },
      { authorization: `Bearer ${users.bob}` },
    );
    expect(inserted.status).toBe(200);
    await waitUntil(
      () => streams.every((s) => s.ids().includes(inserted.body.id)),
      5000,
      'every stream got the insert',
    );
    expect(streams[0].messages.find((m) => m.lastEventId === String(inserted.body.id))).toMatchObject({
      type: 'h2.hello',
      data: '{"n":1}',
    });
    // Heartbeats reach h2 streams too (--heartbeat 1).
    await waitUntil(() => streams.every((s) => s.comments >= 2), 5000, 'heartbeats');
    for (const s of streams) s.close();
    await waitUntil(() => broker.services.hub.streamsOf('alice') === 0, 5000, 'closed streams leave the hub');
  });

  it('bounds the streams one connection may open at once (Node would allow 2^32-1)', async () => {
    await waitUntil(() => session.remoteSettings.maxConcurrentStreams !== undefined, 5000, 'the server settings');
    expect(session.remoteSettings.maxConcurrentStreams).toBe(128);
  });

  it('still answers HTTP/1.1 clients, streams included', async () => {
    const body = await new Promise<{ alpn: string | false | null; version: string; text: string }>(
      (resolve, reject) => {
        const req = httpsRequest(
          `${broker.url}/sse`,
          { ca: cert.certPem, headers: { authorization: `Bearer ${users.alice}` }, agent: false },
          (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => {
              text += chunk;
              if (text.includes('retry:')) {
                resolve({ alpn: (res.socket as TLSSocket).alpnProtocol, version: res.httpVersion, text });
                req.destroy();
              }
            });
          },
        );
        req.on('error', reject);
        req.end();
      },
    );
    expect(body.alpn).toBe(false);
    expect(body.version).toBe('1.1');
    expect(body.text).toContain('retry:2000');
  });

  it('keeps the per-user stream limit over h2', async () => {
    const jwt = await login(session, 'carol');
    const streams = Array.from({ length: 12 }, () => new H2Sse(session, jwt));
    await waitUntil(() => streams.every((s) => s.status === 200), 5000, 'twelve streams');
    const extra = new H2Sse(session, jwt);
    await waitUntil(() => extra.ended, 5000, 'the 13th is refused');
    expect(extra.status).toBe(429);
    for (const s of streams) s.close();
  });

  // 12 MB of inserts over TLS: 30 s ran out on a loaded machine (a cluster test beside it).
  it('cuts a stream whose reader stops reading, and only that stream of the shared connection', {
    timeout: 120_000,
  }, async () => {
    const small = await secureBroker(tempDir('broker-h2-small-'), cert, { max_buffer: 64 * 1024 });
    const s = connect(small.url, { ca: cert.certPem });
    try {
      const jwt = await login(s, 'dave', 'flood');
      const slow = new H2Sse(s, jwt, { read: false });
      const good = new H2Sse(s, jwt);
      await waitUntil(() => small.services.hub.streamsOf('dave') === 2 && good.status === 200, 5000, 'both subscribed');
      const blob = 'x'.repeat(200_000);
      // Each event is 3× --max_buffer, so any reader still holding one when the next comes is cut: the next
      // insert waits for the reading stream to have the last one (under load it may not have drained yet, and
      // it was cut too). The slow stream never reads, so it is cut at its second event.
      for (let i = 0; i < 60; i++) {
        expect(
          (await h2json(s, '/insert', { event: 'big', data: { i, blob } }, { authorization: `Bearer ${jwt}` })).status,
        ).toBe(200);
        await waitUntil(() => good.ids().length === i + 1, 20_000, `event ${i + 1} on the reading stream`);
      }
      expect(good.ids()).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
      await waitUntil(() => small.services.hub.streamsOf('dave') === 1, 5000, 'the slow stream was cut');
      // What was queued before the cut still arrives when the reader resumes, then the stream ends.
      slow.req.resume();
      await waitUntil(() => slow.ended, 5000, 'the client saw the cut');
      expect(slow.ids().length).toBeLessThan(60);
      expect(good.ended).toBe(false);
      expect(s.destroyed).toBe(false);
      good.close();
    } finally {
      s.destroy();
      await small.stop();
      rmSync(small.dir, { recursive: true, force: true });
    }
  });

  it('ends an h2 stream when its token expires', async () => {
    const short = await secureBroker(tempDir('broker-h2-exp-'), cert, { jwt_expiry: 2 });
    const s = connect(short.url, { ca: cert.certPem });
    try {
      const jwt = await login(s, 'erin');
      const { exp } = JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString()) as { exp: number };
      const r = new H2Sse(s, jwt);
      await waitUntil(() => r.status === 200, 5000, 'subscribed');
      await waitUntil(() => r.ended, 5000, 'ended at expiry');
      expect(Date.now()).toBeGreaterThanOrEqual(exp * 1000 - 50);
      // A clean end of this stream (END_STREAM), not a reset, and the connection stays usable.
      expect(r.reset ?? constants.NGHTTP2_NO_ERROR).toBe(constants.NGHTTP2_NO_ERROR);
      expect((await h2json(s, '/')).status).toBe(200);
      // Shutting down does not wait on the idle connection (Node 20 leaves h2 sessions open on close()).
      const stopping = Date.now();
      await short.stop();
      expect(Date.now() - stopping).toBeLessThan(1500);
    } finally {
      s.destroy();
      await short.stop();
      rmSync(short.dir, { recursive: true, force: true });
    }
  });

  it('answers a slow HTTP/1.1 request head over TLS with 408 after 10 s, as on plain HTTP', async () => {
    const started = Date.now();
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = tlsConnect(
        { host: '127.0.0.1', port: Number(new URL(broker.url).port), ca: cert.certPem, ALPNProtocols: ['http/1.1'] },
        () => {
          socket.write('GET / HTTP/1.1\r\nHost: x\r\n');
        },
      );
      let text = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => (text += chunk));
      socket.on('close', () => resolve(text));
      socket.on('error', reject);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
    expect(Date.now() - started).toBeLessThan(13_000);
  }, 20_000);
});
