// `pnpm test:services`: the tests that need the servers of scripts/services.sh.
// The root config excludes them until CI starts those servers (issue 11); this
// one runs only them, with everything else the root config sets.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
import root from '../../vitest.config.js';

export default defineConfig({
  ...root,
  // Vitest passes ssr.resolve.conditions to the worker processes as Node's --conditions. With
  // 'import' among them, Node (>= 20.19, require(esm)) answers require('pg-pool') inside pg with
  // the ESM build's namespace and pg fails to load ("Class extends value [object Module]"); the
  // resolver adds import/require by itself, so it is left out here.
  ssr: { ...root.ssr, resolve: { ...root.ssr?.resolve, conditions: (root.ssr?.resolve?.conditions ?? []).filter((c) => c !== 'import') } },
  root: fileURLToPath(new URL('../..', import.meta.url)),
  test: { ...root.test, include: ['test/services/**/*.test.ts'], exclude: [] },
});
