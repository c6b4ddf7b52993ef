// Connections a client may hold: an idle keep-alive connection is closed after --keep_alive_timeout
// (10 s by default; fastify's own default is 72 s), and one address holds at most
// --max_connections_per_ip open connections (trusted proxies aside): more are closed at once.
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { waitUntil } from '../helpers/wait.js';

let broker: TestBroker | undefined;
afterEach(async () => {
  await broker?.stop();
  broker = undefined;
});

interface Connection {
  socket: net.Socket;
  /** Everything the server sent so far. */
  received: () => string;
  closed: Promise<number>;
}

/** A keep-alive connection from `localAddress` that sends one `GET /` once connected. */
function connect(url: string, localAddress = '127.0.0.1'): Connection {
  const { hostname, port } = new URL(url);
  const started = Date.now();
  const socket = net.connect({ host: hostname, port: Number(port), localAddress });
  let text = '';
  socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
  socket.on('error', () => {});
  socket.on('connect', () => socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now() - started)));
  return { socket, received: () => text, closed };
}

/** ms until the server closed the connection, or Infinity if it still holds it after `ms`. */
const closedWithin = (c: Connection, ms: number) =>
  Promise.race([c.closed, new Promise<number>((r) => setTimeout(() => r(Infinity), ms))]);

const answered = (c: Connection) => /^HTTP\/1\.1 200 /.test(c.received());

async function openAnswered(url: string, count: number, localAddress: string): Promise<Connection[]> {
  const connections = Array.from({ length: count }, () => connect(url, localAddress));
  await waitUntil(() => connections.every(answered), 5000, `${count} connections answered`);
  return connections;
}

describe('keep-alive', () => {
  it('an idle connection is closed after --keep_alive_timeout', async () => {
    broker = await startBroker({ keep_alive_timeout: 1 });
    const c = connect(broker.url);
    const closedAfter = await c.closed;
    expect(answered(c)).toBe(true);
    expect(closedAfter).toBeGreaterThanOrEqual(900);
    expect(closedAfter).toBeLessThan(3000);
  });

  it("by default within about 10 s, not fastify's 72 s", async () => {
    broker = await startBroker();
    const c = connect(broker.url);
    const closedAfter = await closedWithin(c, 14_000);
    c.socket.destroy();
    expect(answered(c)).toBe(true);
    expect(closedAfter).toBeGreaterThanOrEqual(9_000);
    expect(closedAfter).toBeLessThan(12_500);
  }, 20_000);
});

describe('connections per address', () => {
  it(
    'past --max_connections_per_ip a new connection is closed at once; ' +
      'other addresses and freed slots are unaffected',
    async () => {
      broker = await startBroker({ max_connections_per_ip: 4, keep_alive_timeout: 60 });
      const held = await openAnswered(broker.url, 4, '127.0.0.21');
      const refused = connect(broker.url, '127.0.0.21');
      expect(await closedWithin(refused, 3000)).toBeLessThan(2000);
      expect(refused.received()).toBe('');
      // Another address is not affected.
      await openAnswered(broker.url, 4, '127.0.0.22');
      // A closed connection frees its slot.
      held[0].socket.destroy();
      await waitUntil(
        async () => {
          const retry = connect(broker!.url, '127.0.0.21');
          await Promise.race([retry.closed, new Promise((r) => setTimeout(r, 300))]);
          const ok = answered(retry);
          retry.socket.destroy();
          return ok;
        },
        5000,
        'a freed slot is usable',
      );
      for (const c of held) c.socket.destroy();
    },
  );

  it(
    "a trusted proxy and 127.0.0.1 are not capped (they carry every client's connections); " + 'other peers are',
    async () => {
      broker = await startBroker({ max_connections_per_ip: 3, keep_alive_timeout: 60, trust_proxy: '127.0.0.23' });
      const viaProxy = await openAnswered(broker.url, 8, '127.0.0.23');
      expect(viaProxy.every(answered)).toBe(true);
      // Nor is this host's own address (a local proxy --trust_proxy does not name, local tools).
      await openAnswered(broker.url, 6, '127.0.0.1');
      await openAnswered(broker.url, 3, '127.0.0.24');
      const refused = connect(broker.url, '127.0.0.24');
      expect(await closedWithin(refused, 3000)).toBeLessThan(2000);
      expect(refused.received()).toBe('');
    },
  );
});
