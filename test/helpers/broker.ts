// Starting real brokers for tests: in-process (start() on an ephemeral port, a real LMDB in a temp dir)
// or as a child process of the built CLI (for crash, signal and flag tests).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { onTestFinished } from 'vitest';
import { resolveConfig, type Config } from '../../src/config.js';
import { start, type RunningServer } from '../../src/server.js';
import { natsArgs, natsFor } from './nats-mode.js';

// 32 bytes or more: --secure refuses a shorter admin token.
export const ADMIN = 'test-admin-token-of-at-least-32-bytes';
export const CLI = resolve(import.meta.dirname, '../../dist/src/cli.js');

/** A port free right now on 127.0.0.1 (for a child that must keep its port across a restart). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export function tempDir(prefix = 'broker-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A temp dir removed when the current test ends, pass or fail (call it inside a test). */
export function testDir(): string {
  const dir = tempDir();
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Kills a child broker when the current test ends, so a failed assertion never leaves one running. */
export function killAfterTest(child: ChildBroker): ChildBroker {
  onTestFinished(async () => {
    await child.kill('SIGKILL');
  });
  return child;
}

export interface TestBroker extends RunningServer {
  dir: string;
  config: Config;
  /** Closes the server and removes its temp dir. */
  stop(): Promise<void>;
}

export async function startBroker(
  overrides: Partial<Record<keyof Config, unknown>> = {},
  options: { now?: () => number; dir?: string } = {},
): Promise<TestBroker> {
  const dir = options.dir ?? tempDir();
  const db = (overrides.db as string | undefined) ?? join(dir, 'db');
  // BROKER_TEST_NATS=1 (project "cluster"): the same broker as a cluster node on its own nats-server.
  const nats = (overrides as Record<string, unknown>).nats === undefined ? await natsFor(db) : undefined;
  const config = resolveConfig({
    port: 0,
    host: '127.0.0.1',
    db,
    admin_token: ADMIN,
    log_level: 'silent',
    ...(nats ? { nats, nats_replicas: 1 } : {}),
    ...overrides,
  } as Partial<Record<keyof Config, unknown>>);
  const server = await start(config, { now: options.now });
  return {
    ...server,
    dir,
    config,
    async stop() {
      await server.close();
      if (!options.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface ChildBroker {
  proc: ChildProcess;
  url: string;
  stdout: string[];
  stderr: string[];
  /** Resolves with the exit code once the process has exited. */
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Runs `node dist/src/cli.js ...args` and waits for its "listening" log line. */
export async function spawnBroker(
  args: string[],
  env: Record<string, string> = {},
  cwd?: string,
): Promise<ChildBroker> {
  const cluster = await natsArgs(args, cwd);
  const proc = spawn(process.execPath, [CLI, '--port', '0', '--host', '127.0.0.1', ...cluster, ...args], {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  const exited = new Promise<number | null>((res) => proc.once('exit', (code) => res(code)));
  const url = await new Promise<string>((res, rej) => {
    let buffered = '';
    const timer = setTimeout(() => {
      // Never leave a broker running behind a failed test.
      proc.kill('SIGKILL');
      rej(new Error(`broker did not start: ${stderr.join('')}`));
    }, 20_000);
    proc.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        stdout.push(line);
        try {
          const parsed = JSON.parse(line) as { url?: string };
          if (parsed.url) {
            clearTimeout(timer);
            res(parsed.url);
          }
        } catch {
          /* not JSON */
        }
      }
    });
    proc.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
    void exited.then((code) => {
      clearTimeout(timer);
      rej(new Error(`broker exited with ${code} before listening: ${stderr.join('')}`));
    });
  });
  return {
    proc,
    url,
    stdout,
    stderr,
    exited,
    async kill(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
}

/** Runs the CLI to completion (for flags that must fail fast). */
export function runCli(
  args: string[],
  env: Record<string, string> = {},
  cwd?: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((res) => {
    const proc = spawn(process.execPath, [CLI, ...args], {
      cwd,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      res({ code, stdout, stderr });
    });
  });
}
