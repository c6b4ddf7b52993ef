// The peer: nginx + the nchan module (Debian `nginx` + `libnginx-mod-nchan`), one worker, same routes
// as the broker (POST /insert publishes the body, GET /sse subscribes with EventSource framing).
// Its CPU and RSS come from /proc/<worker pid>; nginx was started by us, and only that pid is signalled.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sleep, type ServerStats } from './stats.js';

const NGINX = '/usr/sbin/nginx';
const MODULE = '/usr/lib/nginx/modules/ngx_nchan_module.so';

export function nchanAvailable(): string | undefined {
  if (!existsSync(NGINX)) return `${NGINX} not found (apt-get install -y nginx libnginx-mod-nchan)`;
  if (!existsSync(MODULE)) return `${MODULE} not found (apt-get install -y libnginx-mod-nchan)`;
  return undefined;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

const CLK_TCK = 100;

function procStats(pid: number): ServerStats {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is state (field 3); utime is field 14, stime field 15.
  const ticks = Number(fields[11]) + Number(fields[12]);
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return { cpuUs: (ticks * 1e6) / CLK_TCK, rss: rssKb * 1024 };
}

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      /* gone */
    }
  }
  return out;
}

export interface Nchan {
  url: string;
  workerPid: number;
  stats(): ServerStats;
  stop(): Promise<void>;
}

export async function startNchan(): Promise<Nchan> {
  const dir = mkdtempSync(join(tmpdir(), 'nchan-bench-'));
  const port = await freePort();
  const root = process.getuid?.() === 0;
  const conf = `
load_module ${MODULE};
${root ? 'user root;' : ''}
worker_processes 1;
worker_rlimit_nofile 65536;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 30000; multi_accept on; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location = / { return 200 "{}"; }
    location = /insert {
      nchan_publisher;
      nchan_channel_id bench;
      nchan_message_buffer_length 64;
      nchan_message_timeout 60s;
    }
    location = /sse {
      nchan_subscriber eventsource;
      nchan_channel_id bench;
      nchan_subscriber_first_message newest;
    }
  }
}
`;
  writeFileSync(join(dir, 'nginx.conf'), conf);
  const proc: ChildProcess = spawn(
    '/bin/sh',
    ['-c', 'ulimit -n 65536 2>/dev/null; exec "$@"', 'sh', NGINX, '-p', dir, '-c', join(dir, 'nginx.conf')],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  proc.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const url = `http://127.0.0.1:${port}`;
  let workerPid = 0;
  for (let i = 0; i < 100 && !workerPid; i++) {
    await sleep(50);
    if (proc.exitCode !== null)
      throw new Error(
        `nginx exited: ${stderr}` +
          (existsSync(join(dir, 'error.log')) ? readFileSync(join(dir, 'error.log'), 'utf8') : ''),
      );
    try {
      const res = await fetch(`${url}/`);
      await res.text();
      if (res.ok) workerPid = childrenOf(proc.pid!)[0] ?? 0;
    } catch {
      /* not yet */
    }
  }
  if (!workerPid) {
    proc.kill('SIGKILL');
    throw new Error(`nginx did not start: ${stderr}`);
  }
  return {
    url,
    workerPid,
    stats: () => procStats(workerPid),
    async stop() {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
