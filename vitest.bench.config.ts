import { defineConfig } from 'vitest/config';

/** `npm run bench`: the benchmark runs as one long vitest "test" so it can use the test support code. */
export default defineConfig({
  test: {
    include: ['test/bench/run.ts'],
    disableConsoleIntercept: true,
    reporters: ['dot'],
    testTimeout: 3_600_000,
  },
});
