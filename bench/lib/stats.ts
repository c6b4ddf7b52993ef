// Latency histograms (fixed buckets, no per-sample allocation) and plain-text tables.
import { readFileSync } from 'node:fs';

/** Microsecond histogram: 25 µs buckets up to 100 ms, then 5 ms buckets up to 60 s. */
export class Histogram {
  private static readonly FINE_US = 25;
  private static readonly FINE_N = 4000; // 100 ms
  private static readonly COARSE_US = 5000;
  private static readonly COARSE_N = 12000; // 60 s
  private readonly fine = new Uint32Array(Histogram.FINE_N);
  private readonly coarse = new Uint32Array(Histogram.COARSE_N + 1);
  count = 0;
  max = 0;
  sum = 0;

  record(us: number): void {
    if (us < 0) us = 0;
    this.count++;
    this.sum += us;
    if (us > this.max) this.max = us;
    const f = (us / Histogram.FINE_US) | 0;
    if (f < Histogram.FINE_N) this.fine[f]++;
    else this.coarse[Math.min(Histogram.COARSE_N, ((us - 100_000) / Histogram.COARSE_US) | 0)]++;
  }

  /** The value (µs, bucket upper bound) below which a fraction q of samples lie. */
  percentile(q: number): number {
    if (this.count === 0) return NaN;
    const target = Math.ceil(this.count * q);
    let seen = 0;
    for (let i = 0; i < this.fine.length; i++) {
      seen += this.fine[i];
      if (seen >= target) return Math.min(this.max, (i + 1) * Histogram.FINE_US);
    }
    for (let i = 0; i < this.coarse.length; i++) {
      seen += this.coarse[i];
      if (seen >= target) return Math.min(this.max, 100_000 + (i + 1) * Histogram.COARSE_US);
    }
    return this.max;
  }

  summary(): LatencySummary {
    return {
      count: this.count,
      p50: this.percentile(0.5),
      p99: this.percentile(0.99),
      max: this.max,
      mean: this.count ? this.sum / this.count : NaN,
    };
  }
}

export interface LatencySummary {
  count: number;
  /** µs */
  p50: number;
  p99: number;
  max: number;
  mean: number;
}

/** What a server under test reports about itself (or what /proc says about nginx). */
export interface ServerStats {
  /** user + system CPU µs since the process started */
  cpuUs: number;
  rss: number;
  heapUsed?: number;
  external?: number;
  /** event-loop delay since the last reset, ms (Node servers only) */
  eld?: { p50: number; p99: number; max: number };
  deliveries?: number;
}

export function table(headers: string[], rows: Array<Array<string | number>>, align?: Array<'l' | 'r'>): string {
  const cells = rows.map((r) => r.map((c) => String(c)));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const fmt = (r: string[]) =>
    r
      .map((c, i) => ((align?.[i] ?? (i === 0 ? 'l' : 'r')) === 'l' ? c.padEnd(widths[i]) : c.padStart(widths[i])))
      .join('  ')
      .trimEnd();
  return [fmt(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(fmt)].join('\n');
}

export function fmtInt(n: number): string {
  if (!Number.isFinite(n)) return '-';
  return Math.round(n).toLocaleString('en-US');
}

export function fmtNum(n: number, digits = 1): string {
  if (!Number.isFinite(n)) return '-';
  return n.toFixed(digits);
}

export function ms(us: number): string {
  if (!Number.isFinite(us)) return '-';
  return (us / 1000).toFixed(us < 10_000 ? 2 : 1);
}

export function kib(bytes: number): string {
  if (!Number.isFinite(bytes)) return '-';
  return (bytes / 1024).toFixed(1);
}

export function mib(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Busy and total CPU time of the whole machine so far, µs (from /proc/stat; 0s if unavailable). */
export function machineCpu(): { busyUs: number; totalUs: number } {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal
    const idle = (f[3] ?? 0) + (f[4] ?? 0);
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    return { busyUs: ((total - idle) * 1e6) / 100, totalUs: (total * 1e6) / 100 };
  } catch {
    return { busyUs: 0, totalUs: 0 };
  }
}
