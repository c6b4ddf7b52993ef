// Topic fan-out (issue 12): one topic's messages to N WebSocket subscribers beside N SSE subscribers of
// the same broker in the same run (deliveries per server-core-second, p99 latency, lost/duplicated), and
// /broadcast's rate with 64 clients. The broker runs as its own process (its CPU is read from /proc);
// the subscribers and publishers run here. Floor: WebSocket per core ≥ 0.8 × SSE per core.
//   node dist/bench/topics.js [--subs 1000,5000] [--rate 20] [--duration 5000]
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { SignJWT, exportSPKI, generateKeyPair } from 'jose';
import WebSocket from 'ws';
import { flag, list, numFlag } from './lib/args.js';

const TICK_US = 1e6 / 100;
const now = () => performance.timeOrigin + performance.now();

function cpuUs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * TICK_US;
}

async function startBroker(pem: string): Promise<{ url: string; pid: number; stop: () => void; dir: string }> {
  const dir = mkdtempSync(join('/dev/shm', 'broker-topics-bench-'));
  const cli = join(import.meta.dirname, '../src/cli.js');
  const args = ['--port', '0', '--host', '127.0.0.1', '--db', join(dir, 'db'), '--admin_token', 'b'.repeat(40)];
  args.push('--max_connections_per_ip', '20000', '--topic_public_key', Buffer.from(pem).toString('base64'));
  const proc = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    let buf = '';
    proc.stdout.on('data', (c: Buffer) => {
      buf += c.toString();
      const m = /"url":"([^"]+)"/.exec(buf);
      if (m) resolve(m[1]);
    });
    proc.once('exit', (code) => reject(new Error(`broker exited ${code}`)));
  });
  return { url, pid: proc.pid!, dir, stop: () => proc.kill('SIGKILL') };
}

interface Sub {
  seen: Set<number>;
  dup: number;
  latencies: number[];
}

function record(sub: Sub, message: string): void {
  const [seq, sent] = message.split(' ');
  const n = Number(seq);
  if (sub.seen.has(n)) sub.dup++;
  sub.seen.add(n);
  sub.latencies.push(now() - Number(sent));
}

function wsSub(url: string, token: string, sub: Sub): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/ws`);
    ws.on('open', () => {
      ws.send(`/subscribe bench ${token}`);
      resolve(ws);
    });
    ws.on('message', (data) => record(sub, data.toString()));
    ws.on('error', reject);
  });
}

function sseSub(url: string, token: string, sub: Sub, agent: Agent): Promise<() => void> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/sse?topics=bench`, { agent, headers: { authorization: `Bearer ${token}` } }, (res) => {
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        let end: number;
        while ((end = buf.indexOf('\n\n')) >= 0) {
          const frame = buf.slice(0, end);
          buf = buf.slice(end + 2);
          const data = frame.split('\n').find((l) => l.startsWith('data:'));
          if (data && frame.includes('event:bench')) record(sub, JSON.parse(data.slice(5)));
        }
      });
      resolve(() => req.destroy());
    });
    req.on('error', reject);
    req.end();
  });
}

const p99 = (xs: number[]) => (xs.length ? xs.sort((a, b) => a - b)[Math.floor(xs.length * 0.99)] : NaN);

