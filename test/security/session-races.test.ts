// Session ends that race a request in flight. Basic auth on /sse reads the user, awaits argon2 (~20 ms),
// then opens a stream: a revoke or tenant move in that window must not leave a stream open on the record
// read before it. A login racing a password change must not issue a token valid under the new password.
// Turning two-factor on ends the sessions opened with the password alone. Each race is run many times
// in parallel (the hash queue holds several checks in flight at once), so a stale window is hit every run.
import { connect as netConnect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, startBroker, type TestBroker } from '../helpers/broker.js';
import { basic, bearer, get, makeUser, post } from '../helpers/http.js';
import { SseReader, openSse } from '../helpers/sse.js';
import { waitUntil } from '../helpers/wait.js';

let broker: TestBroker;
beforeAll(async () => {
  broker = await startBroker({ max_streams_per_user: 64 });
});
afterAll(() => broker.stop());

const STREAMS = 12;

/** STREAMS Basic streams opened at once; resolves once the first has its answer (the rest are in flight). */
async function basicBurst(username: string, password: string): Promise<SseReader[]> {
  const readers = Array.from({ length: STREAMS }, () => new SseReader(`${broker.url}/sse`, basic(username, password)));
  await waitUntil(() => readers.some((r) => r.status !== 0), 10_000, 'a first answer');
  return readers;
}

function closeAll(readers: SseReader[]) {
  for (const r of readers) r.close();
}

describe('a session end while Basic auth on /sse is checking the password', () => {
  it('a revoke leaves no stream open', async () => {
    const user = await makeUser(broker.url);
    const readers = await basicBurst(user.username, user.password);
    try {
      expect((await post(broker.url, '/revoke_user', { admin_token: ADMIN, username: user.username })).status).toBe(
        200,
      );
      // Every stream ends: refused (401/429) or opened and then closed, none left alive.
      await waitUntil(
        () => readers.every((r) => r.ended),
        8000,
        `every stream ended (${readers.filter((r) => !r.ended).length} still open)`,
      );
      expect(broker.services.hub.streamsOf(user.username)).toBe(0);
    } finally {
      closeAll(readers);
    }
  });

  it('a tenant move leaves no stream on the old tenant', async () => {
    const user = await makeUser(broker.url, { tenant_name: `old-${Date.now()}` });
    const oldWriter = await makeUser(broker.url, { tenant_name: user.tenant });
    const newTenant = `new-${Date.now()}`;
    const newWriter = await makeUser(broker.url, { tenant_name: newTenant });
    const readers = await basicBurst(user.username, user.password);
    try {
      expect(
        (
          await post(broker.url, '/update_user', {
            admin_token: ADMIN,
            username: user.username,
            tenant_name: newTenant,
          })
        ).status,
      ).toBe(200);
      await waitUntil(() => readers.every((r) => r.ended || r.status === 200), 8000, 'every stream answered');
      expect((await post(broker.url, '/insert', { event: 'old', data: 1 }, bearer(oldWriter.jwt))).status).toBe(200);
      expect((await post(broker.url, '/insert', { event: 'new', data: 1 }, bearer(newWriter.jwt))).status).toBe(200);
      // A stream still open is one on the new tenant: it gets 'new'. One on the old tenant would get 'old'.
      const saw = (r: SseReader, name: string) => r.events.some((e) => e.event === name);
      await waitUntil(
        () => readers.every((r) => r.ended || saw(r, 'new') || saw(r, 'old')),
        8000,
        'every open stream got an event',
      );
      const stale = readers.filter((r) => saw(r, 'old'));
      expect(stale.length, 'streams still receiving the old tenant').toBe(0);
    } finally {
      closeAll(readers);
    }
  });
});

