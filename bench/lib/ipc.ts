// Request/response over a child's IPC channel, and spawning bench children with a raised fd limit.
import { spawn, type ChildProcess } from 'node:child_process';

export interface Request {
  id: number;
  cmd: string;
  args?: unknown;
}

export interface Reply {
  id: number;
  ok: boolean;
  result?: unknown;
  error?: string;
}

/** Spawns `node <script> ...args` through sh so that `ulimit -n` is raised first (we may be root). */
export function spawnChild(script: string, args: string[] = [], nodeFlags: string[] = []): ChildProcess {
  const child = spawn(
    '/bin/sh',
    [
      '-c',
      'ulimit -n 65536 2>/dev/null || ulimit -n 20000 2>/dev/null; exec "$@"',
      'sh',
      process.execPath,
      ...nodeFlags,
      script,
      ...args,
    ],
    {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    },
  );
  return child;
}

export class Peer {
  private next = 1;
  private readonly pending = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }
  >();
  private readonly listeners: Array<(msg: Record<string, unknown>) => void> = [];
  readonly exited: Promise<number | null>;

  constructor(
    readonly child: ChildProcess,
    readonly name: string,
  ) {
    child.on('message', (msg: Reply & Record<string, unknown>) => {
      if (typeof msg.id === 'number' && this.pending.has(msg.id)) {
        const p = this.pending.get(msg.id)!;
        this.pending.delete(msg.id);
        clearTimeout(p.timer);
        if (msg.ok) p.resolve(msg.result);
        else p.reject(new Error(`${name}: ${msg.error}`));
      } else {
        for (const l of this.listeners) l(msg);
      }
    });
    this.exited = new Promise((res) =>
      child.once('exit', (code) => {
        for (const p of this.pending.values()) {
          clearTimeout(p.timer);
          p.reject(new Error(`${name} exited (${code}) before answering`));
        }
        this.pending.clear();
        res(code);
      }),
    );
  }

  /** Every unsolicited message (progress reports). */
  on(listener: (msg: Record<string, unknown>) => void): void {
    this.listeners.push(listener);
  }

  /** The first unsolicited message matching the predicate (e.g. {ready: true}). */
  waitFor(predicate: (msg: Record<string, unknown>) => boolean, timeoutMs: number): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name}: no ready message in ${timeoutMs} ms`)), timeoutMs);
      void this.exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`${this.name} exited (${code})`));
      });
      this.listeners.push((msg) => {
        if (predicate(msg)) {
          clearTimeout(timer);
          resolve(msg);
        }
      });
    });
  }

  call<T = unknown>(cmd: string, args?: unknown, timeoutMs = 120_000): Promise<T> {
    const id = this.next++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.name}: ${cmd} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.child.send({ id, cmd, args } satisfies Request);
    });
  }

  /** Asks politely, then SIGKILLs this child (only this one, by its own handle) if it lingers. */
  async stop(timeoutMs = 8000): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.call('stop', undefined, timeoutMs).catch(() => {});
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/** The child side: answers requests with handlers; uncaught handler errors become error replies. */
export function serve(handlers: Record<string, (args: any) => unknown | Promise<unknown>>): void {
  process.on('message', (msg: Request) => {
    const handler = handlers[msg.cmd];
    const reply = (r: Omit<Reply, 'id'>) => process.send?.({ id: msg.id, ...r });
    if (!handler) return reply({ ok: false, error: `unknown command ${msg.cmd}` });
    Promise.resolve()
      .then(() => handler(msg.args))
      .then(
        (result) => reply({ ok: true, result }),
        (err: unknown) => reply({ ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
      );
  });
  // The parent died: do not linger.
  process.on('disconnect', () => process.exit(0));
}
