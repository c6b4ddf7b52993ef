// The apps bench's baseline: a bare fastify answering an empty POST (201 {}), in its own process like
// the server under test, so that the ratio says what the key check and the batched write cost.
import Fastify from 'fastify';
import { serve } from './lib/ipc.js';

const app = Fastify({ logger: false });
app.post('/empty', async (_req, reply) => reply.code(201).send({}));
const url = await app.listen({ port: 0, host: '127.0.0.1' });

serve({
  stats: async () => ({
    cpuUs: (() => {
      const c = process.cpuUsage();
      return c.user + c.system;
    })(),
  }),
  stop: async () => {
    setTimeout(() => process.exit(0), 100);
    await app.close();
    return true;
  },
});
process.send?.({ ready: true, url, pid: process.pid });
