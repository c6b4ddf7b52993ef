// One real nats-server with JetStream for the cluster engine's contract runners: loopback, an ephemeral
// port, a temp store dir, stopped after the file. Under CI a missing binary fails the run, never skips.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { openClusterStorage } from '../../src/storage/cluster/storage.js';
import type { Storage } from '../../src/storage/storage.js';
import { freePort, tempDir } from '../helpers/broker.js';
import { waitUntil } from '../helpers/wait.js';

export const NATS_SERVER = process.env.NATS_SERVER ?? '/usr/sbin/nats-server';

export const natsAvailable = existsSync(NATS_SERVER);
if (!natsAvailable && process.env.CI) throw new Error(`${NATS_SERVER} is missing: .ci/run installs nats-server`);

const listening = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });

/** Starts one JetStream server for the test file; `url()` is where it listens. */
export function natsServerForFile(): { url: () => string } {
  let child: ChildProcess | undefined;
  let port = 0;
  beforeAll(async () => {
    port = await freePort();
    const store = join(tempDir('broker-nats-'), 'js');
    child = spawn(NATS_SERVER, ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', store], { stdio: 'ignore' });
    await waitUntil(() => listening(port), 10_000, 'nats-server listening');
  }, 20_000);
  afterAll(() => {
    child?.kill('SIGKILL');
  });
  return { url: () => `nats://127.0.0.1:${port}` };
}

let streams = 0;

/** A fresh stream name per storage the tests open (each test its own cluster on one server). */
export const freshStream = () => `T${process.pid}_${++streams}_${Date.now().toString(36)}`;

export function openNode(dir: string, url: string, stream: string, now?: () => number): Promise<Storage> {
  return openClusterStorage(dir, { now, nats: { urls: url, replicas: 1, stream } });
}
