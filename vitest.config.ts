import { configDefaults, defineConfig } from 'vitest/config';

// Tests import the packages by name, as a user would. The "larder-source"
// export condition points those names at src/*.ts, so no build is needed.
// Worker threads and child processes started by tests run plain Node, so they
// get the same condition (and tsx for .ts files) through execArgv.
export default defineConfig({
  resolve: { conditions: ['larder-source', 'import', 'module', 'node', 'default'] },
  ssr: { resolve: { conditions: ['larder-source', 'import', 'node', 'default'], externalConditions: ['larder-source'] } },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    // Tests that need scripts/services.sh's servers run by `pnpm test:services` (test/services/vitest.config.ts): a run of their own in CI, after .ci/run starts the servers.
    exclude: [...configDefaults.exclude, 'test/services/**'],
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1, execArgv: ['--conditions=larder-source'] } },
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
