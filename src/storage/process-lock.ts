// One writer process per database. LMDB itself allows several processes, but two brokers on one
// --db would each keep their own in-memory event counters and hub, so ids would collide and
// subscribers of one would miss the other's inserts. A pid file taken with O_EXCL keeps the second out;
// a file left by a process that died (kill -9) is taken over, because that pid no longer runs.
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export class DatabaseInUseError extends Error {}

function running(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function acquireLock(dir: string): () => void {
  const file = join(dir, 'broker.pid');
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => {
        try {
          if (readFileSync(file, 'utf8') === String(process.pid)) unlinkSync(file);
        } catch {
          /* already gone */
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let pid = NaN;
      try {
        pid = Number(readFileSync(file, 'utf8').trim());
      } catch {
        continue;
      }
      if (running(pid)) {
        throw new DatabaseInUseError(`the database ${dir} is in use by another broker (pid ${pid}); stop it first or choose another --db`);
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
