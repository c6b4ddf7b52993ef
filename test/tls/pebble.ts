// A real ACME CA for tests: Debian's pebble, with pebble-challtestsrv as its DNS server answering
// 127.0.0.1 for every name, so pebble validates HTTP-01 against the broker on this machine. Each call
// starts its own pair on free ports in a temp dir, with its own TLS certificate for the directory
// (the broker trusts it through NODE_EXTRA_CA_CERTS, the standard Node way to add a private CA).
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:https';
import { connect } from 'node:net';
import { join } from 'node:path';
import { issue } from './x509.js';

export { freePort } from '../helpers/broker.js';
import { freePort, tempDir } from '../helpers/broker.js';

function httpsGet(url: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = get(url, { ca, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error(`timeout fetching ${url}`)));
  });
}

function waitForTcp(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve();
      });
      socket.once('error', () => {
        socket.destroy();
        if (Date.now() > deadline) reject(new Error(`nothing listening on ${port} after ${timeoutMs} ms`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

export interface Pebble {
  /** The ACME directory URL to pass as --acme_directory. */
  directory: string;
  /** File holding the CA of pebble's own HTTPS endpoint: NODE_EXTRA_CA_CERTS for the broker. */
  tlsCaFile: string;
  /** The root that signs issued certificates (GET /roots/0 on the management port), PEM. */
  root(): Promise<string>;
  /** Where pebble's DNS (challtestsrv) resolves every name from now on (127.0.0.1 at start). */
  setDefaultIPv4(ip: string): Promise<void>;
  logs: string[];
  stop(): Promise<void>;
}

export interface PebbleBinaries {
  pebble: string;
  challtestsrv: string;
}

function run(bin: string, args: string[], env: Record<string, string>, logs: string[]): ChildProcess {
  const proc = spawn(bin, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout!.on('data', (c: Buffer) => logs.push(c.toString()));
  proc.stderr!.on('data', (c: Buffer) => logs.push(c.toString()));
  return proc;
}

async function stopProcess(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}

/** Starts challtestsrv and pebble; pebble validates HTTP-01 on `httpPort` (the broker's --http_port). */
export async function startPebble(bins: PebbleBinaries, httpPort: number): Promise<Pebble> {
  const dir = tempDir('broker-pebble-');
  const logs: string[] = [];
  const [acmePort, managementPort, tlsPort, dnsPort, challManagementPort] = await Promise.all([
    freePort(),
    freePort(),
    freePort(),
    freePort(),
    freePort(),
  ]);

  const ca = issue({ cn: 'Pebble directory test CA', ca: true });
  const tls = issue({ cn: 'localhost', names: ['localhost', '127.0.0.1'], issuer: ca });
  const tlsCaFile = join(dir, 'directory-ca.pem');
  writeFileSync(tlsCaFile, ca.certPem);
  writeFileSync(join(dir, 'cert.pem'), tls.certPem);
  writeFileSync(join(dir, 'key.pem'), tls.keyPem);
  writeFileSync(
    join(dir, 'pebble-config.json'),
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${acmePort}`,
        managementListenAddress: `127.0.0.1:${managementPort}`,
        certificate: join(dir, 'cert.pem'),
        privateKey: join(dir, 'key.pem'),
        httpPort,
        tlsPort,
        ocspResponderURL: '',
        externalAccountBindingRequired: false,
      },
    }),
  );

  const dns = run(
    bins.challtestsrv,
    [
      '-defaultIPv4',
      '127.0.0.1',
      '-defaultIPv6',
      '',
      '-dns01',
      `127.0.0.1:${dnsPort}`,
      '-http01',
      '',
      '-https01',
      '',
      '-tlsalpn01',
      '',
      '-management',
      `127.0.0.1:${challManagementPort}`,
    ],
    {},
    logs,
  );
  // Without these, pebble sleeps up to 15 s before each validation and rejects 5% of good nonces on purpose.
  const pebble = run(
    bins.pebble,
    ['-config', join(dir, 'pebble-config.json'), '-dnsserver', `127.0.0.1:${dnsPort}`],
    { PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0' },
    logs,
  );
  const stop = async () => {
    await Promise.all([stopProcess(pebble), stopProcess(dns)]);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await Promise.all([waitForTcp(acmePort), waitForTcp(managementPort), waitForTcp(challManagementPort)]);
    const directory = `https://127.0.0.1:${acmePort}/dir`;
    const probe = await httpsGet(directory, ca.certPem);
    if (probe.status !== 200) throw new Error(`pebble directory answered ${probe.status}`);
    return {
      directory,
      tlsCaFile,
      logs,
      async root() {
        const res = await httpsGet(`https://127.0.0.1:${managementPort}/roots/0`, ca.certPem);
        if (res.status !== 200 || !res.body.includes('BEGIN CERTIFICATE'))
          throw new Error(`pebble /roots/0 answered ${res.status}`);
        return res.body;
      },
      async setDefaultIPv4(ip: string) {
        const res = await fetch(`http://127.0.0.1:${challManagementPort}/set-default-ipv4`, {
          method: 'POST',
          body: JSON.stringify({ ip }),
        });
        if (res.status !== 200) throw new Error(`challtestsrv set-default-ipv4 answered ${res.status}`);
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw new Error(`pebble did not start: ${(err as Error).message}\n${logs.join('')}`);
  }
}
