import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Each file starts its own servers on ephemeral ports in temp dirs, so files run in parallel. Most of a
    // file's time is spent waiting (timers, child processes, fsync), so 3 files at once on 2 cores cut
    // the run from ~610 s to ~420 s (vitest's default here is cores - 1 = 1, i.e. one file at a time).
    pool: 'forks',
    maxWorkers: 3,
  },
});