describe('a login racing a password change', () => {
  it('never issues a token that is valid after the change', async () => {
    const TRIALS = 8;
    const LOGINS = 4;
    const issued: string[] = [];
    await Promise.all(
      Array.from({ length: TRIALS }, async (_, trial) => {
        const user = await makeUser(broker.url);
        const logins = Array.from({ length: LOGINS }, () =>
          post(broker.url, '/login', { username: user.username, password: user.password }),
        );
        const change = post(broker.url, '/update_user', {
          admin_token: ADMIN,
          username: user.username,
          password: `changed passphrase ${trial}`,
        });
        expect((await change).status).toBe(200);
        for (const answer of await Promise.all(logins)) {
          expect([200, 401]).toContain(answer.status);
          if (answer.status === 200) issued.push(answer.body.jwt);
        }
      }),
    );
    // Every login used the old password: once the change is done, none of their tokens may work.
    const valid: string[] = [];
    for (const jwt of issued) if ((await get(broker.url, '/verify', bearer(jwt))).status === 200) valid.push(jwt);
    expect(valid.length, `${valid.length} of ${issued.length} tokens from the old password outlived the change`).toBe(
      0,
    );
  });
});

describe('turning two-factor on', () => {
  it(
    'ends tokens and streams opened with the password alone; ' + 'turning it off or setting it again does not',
    async () => {
      const user = await makeUser(broker.url);
      const bearerStream = openSse(broker.url, user.jwt);
      const basicStream = new SseReader(`${broker.url}/sse`, basic(user.username, user.password));
      try {
        await waitUntil(() => broker.services.hub.streamsOf(user.username) === 2, 5000, 'both streams open');
        // Other fields, and two_factor false, keep the session.
        expect(
          (await post(broker.url, '/update_user', { admin_token: ADMIN, username: user.username, two_factor: false }))
            .status,
        ).toBe(200);
        expect((await get(broker.url, '/verify', bearer(user.jwt))).status).toBe(200);
        expect(
          (await post(broker.url, '/update_user', { admin_token: ADMIN, username: user.username, two_factor: true }))
            .status,
        ).toBe(200);
        await waitUntil(() => bearerStream.ended && basicStream.ended, 5000, 'both streams ended');
        expect((await get(broker.url, '/verify', bearer(user.jwt))).status).toBe(401);
        expect((await get(broker.url, '/verify', basic(user.username, user.password))).status).toBe(401);
      } finally {
        bearerStream.close();
        basicStream.close();
      }
    },
  );
});

describe('an insert whose body arrives after a session end', () => {
  /** Sends /insert's head now and returns a function that sends its body and reads the status. */
  function insertInTwoParts(jwt: string, body: string): Promise<(rest: string) => Promise<number>> {
    const u = new URL(broker.url);
    return new Promise((resolve, reject) => {
      const socket = netConnect(Number(u.port), u.hostname, () => {
        socket.write(
          `POST /insert HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${jwt}\r\n` +
            `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
            `Connection: close\r\n\r\n`,
        );
        resolve(async (rest) => {
          let answer = '';
          socket.setEncoding('utf8');
          socket.on('data', (chunk: string) => (answer += chunk));
          const ended = new Promise<void>((done) => socket.once('close', () => done()));
          socket.write(rest);
          await ended;
          return Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0);
        });
      });
      socket.once('error', reject);
    });
  }

  it('is refused once the user was revoked or moved while it was being sent', async () => {
    for (const change of ['revoke', 'tenant'] as const) {
      const user = await makeUser(broker.url, { tenant_name: `old-${change}` });
      const body = JSON.stringify({ event: 'late', data: { change } });
      const send = await insertInTwoParts(user.jwt, body);
      // The head is authenticated as soon as it arrives, which nothing outside shows: a pause lets it
      // be (were the change to land first instead, the answer would be 401 as well, so this cannot fail falsely).
      await new Promise((resolve) => setTimeout(resolve, 200));
      const changed =
        change === 'revoke'
          ? await post(broker.url, '/revoke_user', { admin_token: ADMIN, username: user.username })
          : await post(broker.url, '/update_user', {
              admin_token: ADMIN,
              username: user.username,
              tenant_name: `new-${change}`,
            });
      expect(changed.status).toBe(200);
      expect(await send(body)).toBe(401);
      expect(broker.services.log.lastId(`old-${change}`)).toBe(0);
    }
  });
});
