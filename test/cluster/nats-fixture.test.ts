// The nats fixture itself: three real nats-server processes form one JetStream cluster, and a stream
// with 3 replicas keeps every acknowledged message and takes new ones after one server's SIGKILL.
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { natsServerBinary, SKIP_NATS, startNats, type NatsCluster } from '../helpers/nats.js';
import { waitUntil } from '../helpers/wait.js';

describe.skipIf(SKIP_NATS)('nats fixture: a 3-server JetStream cluster', () => {
  let nats: NatsCluster;
  beforeAll(async () => {
    natsServerBinary();
    nats = await startNats(3);
  }, 60_000);
  afterAll(async () => {
    await nats?.stop();
  });

  it('forms one cluster with a meta leader, and a replicas-3 stream survives one SIGKILL', async () => {
    expect(nats.nodes).toHaveLength(3);
    const leader = await nats.metaLeader();
    expect(['n1', 'n2', 'n3']).toContain(leader);

    const nc = await connect({ servers: nats.nodes.map((n) => n.url), reconnectTimeWait: 200 });
    try {
      const jsm = await jetstreamManager(nc);
      const created = await jsm.streams.add({ name: 'FIXTURE', subjects: ['fixture.>'], num_replicas: 3 });
      expect(created.config.num_replicas).toBe(3);
      const js = jetstream(nc, { timeout: 5000 });
      for (let i = 1; i <= 10; i++) expect((await js.publish('fixture.a', `m${i}`)).seq).toBe(i);

      // Kill the server leading the stream, the hardest case: the others must elect a new one.
      const info = await jsm.streams.info('FIXTURE');
      expect(info.cluster?.replicas?.length).toBe(2);
      const streamLeader = nats.nodes.findIndex((n) => n.name === info.cluster?.leader);
      expect(streamLeader).toBeGreaterThanOrEqual(0);
      await nats.kill(streamLeader);
      expect(nats.nodes[streamLeader]!.running).toBe(false);

      let seq = 0;
      await waitUntil(
        async () => {
          try {
            seq = (await js.publish('fixture.a', 'after')).seq;
            return true;
          } catch {
            return false;
          }
        },
        30_000,
        'a publish after the stream leader died',
      );
      expect(seq).toBe(11);
      const after = await jsm.streams.info('FIXTURE');
      expect(after.state.messages).toBe(11);
      expect(after.cluster?.leader).not.toBe(nats.nodes[streamLeader]!.name);

      // Back on the same ports and store, it rejoins and catches up.
      await nats.restart(streamLeader);
      expect(nats.nodes[streamLeader]!.running).toBe(true);
      await waitUntil(
        async () => {
          const now = await jsm.streams.info('FIXTURE').catch(() => undefined);
          return (now?.cluster?.replicas ?? []).filter((r) => r.current).length === 2;
        },
        30_000,
        'the restarted server current again',
      );
    } finally {
      await nc.close();
    }
  }, 120_000);
});