function broadcast(url: string, agent: Agent, token: string, message: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ topic: 'bench', message, token });
    const req = request(
      `${url}/broadcast`,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function presence(url: string, token: string): Promise<number> {
  const res = await fetch(`${url}/presence?topic=bench&token=${token}`);
  return ((await res.json()) as { connections: number }).connections;
}

async function fanoutRow(
  kind: 'ws' | 'sse',
  n: number,
  o: { url: string; pid: number; sub: string; pub: string; rate: number; durationMs: number },
) {
  const subs: Sub[] = Array.from({ length: n }, () => ({ seen: new Set(), dup: 0, latencies: [] }));
  const agent = new Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });
  const closers: (() => void)[] = [];
  for (let i = 0; i < n; i += 200) {
    const batch = subs.slice(i, i + 200);
    if (kind === 'ws')
      for (const ws of await Promise.all(batch.map((s) => wsSub(o.url, o.sub, s)))) closers.push(() => ws.terminate());
    else closers.push(...(await Promise.all(batch.map((s) => sseSub(o.url, o.sub, s, agent)))));
  }
  while ((await presence(o.url, o.sub)) < n) await new Promise((r) => setTimeout(r, 50));
  const pubAgent = new Agent({ keepAlive: true, maxSockets: 4 });
  const cpu0 = cpuUs(o.pid);
  const t0 = now();
  const total = Math.round((o.rate * o.durationMs) / 1000);
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / o.rate;
    const wait = due - now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    void broadcast(o.url, pubAgent, o.pub, `${i} ${now()}`);
  }
  const deadline = now() + 10_000;
  while (now() < deadline && subs.some((s) => s.seen.size < total)) await new Promise((r) => setTimeout(r, 50));
  const cpu = cpuUs(o.pid) - cpu0;
  const received = subs.reduce((a, s) => a + s.seen.size, 0);
  const dup = subs.reduce((a, s) => a + s.dup, 0);
  const lat = subs.flatMap((s) => s.latencies);
  for (const close of closers) close();
  agent.destroy();
  pubAgent.destroy();
  while ((await presence(o.url, o.sub)) > 0) await new Promise((r) => setTimeout(r, 50));
  return { kind, n, perCore: received / (cpu / 1e6), p99: p99(lat), lost: total * n - received, dup, received };
}

async function broadcastRate(url: string, pub: string, clients: number, ms: number) {
  const agent = new Agent({ keepAlive: true, maxSockets: clients });
  const lat: number[] = [];
  let ok = 0;
  const end = now() + ms;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (now() < end) {
        const t = now();
        if ((await broadcast(url, agent, pub, `0 ${t}`)) === 200) ok++;
        lat.push(now() - t);
      }
    }),
  );
  agent.destroy();
  return { perSec: ok / (ms / 1000), p99: p99(lat) };
}

async function main() {
  const subsList = (list(flag('subs')) ?? ['1000', '5000']).map(Number);
  const rate = numFlag('rate', 20);
  const durationMs = numFlag('duration', 5000);
  const pair = await generateKeyPair('ES256', { extractable: true });
  const sign = (scope: string) =>
    new SignJWT({ topics: ['bench'], scope })
      .setProtectedHeader({ alg: 'ES256' })
      .setSubject('bench')
      .setExpirationTime('2h')
      .sign(pair.privateKey);
  const broker = await startBroker(await exportSPKI(pair.publicKey));
  try {
    const o = {
      url: broker.url,
      pid: broker.pid,
      sub: await sign('subscribe'),
      pub: await sign('broadcast'),
      rate,
      durationMs,
    };
    console.log(`## Topic fan-out (issue 12): one topic, ${rate} messages/s for ${durationMs / 1000} s\n`);
    console.log('| transport | subscribers | deliveries / server-core-s | p99 latency | lost | duplicated |');
    console.log('|---|---:|---:|---:|---:|---:|');
    const floors: string[] = [];
    for (const n of subsList) {
      const sse = await fanoutRow('sse', n, o);
      const ws = await fanoutRow('ws', n, o);
      for (const r of [sse, ws])
        console.log(`| ${r.kind} | ${n} | ${Math.round(r.perCore)} | ${r.p99.toFixed(1)} ms | ${r.lost} | ${r.dup} |`);
      const ratio = ws.perCore / sse.perCore;
      floors.push(
        `${ratio >= 0.8 ? 'MET   ' : 'MISSED'} ${n} subscribers: ` +
          `WebSocket per core ${ratio.toFixed(2)}× SSE (floor 0.8)`,
      );
    }
    const b = await broadcastRate(broker.url, o.pub, 64, durationMs);
    console.log(`\n/broadcast with 64 clients: ${Math.round(b.perSec)} broadcasts/s, p99 ${b.p99.toFixed(1)} ms\n`);
    console.log(floors.join('\n'));
  } finally {
    broker.stop();
    rmSync(broker.dir, { recursive: true, force: true });
  }
}

await main();
