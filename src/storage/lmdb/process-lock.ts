// One writer process per database. LMDB itself allows several processes, but two brokers on one
// --db would each keep their own in-memory event counters and hub, so ids would collide and
// subscribers of one would miss the other's inserts. A pid file taken with O_EXCL keeps the second out;
// a file left by a process that died (kill -9) is taken over, because that process no longer runs.
//
// "That process" is not just "that pid": after a reboot (or enough process churn) the dead broker's pid
// belongs to some other program, and trusting the number alone would refuse to start forever. So the
// file also records the boot and the process's start time (Linux /proc), and a live pid whose boot or
// start time differs is someone else: the lock is stale. Without /proc, the pid alone decides.
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseInUseError } from '../errors.js';

function readOr(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

const bootId = () => readOr('/proc/sys/kernel/random/boot_id');

/** The start time of a process in clock ticks since boot (field 22 of /proc/<pid>/stat), if known. */
function startTime(pid: number): string | undefined {
  const stat = readOr(`/proc/${pid}/stat`);
  if (!stat) return undefined;
  // The command name (field 2) is in parentheses and may hold spaces: count fields after its ')'.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
}

/** What this process writes: "pid boot start", or just the pid where /proc is not there. */
function identity(pid: number): string {
  const boot = bootId();
  const start = startTime(pid);
  return boot && start ? `${pid} ${boot} ${start}` : String(pid);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether the process that wrote `content` still runs (and is the same process, when we can tell). */
function holderRunning(content: string): { pid: number; running: boolean } {
  const [pidText, boot, start] = content.split(/\s+/);
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return { pid, running: false };
  if (!alive(pid)) return { pid, running: false };
  if (boot && start) {
    const nowBoot = bootId();
    if (nowBoot && nowBoot !== boot) return { pid, running: false }; // written before a reboot
    const nowStart = startTime(pid);
    if (nowStart && nowStart !== start) return { pid, running: false }; // the pid was reused
  }
  return { pid, running: true };
}

export function acquireLock(dir: string): () => void {
  const file = join(dir, 'broker.pid');
  const mine = identity(process.pid);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      writeSync(fd, mine);
      closeSync(fd);
      return () => {
        try {
          if (readFileSync(file, 'utf8') === mine) unlinkSync(file);
        } catch {
          /* already gone */
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const content = readOr(file);
      if (content === undefined) continue;
      const holder = holderRunning(content);
      if (holder.running) {
        throw new DatabaseInUseError(
          `the database ${dir} is in use by another broker (pid ${holder.pid}); stop it first or choose another --db`,
        );
      }
      try {
        unlinkSync(file);
      } catch {
        /* raced with another starter; try again */
      }
    }
  }
  throw new DatabaseInUseError(`could not lock the database ${dir}`);
}
