// Every ```ts block of every README, laid out as files of a scratch project
// so pack-check can type-check them (and run them) against the packed
// tarballs, with the tsconfig the package READMEs tell a Node 20 user to use.
//
// A block is one file, unless it holds lines like `// tasks.ts — ...`: each
// such line starts a new file of that name, so a block can show a task module
// and the program that imports it. Each block gets its own folder, so two
// blocks may both show a `tasks.ts`.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The READMEs whose TypeScript must compile: the root, each package, the examples. */
export const READMES = ['README.md', 'packages/store-fs/README.md', 'packages/memory/README.md', 'packages/parallel/README.md', 'examples/README.md'];

const FILE_LINE = /^\/\/ ([\w.-]+\.ts)\b/;

/** The ```ts blocks of one markdown text, each with the line it starts on. */
export function tsBlocks(markdown) {
  const blocks = [];
  let current;
  markdown.split('\n').forEach((line, index) => {
    if (current === undefined && /^```(ts|typescript)\s*$/.test(line)) current = { line: index + 2, lines: [] };
    else if (current !== undefined && /^```\s*$/.test(line)) {
      blocks.push({ line: current.line, code: current.lines.join('\n') });
      current = undefined;
    } else current?.lines.push(line);
  });
  return blocks;
}

/** Splits a block into its files (see the header comment). */
export function blockFiles(code) {
  const files = [];
  let current = { name: 'main.ts', lines: [] };
  for (const line of code.split('\n')) {
    const named = FILE_LINE.exec(line);
    if (named) {
      if (current.lines.some((l) => l.trim() !== '')) files.push(current);
      current = { name: named[1], lines: [] };
    }
    current.lines.push(line);
  }
  files.push(current);
  return files.map(({ name, lines }) => ({ name, code: `${lines.join('\n')}\n` }));
}

/** The first ```json block holding `"compilerOptions"` in a markdown text: the documented tsconfig. */
export function documentedTsconfig(markdown) {
  for (const [, body] of markdown.matchAll(/^```jsonc?\n([\s\S]*?)\n```$/gm)) {
    if (body.includes('"compilerOptions"')) return JSON.parse(body);
  }
  throw new Error('no tsconfig block (a ```json block with "compilerOptions") in the README');
}

/**
 * Writes each README's blocks under `project/readme-blocks/<readme>-L<line>/`
 * and returns their folders with where each came from.
 */
export function writeReadmeBlocks(root, project) {
  const written = [];
  for (const readme of READMES) {
    const blocks = tsBlocks(readFileSync(join(root, readme), 'utf8'));
    for (const block of blocks) {
      const folder = join(project, 'readme-blocks', `${readme.replace(/\W+/g, '-')}-L${block.line}`);
      mkdirSync(folder, { recursive: true });
      const files = blockFiles(block.code);
      for (const file of files) writeFileSync(join(folder, file.name), file.code);
      written.push({ source: `${readme}:${block.line}`, folder: relative(project, folder), files: files.map((f) => f.name) });
    }
  }
  return written;
}

/**
 * The package READMEs document one tsconfig for Node 20 users; the README
 * blocks compile with it (plus where to find and put files) in `project`,
 * where the packed tarballs are installed, and then each runs in a fresh
 * folder. `env` is the plain user's environment.
 */
export function checkReadmeBlocks(root, project, env) {
  const configs = ['store-fs', 'memory', 'parallel'].map((name) => documentedTsconfig(readFileSync(join(root, 'packages', name, 'README.md'), 'utf8')));
  for (const config of configs) assert.deepEqual(config, configs[0], 'the package READMEs document different tsconfigs');
  const blocks = writeReadmeBlocks(root, project);
  writeFileSync(
    join(project, 'tsconfig.readme.json'),
    JSON.stringify({ compilerOptions: { ...configs[0].compilerOptions, rootDir: 'readme-blocks', outDir: 'readme-dist' }, include: ['readme-blocks'] }, null, 2),
  );
  console.log('$ npx tsc -p tsconfig.readme.json');
  execFileSync('npx', ['tsc', '-p', 'tsconfig.readme.json'], { cwd: project, stdio: 'inherit', env });
  for (const block of blocks) {
    const main = block.files.includes('main.ts') ? 'main.ts' : block.files.at(-1);
    const script = join(project, 'readme-dist', relative('readme-blocks', block.folder), main.replace(/\.ts$/, '.js'));
    const cwd = mkdtempSync(join(project, 'run-'));
    console.log(`$ node ${relative(project, script)}   # ${block.source}`);
    execFileSync('node', [script], { cwd, stdio: 'inherit', env, timeout: 120_000 });
  }
  console.log(`readme-blocks: ${blocks.length} README TypeScript blocks type-check and run against the tarballs`);
}

// `node scripts/readme-blocks.mjs PROJECT`: the check alone, in a project
// that `node scripts/pack-check.mjs --keep` left behind.
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
  checkReadmeBlocks(root, resolve(process.argv[2] ?? '.'), process.env);
}
