// A consumer installed with `npm install --ignore-scripts`: sqlite3's install
// script never ran, so its native binding does not exist. Importing
// @larder/memory must still work, and so must hash(), a miss and a hit; on a
// runtime without built-in SQLite (Node < 22.13) one LARDER_MISSING_DRIVER
// warning says how to fix it, and stats still answer (from the files).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hash, Memory } from '@larder/memory';

const require = createRequire(import.meta.url);
assert.throws(() => require('sqlite3'), /bindings|Cannot find module/, 'sqlite3 loads: this consumer was meant to be installed with --ignore-scripts');
assert.match(hash({ a: [1, 2, 3] }), /^[0-9a-f]{16}$/);

const location = mkdtempSync(join(tmpdir(), 'larder-no-driver-'));
try {
  const warnings = [];
  const memory = new Memory(location, { onWarning: (w) => warnings.push(w) });
  let runs = 0;
  const square = memory.cache(function square(x) { runs++; return x * x; });
  assert.equal(await square(12), 144); // a miss
  assert.equal(await square(12), 144); // a hit
  assert.equal(runs, 1);
  const stats = await memory.stats();
  assert.equal(stats.entries, 1);
  assert.equal(stats.hits, 1);
  await memory.close();
  const [major, minor] = process.versions.node.split('.').map(Number);
  const builtIn = major > 22 || (major === 22 && minor >= 13);
  if (builtIn) {
    assert.deepEqual(warnings.map((w) => w.code), [], 'node:sqlite should have served the index');
  } else {
    assert.deepEqual(warnings.map((w) => w.code), ['LARDER_MISSING_DRIVER']);
    for (const fix of ['npm install-scripts approve sqlite3', 'npm rebuild sqlite3', 'onlyBuiltDependencies', 'pnpm rebuild sqlite3']) {
      assert.ok(warnings[0].message.includes(fix), `the warning does not say "${fix}": ${warnings[0].message}`);
    }
    console.log(`warning seen: ${warnings[0].message}`);
  }
  console.log(`no-driver consumer (Node ${process.versions.node}): import, hash, a miss and a hit work without sqlite3's binding`);
} finally {
  rmSync(location, { recursive: true, force: true });
}
