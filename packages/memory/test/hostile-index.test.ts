/**
 * An index.sqlite whose rows someone else wrote: keys, function folders and
 * bodies that name `..`, an absolute path or a folder beside the location.
 * The index is the authority for listing, never for where a file is: every
 * deletion goes through an entry key larder's own pattern accepts, so a
 * hostile row is passed over (or its record dropped) and nothing outside the
 * location is touched.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sqlite3 from 'sqlite3';
import { describe, expect, it } from 'vitest';
import { Memory, type MemoryWarning } from '@larder/memory';
import { larder, snapshot, tempDir } from './helpers.js';

function sql(file: string, statements: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const db = new sqlite3.Database(file, (error) => {
      if (error) return reject(error);
      db.exec(statements, (e: Error | null) => db.close(() => (e ? reject(e) : resolve())));
    });
  });
}

function sqlAll(file: string, query: string): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const db = new sqlite3.Database(file, (error) => {
      if (error) return reject(error);
      db.all(query, (e: Error | null, rows: unknown[]) => db.close(() => (e ? reject(e) : resolve(rows))));
    });
  });
}

/** A real cache at parent/cache with two entries, victims beside it and at an absolute path, and hostile rows naming them. */
async function hostileIndex(): Promise<{ parent: string; location: string; victims: string }> {
  const parent = tempDir();
  const victims = tempDir();
  const location = join(parent, 'cache');
  for (const dir of [join(parent, 'victim'), join(victims, 'f', 'b')]) mkdirSync(dir, { recursive: true });
  writeFileSync(join(parent, 'victim', 'keep.txt'), 'keep');
  writeFileSync(join(parent, 'victim.larder'), 'keep');
  writeFileSync(join(victims, 'f', 'b', 'keep.larder'), 'keep');
  const memory = new Memory(location);
  const square = memory.cache((x: number) => x * x, { name: 'square' });
  await square(2);
  await square(3);
  await memory.close();
  const now = Date.now();
  const rows: [string, string, string][] = [
    ['../victim', '..', 'victim'],
    ['../victim/keep.txt', '..', 'victim'],
    [`${victims}/f/b/keep`, victims, 'f'],
    ['square/../../victim', 'square', '..'],
    ['..', '..', '..'],
    ['/', '/', '/'],
    ['square/\u001b]0;pwned\u0007\u001b[2J', 'square\u001b[31m', 'b'],
    ['square/\u009b2J\u009d0;c1\u009c\u007f', 'square\u009b31m', 'b'],
    ['\u00e9t\u00e9/\u00ff', '\u00e9t\u00e9', '\u00ff'],
  ];
  const values = rows.map(([key, folder, body]) => `('${key}', '${folder}', '${body}', 'square', 10, ${now - 1e9}, ${now - 1e9}, 1, 0)`).join(', ');
  await sql(
    join(location, 'index.sqlite'),
    `INSERT INTO larder_entries VALUES ${values};
     INSERT OR IGNORE INTO larder_functions VALUES ('..', 'square', 0, 0, 0), ('${victims}', 'square', 0, 0, 0);
     INSERT OR IGNORE INTO larder_bodies VALUES ('..', 'victim', 'square', ${now - 1e10}, ${now - 1e10}), ('${victims}', 'f', 'square', ${now - 1e10}, ${now - 1e10}), ('square', '..', 'square', ${now - 1e10}, ${now - 1e10});`,
  );
  return { parent, location, victims };
}

describe('a forged marker', () => {
  it("a project folder with a planted larder-cache.json: clear, reduceSize and larder clear remove only what has larder's file pattern, never the project's files", async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'results', 'figures'), { recursive: true });
    mkdirSync(join(dir, 'results', 'square', '0123456789abcdef'), { recursive: true });
    writeFileSync(join(dir, 'results', 'paper.tex'), '\\documentclass{article}');
    writeFileSync(join(dir, 'results', 'figures', 'fig1.png'), 'png');
    writeFileSync(join(dir, 'results', 'square', '0123456789abcdef', 'notes.txt'), 'inside a folder of larder\'s shape');
    writeFileSync(join(dir, 'notes.md'), '# notes');
    writeFileSync(join(dir, 'larder-cache.json'), `${JSON.stringify({ larder: '@larder/memory', layout: 1 })}\n`);
    const before = snapshot(dir);
    const memory = new Memory(dir, { onWarning: () => {} });
    try {
      await memory.clear();
      await memory.reduceSize({ itemsLimit: 0 });
      await memory.clearStale();
    } finally {
      await memory.close();
    }
    expect(larder('clear', dir).code).toBe(0);
    const after = snapshot(dir);
    for (const [path, state] of Object.entries(before)) expect(after[path], path).toBe(state);
  }, 60_000);
});

