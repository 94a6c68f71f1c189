#!/usr/bin/env node
// Packs the three packages as they would be published and installs the
// tarballs into a fresh project with plain npm, then uses them from plain Node
// (ESM) and from TypeScript (typechecked against the published .d.ts, then
// run), the way a user's pipeline would. Run after `pnpm build`.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
const fixtures = join(root, 'scripts', 'pack-check');
const work = mkdtempSync(join(tmpdir(), 'larder-pack-'));
const keep = process.argv.includes('--keep');

// The consumer is a plain npm user: pnpm's npm_config_* variables (set
// because `pnpm pack-check` runs this script) must not reach its npm.
const plainEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name)));

function run(command, args, cwd) {
  console.log(`$ ${command} ${args.join(' ')}`);
  execFileSync(command, args, { cwd, stdio: 'inherit', env: { ...plainEnv, npm_config_yes: 'true' } });
}

try {
  const tarballs = join(work, 'tarballs');
  for (const name of ['store-fs', 'memory', 'parallel']) {
    // pnpm pack rewrites workspace: ranges to real versions, as publishing does.
    run('pnpm', ['pack', '--pack-destination', tarballs], join(root, 'packages', name));
  }
  const project = join(work, 'project');
  cpSync(fixtures, project, { recursive: true });
  writeFileSync(
    join(project, 'package.json'),
    JSON.stringify({ name: 'larder-consumer', private: true, type: 'module' }, null, 2),
  );
  const packed = readdirSync(tarballs).map((file) => join(tarballs, file));
  // All three tarballs in one install: @larder/memory's dependency on
  // @larder/store-fs is satisfied by the local tarball, never the registry.
  run('npm', ['install', '--no-audit', '--no-fund', ...packed, 'typescript@~5.9.3', '@types/node@^20.19.0'], project);
  run('node', ['consumer.mjs'], project);
  run('npx', ['tsc', '-p', 'tsconfig.json'], project);
  run('node', ['dist/consumer.js'], project);
  console.log('pack-check: the published packages install and work from plain Node and TypeScript');
} finally {
  if (keep) console.log(`kept ${work}`);
  else rmSync(work, { recursive: true, force: true });
}
