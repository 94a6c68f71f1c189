// `pnpm test:services`: the tests that need the servers of scripts/services.sh.
// The root config excludes them until CI starts those servers (issue 11); this
// one runs only them, with everything else the root config sets.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
import root from '../../vitest.config.js';

export default defineConfig({
  ...root,
  root: fileURLToPath(new URL('../..', import.meta.url)),
  test: { ...root.test, include: ['test/services/**/*.test.ts'], exclude: [] },
});
