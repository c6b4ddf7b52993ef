// Slowloris: clients that open connections and send a request slowly (or not at all) to hold sockets.
// Each kind is answered 408 and closed in bounded time while honest requests keep being served, and an
// SSE stream (a response, not a request being received) outlives the request timeout.
//
// The bounds are headersTimeout/requestTimeout (10 s / 30 s, app.ts) plus Node's connection sweep,
// every connectionsCheckingInterval (1 s in app.ts; Node's default of 30 s let a slow client hold its
// socket up to 40 s / 60 s).
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { get, makeUser } from '../helpers/http.js';
import { openSse } from '../helpers/sse.js';

let broker: TestBroker;
beforeAll(async () => {
  broker = await startBroker({ heartbeat: 5 });
});
afterAll(() => broker.stop());

interface Outcome {
  closedAfterMs: number;
  answer: string;
}

/** Opens a socket, sends `first`, then `drip` every second until the server closes the socket. */
function attacker(first: string, drip: string | undefined): Promise<Outcome> {
  const { port, hostname } = new URL(broker.url);
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = net.connect(Number(port), hostname);
    let answer = '';
    let dripper: NodeJS.Timeout | undefined;
    socket.on('connect', () => {
      if (first) socket.write(first);
      if (drip) dripper = setInterval(() => socket.writable && socket.write(drip), 1000);
    });
    socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearInterval(dripper);
      resolve({ closedAfterMs: Date.now() - started, answer });
    });
  });
}

describe('slow clients', () => {
  it('idle, header-dribbling and body-dribbling connections are closed in bounded time; others are served', {
    timeout: 60_000,
  }, async () => {
    const user = await makeUser(broker.url);
    const stream = openSse(broker.url, user.jwt);
    await stream.waitFor((r) => r.status === 200);

    const idle = Array.from({ length: 10 }, () => attacker('', undefined));
    const headers = Array.from({ length: 20 }, () => attacker('GET / HTTP/1.1\r\nHost: x\r\n', 'X-Slow: 1\r\n'));
    const body = Array.from({ length: 10 }, () =>
      attacker('POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{', ' '),
    );

    // While 40 sockets are held, an honest client is answered promptly. Every probe is recorded, a
    // failed one (an error, not only a non-200) included, and all are awaited before judging.
    const probes: Array<{ status: number | string; ms: number }> = [];
    const inFlight: Promise<void>[] = [];
    const probing = setInterval(() => {
      const t = performance.now();
      inFlight.push(
        get(broker.url, '/').then(
          (answer) => void probes.push({ status: answer.status, ms: performance.now() - t }),
          (error: unknown) => void probes.push({ status: `error: ${String(error)}`, ms: performance.now() - t }),
        ),
      );
    }, 2000);
    const headerOutcomes = await Promise.all([...idle, ...headers]);
    const bodyOutcomes = await Promise.all(body);
    clearInterval(probing);
    await Promise.all(inFlight);

    for (const o of headerOutcomes) {
      expect(o.answer).toMatch(/^HTTP\/1\.1 408 /);
      // headersTimeout is 10 s: never before it...
      expect(o.closedAfterMs).toBeGreaterThanOrEqual(9_500);
      // ...and within it plus one sweep of the connection checker.
      expect(o.closedAfterMs).toBeLessThan(12_500);
    }
    for (const o of bodyOutcomes) {
      expect(o.answer).toMatch(/^HTTP\/1\.1 408 /);
      expect(o.closedAfterMs).toBeGreaterThanOrEqual(29_500);
      expect(o.closedAfterMs).toBeLessThan(32_500);
    }
    expect(probes.length).toBeGreaterThan(5);
    expect(probes.map((p) => p.status)).toEqual(probes.map(() => 200));
    // Generous for a shared CI machine; a starved server would not answer within the test at all.
    expect(Math.max(...probes.map((p) => p.ms))).toBeLessThan(2000);

    // The SSE stream opened before the attack outlived requestTimeout: it is a response, not a request.
    expect(stream.ended).toBe(false);
    expect(stream.comments).toBeGreaterThan(0);
    stream.close();
  });
});
