// The writer lock (broker.pid) after a crash: a pid that now belongs to another program (a reboot, pid
// reuse) must not keep the broker from starting, while a live broker still keeps a second one out.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, runCli, startBroker, tempDir } from '../helpers/broker.js';

const linux = existsSync('/proc/sys/kernel/random/boot_id');
let other: ChildProcess;
let work: string;

beforeAll(() => {
  work = tempDir('broker-lock-');
  // A live process that is not a broker, standing in for whatever got the dead broker's pid.
  other = spawn('sleep', ['60'], { stdio: 'ignore' });
});
afterAll(() => {
  other.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
});

const boot = () => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
const startOf = (pid: number) => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
};

let n = 0;
function dbWithPidFile(content: string): string {
  const dir = join(work, `db${++n}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'broker.pid'), content);
  return dir;
}

async function expectStarts(dir: string): Promise<void> {
  const broker = await startBroker({ db: dir }, { dir: work });
  try {
    expect((await fetch(`${broker.url}/`)).status).toBe(200);
    expect(readFileSync(join(dir, 'broker.pid'), 'utf8')).toMatch(new RegExp(`^${process.pid}\\b`));
  } finally {
    await broker.stop();
  }
}

describe('a stale broker.pid', () => {
  it('from before a reboot is taken over, even though its pid runs now', async () => {
    expect(linux).toBe(true);
    await expectStarts(dbWithPidFile(`${other.pid} 00000000-0000-0000-0000-000000000000 ${startOf(other.pid!)}`));
  });

  it('whose pid was reused by another program (another start time) is taken over', async () => {
    await expectStarts(dbWithPidFile(`${other.pid} ${boot()} 1`));
  });

  it('an empty or unreadable one is taken over', async () => {
    await expectStarts(dbWithPidFile(''));
    await expectStarts(dbWithPidFile('not a pid'));
  });

  it('that still names the very process that wrote it keeps a second broker out', async () => {
    const dir = dbWithPidFile(`${other.pid} ${boot()} ${startOf(other.pid!)}`);
    const result = await runCli(['--db', dir, '--admin_token', ADMIN, '--port', '0']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(new RegExp(`in use by another broker \\(pid ${other.pid}\\)`));
    expect(readFileSync(join(dir, 'broker.pid'), 'utf8')).toBe(`${other.pid} ${boot()} ${startOf(other.pid!)}`);
  });

  it('in the old format (a bare pid of a live process) is trusted: no way to tell, so refuse', async () => {
    const result = await runCli(['--db', dbWithPidFile(String(other.pid)), '--admin_token', ADMIN, '--port', '0']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/in use by another broker/);
  });
});
