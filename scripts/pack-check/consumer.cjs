// CommonJS, as tslab compiles notebook cells and as older pipelines are
// written: each package must load through require() (Node >= 20.19 loads
// ESM that way, unless a module in the graph has top-level await:
// ERR_REQUIRE_ASYNC_MODULE). A larder error's stack, with
// --enable-source-maps, must name the TypeScript source shipped in the package.
const assert = require('node:assert/strict');
const { mkdtempSync, rmSync, writeFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');

const storeFs = require('@larder/store-fs');
const { checksumString } = require('@larder/store-fs/checksum');
const memory = require('@larder/memory');
const parallel = require('@larder/parallel');

assert.equal(typeof storeFs.dumpSync, 'function');
assert.equal(checksumString('abc'), '44bc2cf5ad770999');
assert.match(memory.hash({ a: [1, 2, 3] }), /^[0-9a-f]{16,}$/);
assert.equal(typeof parallel.Parallel, 'function');

const dir = mkdtempSync(join(tmpdir(), 'larder-cjs-'));
try {
  storeFs.dumpSync({ x: new Float64Array([1, 2]) }, join(dir, 'x.larder'));
  assert.deepEqual(Array.from(storeFs.loadSync(join(dir, 'x.larder')).x), [1, 2]);
  writeFileSync(join(dir, 'junk.larder'), 'not a larder file at all, just text');
  let stack = '';
  try {
    storeFs.loadSync(join(dir, 'junk.larder'));
  } catch (error) {
    assert.equal(error.code, 'LARDER_FORMAT');
    stack = String(error.stack);
  }
  if (process.execArgv.includes('--enable-source-maps')) {
    assert.match(stack, /node_modules[\\/]@larder[\\/]store-fs[\\/]src[\\/]\w[\w-]*\.ts:\d+:\d+/, `the stack names no shipped source file:\n${stack}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log('consumer.cjs: the three packages load through require(), and stack traces name their .ts sources');
