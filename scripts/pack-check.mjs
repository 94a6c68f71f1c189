#!/usr/bin/env node
// Packs the three packages as they would be published and installs the
// tarballs into a fresh project with plain npm, then uses them from plain Node
// (ESM and CommonJS require()) and from TypeScript (typechecked against the
// published .d.ts, then run), the way a user's pipeline would; checks what a
// user debugs with (source maps reach shipped sources, README links work
// outside the repo); installs @larder/memory a second time with
// --ignore-scripts (no sqlite3 binding) and uses it; and type-checks and runs
// every TypeScript block of every README against the tarballs, with the
// tsconfig the READMEs document.
// Run after `pnpm build`.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkReadmeBlocks } from './readme-blocks.mjs';

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

const PACKAGES = ['store-fs', 'memory', 'parallel'];

/** Every source map in an installed package names files the package ships (or embeds). */
function checkSourceMaps(packageDir) {
  let maps = 0;
  for (const entry of readdirSync(join(packageDir, 'dist'), { recursive: true })) {
    if (!String(entry).endsWith('.map')) continue;
    const mapPath = join(packageDir, 'dist', String(entry));
    const map = JSON.parse(readFileSync(mapPath, 'utf8'));
    map.sources.forEach((source, index) => {
      const target = resolve(dirname(mapPath), map.sourceRoot ?? '', source);
      assert.ok(existsSync(target), `${mapPath} points at ${source}, which the package does not ship`);
      if (String(entry).endsWith('.js.map')) assert.equal(typeof map.sourcesContent?.[index], 'string', `${mapPath} does not embed ${source}`);
    });
    maps += 1;
  }
  assert.ok(maps > 0, `no source maps in ${packageDir}`);
}

/** Links in a shipped README must work on npm and in node_modules: absolute, or an anchor. */
function checkReadmeLinks(packageDir) {
  const text = readFileSync(join(packageDir, 'README.md'), 'utf8');
  for (const [, target] of text.matchAll(/\]\(([^)\s]+)[^)]*\)/g)) {
    assert.match(target, /^(https?:\/\/|#)/, `${packageDir}/README.md links to ${target}, which breaks outside the repository`);
  }
}

/**
 * store-fs ships its Node-API addon prebuilt, and nothing runs at install: no
 * install script, and no binding.gyp at the package root (npm would run
 * node-gyp for one). The prebuild must give real mapped typed arrays here.
 */
function checkPrebuiltAddon(packageDir) {
  const manifest = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8'));
  for (const hook of ['preinstall', 'install', 'postinstall']) assert.equal(manifest.scripts?.[hook], undefined, `@larder/store-fs must not have a ${hook} script`);
  assert.ok(!existsSync(join(packageDir, 'binding.gyp')), '@larder/store-fs must not ship binding.gyp at its root (npm would build it at install)');
  assert.ok(existsSync(join(packageDir, 'native', 'binding.gyp')), '@larder/store-fs ships native/binding.gyp for other platforms');
  if (`${process.platform}-${process.arch}` !== 'linux-x64') return;
  assert.ok(existsSync(join(packageDir, 'prebuilds', 'linux-x64', 'larder_mmap.node')), '@larder/store-fs ships its linux-x64 prebuild');
  const script = "import { dumpSync, loadSync } from '@larder/store-fs'; const f = process.argv[1] + '/m.larder'; dumpSync({ x: new Float64Array(1e5).fill(3) }, f); const { x } = loadSync(f, { mmap: 'r' }); if (!(x instanceof Float64Array) || x[5] !== 3) throw new Error('mmap load did not give a mapped Float64Array');";
  execFileSync('node', ['--input-type=module', '--throw-deprecation', '-e', script, work], { cwd: resolve(packageDir, '..', '..', '..'), stdio: 'inherit', env: plainEnv });
  console.log('pack-check: the prebuilt addon ships, maps files, and nothing runs at install');
}

try {
  const tarballs = join(work, 'tarballs');
  for (const name of PACKAGES) {
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
  run('node', ['--enable-source-maps', 'consumer.cjs'], project);
  run('npx', ['tsc', '-p', 'tsconfig.json'], project);
  run('node', ['dist/consumer.js'], project);
  checkPrebuiltAddon(join(project, 'node_modules', '@larder', 'store-fs'));
  for (const name of PACKAGES) {
    checkSourceMaps(join(project, 'node_modules', '@larder', name));
    checkReadmeLinks(join(project, 'node_modules', '@larder', name));
  }
  console.log('pack-check: source maps reach shipped sources; README links are absolute');
  // A second consumer installed with --ignore-scripts (locked-down CI, npm 12's default for
  // dependency scripts): sqlite3's binding is never built, and @larder/memory must still work.
  const bare = join(work, 'ignore-scripts');
  mkdirSync(bare);
  cpSync(join(fixtures, 'no-driver.mjs'), join(bare, 'no-driver.mjs'));
  writeFileSync(join(bare, 'package.json'), JSON.stringify({ name: 'larder-consumer-ignore-scripts', private: true, type: 'module' }, null, 2));
  run('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund', ...packed.filter((file) => !/parallel/.test(file))], bare);
  run('node', ['no-driver.mjs'], bare);
  checkReadmeBlocks(root, project, plainEnv);
  console.log('pack-check: the published packages install and work from plain Node (ESM and require()) and TypeScript');
} finally {
  if (keep) console.log(`kept ${work}`);
  else rmSync(work, { recursive: true, force: true });
}
