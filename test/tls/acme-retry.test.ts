// Let's Encrypt mode when the CA cannot validate yet (DNS not pointing here, as on a fresh VPS): each
// failure is logged with the CA's reason and the next attempt time, retries back off, and the broker
// gets its certificate once validation can succeed, without a restart. In-process, so the retry delay
// can be shortened (production starts at 30 s).
import { Agent } from 'node:https';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import * as acme from 'acme-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config.js';
import { start, type RunningServer } from '../../src/server.js';
import { ADMIN, tempDir } from '../helpers/broker.js';
import { httpsRequest } from './https-client.js';
import { freePort, startPebble, type Pebble } from './pebble.js';
import { binariesOrSkip, requireBinary } from './system-binary.js';

const INSTALL = 'apt-get install pebble';
const bins = binariesOrSkip(['pebble', 'pebble-challtestsrv'], INSTALL);

interface LogLine {
  level: number;
  msg: string;
  attempt?: number;
  retryInMs?: number;
  component?: string;
}

describe.skipIf(bins.skip)("Let's Encrypt mode retries with backoff", () => {
  let pebble: Pebble;
  let httpPort: number;
  let dir: string;
  let server: RunningServer | undefined;
  /** The server being started; it may resolve after the test gave up on it, and is closed then too. */
  let starting: Promise<RunningServer> | undefined;
  let finished = false;
  const previousAgent = acme.axios.defaults.httpsAgent;

  beforeAll(async () => {
    const paths = {
      pebble: requireBinary(bins.paths, 'pebble', INSTALL),
      challtestsrv: requireBinary(bins.paths, 'pebble-challtestsrv', INSTALL),
    };
    httpPort = await freePort();
    pebble = await startPebble(paths, httpPort);
    // In-process there is no NODE_EXTRA_CA_CERTS: acme-client's HTTP client is told to trust the
    // directory's test CA instead (the child-process tests use the environment variable).
    acme.axios.defaults.httpsAgent = new Agent({ ca: readFileSync(pebble.tlsCaFile, 'utf8') });
    dir = tempDir();
  });
  afterAll(async () => {
    finished = true;
    // A start that lost the race below (or never got to it) is closed if it resolves within a few
    // seconds now, or as soon as it resolves later (see the handler attached where it is created).
    const late =
      starting && !server
        ? await Promise.race([
            starting.catch(() => undefined),
            new Promise<undefined>((r) => setTimeout(() => r(undefined), 5_000).unref()),
          ])
        : undefined;
    await (server ?? late)?.close();
    acme.axios.defaults.httpsAgent = previousAgent;
    await pebble?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const TITLE =
    'logs each failed attempt with the reason and the delay, backs off, ' + 'and succeeds once the name resolves here';
  it(TITLE, async () => {
    const lines: LogLine[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as LogLine);
        done();
      },
    });
    const domain = `retry-${process.pid}.broker.test`;
    // DNS points elsewhere: pebble's validation connects to 127.0.0.2, where nothing listens.
    await pebble.setDefaultIPv4('127.0.0.2');
    const config = resolveConfig({
      secure: true,
      domain,
      acme_directory: pebble.directory,
      https_port: 0,
      http_port: httpPort,
      host: '127.0.0.1',
      certs: join(dir, 'certs'),
      db: join(dir, 'db'),
      admin_token: ADMIN,
      log_level: 'info',
    });
    starting = start(config, { logger: { level: 'info', stream }, acme: { retryBaseMs: 300, retryMaxMs: 5000 } });
    starting.then(
      (s) => {
        if (finished) void s.close(); // resolved after afterAll: nobody else will close it
      },
      () => {},
    );

    const failures = () => lines.filter((l) => l.level === 50 && /could not obtain the certificate/.test(l.msg));
    const deadline = Date.now() + 30_000;
    while (failures().length < 2) {
      if (Date.now() > deadline)
        throw new Error(`expected two failed attempts:\n${lines.map((l) => l.msg).join('\n')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const [first, second] = failures();
    // One clear line: what failed, against which CA, the CA's own reason, and when the next try is.
    expect(first.msg).toContain(`could not obtain the certificate for ${domain} from ${pebble.directory}`);
    expect(first.msg).toMatch(/127\.0\.0\.2|connection refused/i);
    expect(first.msg).toMatch(/retrying in \d+ s/);
    expect(first.component).toBe('tls');
    expect([first.attempt, first.retryInMs]).toEqual([1, 300]);
    expect([second.attempt, second.retryInMs]).toEqual([2, 600]);

    // DNS fixed: a later attempt succeeds and the server starts serving, no restart needed. That
    // attempt reuses the ACME account registered by the first one (as every renewal does).
    await pebble.setDefaultIPv4('127.0.0.1');
    server = await Promise.race([
      starting,
      new Promise<never>((_, reject) =>
        setTimeout(
          () => reject(new Error(`no certificate after DNS was fixed:\n${lines.map((l) => l.msg).join('\n')}`)),
          20_000,
        ).unref(),
      ),
    ]);
    expect(lines.some((l) => /obtained the certificate for/.test(l.msg))).toBe(true);
    const root = await pebble.root();
    const health = await httpsRequest(`${server.url}/`, { ca: root });
    expect(health.status).toBe(200);
    expect(health.peer.issuer).toMatch(/^Pebble Intermediate CA/);
  }, 60_000);
});
