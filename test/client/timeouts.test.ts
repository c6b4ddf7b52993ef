// A deadline that fires while an answer's body is still arriving: the client must report the same
// transient BrokerError (status 0) as a request that got no answer at all, so callers retry it.
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrokerClient, BrokerError } from '../../client/index.js';

let server: Server;
let url: string;
beforeAll(async () => {
  // Answers 200 with its headers at once, then never finishes the body.
  server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"jwt":');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

describe('request deadline during the body', () => {
  for (const [name, call] of [
    ['login', (c: BrokerClient) => c.login('u', 'p')],
    ['verify', (c: BrokerClient) => c.verify()],
  ] as const) {
    it(`${name}: a stalled body fails as a transient BrokerError(0)`, async () => {
      const client = new BrokerClient({ url, token: 'x.y.z', timeoutMs: 300 });
      const error = await call(client).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(error).toBeInstanceOf(BrokerError);
      expect(error).toMatchObject({ status: 0, transient: true });
    });
  }
});
