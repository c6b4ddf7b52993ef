// An HTTPS client for the TLS tests that behaves like a real one: it connects to the test name (resolved
// to 127.0.0.1 here, as DNS would on a VPS), verifies the chain against the CAs it is given and checks the
// certificate matches the name. Every request opens a new connection (agent: false), so a test sees the
// certificate the server serves now, and reports which one that was.
import { request, type RequestOptions } from 'node:https';
import type { LookupFunction } from 'node:net';
import type { TLSSocket } from 'node:tls';

const toLoopback: LookupFunction = (_hostname, options, callback) => {
  if ((options as { all?: boolean }).all)
    (callback as unknown as (e: null, a: { address: string; family: number }[]) => void)(null, [
      { address: '127.0.0.1', family: 4 },
    ]);
  else callback(null, '127.0.0.1', 4);
};

export interface Peer {
  serial: string;
  issuer: string;
  subject: string;
}

export interface HttpsAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: any;
  text: string;
  peer: Peer;
}

export interface HttpsOptions {
  ca: string | string[];
  method?: string;
  body?: unknown;
  headers?: Record<string, string>;
  /** Overrides the name sent in SNI and checked against the certificate (default: the URL's host). */
  servername?: string;
}

function peerOf(socket: TLSSocket): Peer {
  const cert = socket.getPeerCertificate();
  // A name field repeated in the certificate comes back as an array: the tests' certificates have one.
  const cn = (value: string | string[] | undefined) => (Array.isArray(value) ? value.join(', ') : (value ?? ''));
  return { serial: cert.serialNumber?.toUpperCase(), issuer: cn(cert.issuer?.CN), subject: cn(cert.subject?.CN) };
}

function requestOptions(_url: string, options: HttpsOptions): RequestOptions {
  const body = options.body === undefined ? undefined : JSON.stringify(options.body);
  return {
    method: options.method ?? (body ? 'POST' : 'GET'),
    ca: options.ca,
    servername: options.servername,
    lookup: toLoopback,
    agent: false,
    headers: { ...(body ? { 'content-length': String(Buffer.byteLength(body)) } : {}), ...options.headers },
  };
}

export function httpsRequest(url: string, options: HttpsOptions): Promise<HttpsAnswer> {
  const body = options.body === undefined ? undefined : JSON.stringify(options.body);
  return new Promise((resolve, reject) => {
    const req = request(url, requestOptions(url, options), (res) => {
      const peer = peerOf(res.socket as TLSSocket);
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        let parsed: any;
        try {
          parsed = text ? JSON.parse(text) : undefined;
        } catch {
          parsed = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed, text, peer });
      });
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error(`timeout: ${url}`)));
    req.end(body);
  });
}

/** An SSE stream over HTTPS that records its frames and the certificate its connection was made with. */
export class HttpsSse {
  events: Array<{ event?: string; id?: string; data: string }> = [];
  status = 0;
  peer: Peer | undefined;
  ended = false;
  readonly opened: Promise<void>;
  private destroy: () => void = () => {};

  constructor(url: string, options: HttpsOptions) {
    this.opened = new Promise((resolve, reject) => {
      const req = request(url, requestOptions(url, options), (res) => {
        this.status = res.statusCode ?? 0;
        this.peer = peerOf(res.socket as TLSSocket);
        resolve();
        let buffer = '';
        let current: { event?: string; id?: string; data: string } = { data: '' };
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buffer += chunk;
          let nl: number;
          while ((nl = buffer.indexOf('\n')) >= 0) {
            const line = buffer.slice(0, nl);
            buffer = buffer.slice(nl + 1);
            if (line === '') {
              if (current.event) this.events.push(current);
              current = { data: '' };
            } else if (line.startsWith('event:')) current.event = line.slice(6);
            else if (line.startsWith('id:')) current.id = line.slice(3);
            else if (line.startsWith('data:')) current.data = line.slice(5);
          }
        });
        res.on('close', () => (this.ended = true));
      });
      req.on('error', (err) => {
        this.ended = true;
        reject(err);
      });
      req.end();
      this.destroy = () => req.destroy();
    });
  }

  async waitForEvents(n: number, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.events.length < n) {
      if (this.ended) throw new Error(`the stream ended with ${this.events.length} events`);
      if (Date.now() > deadline) throw new Error(`timed out with ${this.events.length} events`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  close(): void {
    this.destroy();
  }
}
