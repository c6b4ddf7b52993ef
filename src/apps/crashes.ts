// Crash reports: grouped by error and the stack's first line (a report), identical crashes (platform,
// version, error, stack) counted instead of stored again. Sizes are bounded and reports rate-limited
// per key, so a buggy or hostile client cannot fill the disk. Archiving drops matching crashes for good.
import { sha256Hex } from '../lib/digest.js';
import type { CrashReport, CrashStore, IndividualCrash } from '../storage/crashes.js';
import { badRequest, tooMany } from './errors.js';

export const MAX_ERROR_BYTES = 4 * 1024;
export const MAX_STACK_BYTES = 64 * 1024;
export const MAX_INDIVIDUALS = 1000;
/** Bytes of individual crashes one report keeps (1,000 stacks of 64 KiB would be 64 MiB to rewrite). */
export const MAX_REPORT_BYTES = 1024 * 1024;
const MAX_FIELD_BYTES = 256;
const MAX_EXTRAS_BYTES = 8 * 1024;
/** What GET /crash answers at most. */
const MAX_LIST = 1000;
const MAX_LIST_BYTES = 8 * 1024 * 1024;

export interface NewCrash {
  platform: string;
  version: string;
  error: string;
  stack: string;
  extras?: unknown;
}

export interface ArchiveRequest {
  error: string;
  stack: string;
  platform: string;
}

const firstLineOf = (stack: string) => stack.split('\n', 1)[0].trim();
const reportId = (error: string, stack: string) => sha256Hex(`${error}\0${firstLineOf(stack)}`).slice(0, 32);
const archiveDigest = (platform: string, error: string, stack: string) => sha256Hex(`${platform}\0${error}\0${stack}`);
const sizeOf = (c: IndividualCrash) =>
  Buffer.byteLength(c.stack) +
  Buffer.byteLength(c.error) +
  (c.extras === undefined ? 0 : JSON.stringify(c.extras).length);

export class Crashes {
  private readonly windows = new Map<string, { start: number; n: number }>();

  constructor(
    private readonly store: CrashStore,
    private readonly now: () => number,
    /** Reports a key may send a minute (0 = unlimited). */
    private readonly perKeyPerMinute: number,
  ) {}

  async report(appId: string, keyId: string, crash: NewCrash): Promise<void> {
    check(crash);
    this.limit(keyId);
    const { platform, error, stack } = crash;
    if (
      this.store.isArchived(appId, archiveDigest(platform, error, stack)) ||
      this.store.isArchived(appId, archiveDigest('all', error, stack))
    )
      return;
    const id = reportId(error, stack);
    await this.store.update(appId, id, (current) => {
      const report: CrashReport = current ?? { id, error, firstLine: firstLineOf(stack), individual: [] };
      const same = report.individual.find(
        (c) => c.platform === platform && c.version === crash.version && c.error === error && c.stack === stack,
      );
      if (same) {
        same.count++;
        return report;
      }
      const individual: IndividualCrash = { platform, version: crash.version, error, stack, count: 1 };
      if (crash.extras !== undefined) individual.extras = crash.extras;
      const bytes = report.individual.reduce((sum, c) => sum + sizeOf(c), 0) + sizeOf(individual);
      // Full: a new kind of crash is not kept (those already kept still count).
      if (report.individual.length >= MAX_INDIVIDUALS || bytes > MAX_REPORT_BYTES) return false;
      report.individual.push(individual);
      return report;
    });
  }

  list(appId: string): CrashReport[] {
    const out: CrashReport[] = [];
    let bytes = 0;
    for (const report of this.store.list(appId, MAX_LIST)) {
      bytes += report.individual.reduce((sum, c) => sum + sizeOf(c), 0);
      if (bytes > MAX_LIST_BYTES) break;
      out.push(report);
    }
    return out;
  }

  async delete(appId: string, id: string): Promise<boolean> {
    if (id.length > 64) return false;
    return this.store.delete(appId, id);
  }

  async archive(appId: string, request: ArchiveRequest): Promise<void> {
    check({ ...request, version: '' });
    const { platform, error, stack } = request;
    await this.store.archive(appId, archiveDigest(platform, error, stack));
    await this.store.update(appId, reportId(error, stack), (current) => {
      if (!current) return false;
      current.individual = current.individual.filter(
        (c) => !(c.error === error && c.stack === stack && (platform === 'all' || c.platform === platform)),
      );
      return current.individual.length > 0 ? current : undefined;
    });
  }

  /** A fixed one-minute window per key (bounded: one entry per key, and keys are bounded). */
  private limit(keyId: string): void {
    if (this.perKeyPerMinute === 0) return;
    const now = this.now();
    const window = this.windows.get(keyId);
    if (!window || now - window.start >= 60_000) {
      if (this.windows.size >= 10_000) this.windows.clear();
      this.windows.set(keyId, { start: now, n: 1 });
    } else if (++window.n > this.perKeyPerMinute)
      throw tooMany(`more than ${this.perKeyPerMinute} crash reports a minute with this key: retry later`);
  }
}

function check(crash: NewCrash): void {
  if (Buffer.byteLength(crash.error) > MAX_ERROR_BYTES)
    throw badRequest(`error must be at most ${MAX_ERROR_BYTES} bytes`);
  if (Buffer.byteLength(crash.stack) > MAX_STACK_BYTES)
    throw badRequest(`stack must be at most ${MAX_STACK_BYTES} bytes`);
  if (Buffer.byteLength(crash.platform) > MAX_FIELD_BYTES || Buffer.byteLength(crash.version) > MAX_FIELD_BYTES)
    throw badRequest(`platform and version must be at most ${MAX_FIELD_BYTES} bytes`);
  if (crash.extras !== undefined && JSON.stringify(crash.extras).length > MAX_EXTRAS_BYTES)
    throw badRequest(`extras must be at most ${MAX_EXTRAS_BYTES} bytes of JSON`);
}