describe('an index whose rows name files outside the location', () => {
  it('hostile index: stats, entries, reduceSize, clearStale and clear delete nothing outside the location and do not crash', async () => {
    const { parent, location, victims } = await hostileIndex();
    const outside = { parent: snapshot(join(parent, 'victim')), file: snapshot(victims) };
    const warnings: MemoryWarning[] = [];
    const memory = new Memory(location, { onWarning: (w) => void warnings.push(w), staleAfter: 1 });
    try {
      await memory.stats();
      for await (const entry of memory.entries()) void entry;
      await memory.clearStale();
      await memory.reduceSize({ itemsLimit: 0 });
      await memory.clear();
    } finally {
      await memory.close();
    }
    expect(snapshot(join(parent, 'victim'))).toEqual(outside.parent);
    expect(snapshot(victims)).toEqual(outside.file);
    expect(snapshot(parent)['victim.larder']).toMatch(/^file /);
  });

  it('clear() leaves no index record behind, whatever characters a forged key starts with', async () => {
    const { location } = await hostileIndex();
    const memory = new Memory(location, { onWarning: () => {} });
    try {
      await memory.clear();
    } finally {
      await memory.close();
    }
    expect(await sqlAll(join(location, 'index.sqlite'), 'SELECT key FROM larder_entries')).toEqual([]);
  });

  it('regression: index rows whose numbers are text or Infinity read as 0: larder ls printed nothing past them ("Invalid time value", exit 1), stats said NaN', async () => {
    const location = tempDir();
    const memory = new Memory(location);
    await memory.cache(function f(x: number) { return x; }, { name: 'f' })(1);
    await memory.close();
    await sql(join(location, 'index.sqlite'), `
      INSERT INTO larder_entries VALUES ('f/11e722d25ec2f4de/aaaaaaaaaaaaaaaa', 'f', '11e722d25ec2f4de', '"f"', 'lots', 'x', 9e999, -9e999, 'many');
      INSERT INTO larder_entries VALUES ('g/1111111111111111/bbbbbbbbbbbbbbbb', 'g', '1111111111111111', '"g"', 1, 1e300, 0, 0, 0);
      INSERT INTO larder_functions VALUES ('g', '"g"', 'x', 'y', 9e999);`);
    const ls = larder('ls', location);
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.stdout).toContain('aaaaaaaaaaaaaaaa');
    expect(ls.stdout).toContain('bbbbbbbbbbbbbbbb');
    const stats = larder('stats', location, '--json');
    expect(stats.code, stats.stderr).toBe(0);
    expect(stats.stdout).not.toMatch(/null|NaN|Infinity/);
    const reader = new Memory(location);
    try {
      for await (const entry of reader.entries()) {
        for (const field of ['bytes', 'createdMs', 'lastAccessMs', 'computeMs', 'hits'] as const) expect(Number.isFinite(entry[field]), `${entry.id} ${field}`).toBe(true);
      }
    } finally {
      await reader.close();
    }
  }, 120_000);

  it('hostile index: larder ls, stats, prune, reconcile and clear delete nothing outside the location and exit 0', async () => {
    const { parent, location, victims } = await hostileIndex();
    const outside = { parent: snapshot(join(parent, 'victim')), file: snapshot(victims) };
    for (const args of [['ls', location], ['ls', location, '--json'], ['stats', location], ['stats', location, '--json'], ['prune', location, '--stale'], ['prune', location, '--items-limit', '0'], ['reconcile', location], ['clear', location]]) {
      const run = larder(...args);
      expect(run.code, `${args.join(' ')}: ${run.stderr}`).toBe(0);
      // The rows are listed (the index is the authority for listing), and their control characters are not sent to the terminal.
      if (args[0] === 'ls') expect(run.stdout).toContain('../victim');
      // Neither C0 (ESC, BEL) nor DEL and C1 (CSI, OSC, ST): text escapes them, --json as \\u escapes that parse back.
      if (args[0] === 'ls' || args[0] === 'stats') expect(run.stdout).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
      if (args.includes('--json') && args[0] === 'ls') expect(run.stdout.trim().split('\n').map((line) => (JSON.parse(line) as { id: string }).id)).toContain('square/\u009b2J\u009d0;c1\u009c\u007f');
    }
    expect(snapshot(join(parent, 'victim'))).toEqual(outside.parent);
    expect(snapshot(victims)).toEqual(outside.file);
    expect(snapshot(parent)['victim.larder']).toMatch(/^file /);
  }, 120_000);
});
