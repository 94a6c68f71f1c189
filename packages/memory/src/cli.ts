#!/usr/bin/env node
/**
 * The `larder` command: look into and tidy a cache location.
 *
 *   larder stats [location] [--json]
 *   larder ls    [location] [--json]
 *   larder prune [location] [--bytes-limit 10G] [--age-limit 30d] [--items-limit N] [--json]
 *   larder clear [location] [--function name] [--json]
 *
 * `location` defaults to $LARDER_LOCATION, then the current folder. Exit
 * codes: 0 done, 1 failed, 2 bad usage or a folder that is not a larder cache
 * (`prune`, `clear` and `reconcile` refuse a folder larder did not mark and
 * cannot adopt; `stats` and `ls` change nothing in a folder larder did not mark).
 */
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { MemoryError } from './errors.js';
import { MARKER_FILE } from './location.js';
import { Memory } from './memory.js';
import { resolveLimits, type ReduceSizeOptions } from './reduce-size.js';
import type { CacheStats, EntrySummary } from './stats.js';
import { formatBytes, formatDuration } from './units.js';

const USAGE = `Usage: larder <command> [location] [options]

Commands:
  stats   entries, bytes, hits, misses and compute time saved, per function
  ls      every entry: function, size, created, last access, hits
  prune   remove least recently used entries until the limits hold
            --bytes-limit <size>   e.g. 500M, 10G (base 1024)
            --age-limit <duration> e.g. 30d, 12h (by last access)
            --items-limit <n>
  clear   remove every entry, or only one function's with --function <name>
  reconcile
          make the index agree with the result files (after crashes, or clears
          that raced other writers): rows for files it lost, none for files gone

Options:
  --json    print JSON instead of text
  --help    show this help

location defaults to $LARDER_LOCATION, then the current folder.`;

class UsageError extends Error {}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ').trimEnd()).join('\n');
}

function statsText(location: string, stats: CacheStats): string {
  const lines = [
    `location            ${location}`,
    `entries             ${stats.entries} (${formatBytes(stats.bytes)})`,
    `hits / misses       ${stats.hits} / ${stats.misses}`,
    `compute time saved  ${formatDuration(stats.computeTimeSavedMs)}`,
  ];
  const names = Object.keys(stats.perFunction).sort();
  if (names.length > 0) {
    const rows = [['function', 'entries', 'size', 'hits', 'misses', 'saved']];
    for (const name of names) {
      const fn = stats.perFunction[name]!;
      rows.push([name, String(fn.entries), formatBytes(fn.bytes), String(fn.hits), String(fn.misses), formatDuration(fn.computeTimeSavedMs)]);
    }
    lines.push('', table(rows));
  }
  return lines.join('\n');
}

function lsText(entries: EntrySummary[]): string {
  if (entries.length === 0) return 'no entries';
  const when = (ms: number) => new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
  const rows = [['function', 'id', 'size', 'created', 'last access', 'hits']];
  for (const entry of [...entries].sort((a, b) => b.lastAccessMs - a.lastAccessMs)) {
    rows.push([entry.functionName, entry.id.slice(entry.id.indexOf('/') + 1), formatBytes(entry.bytes), when(entry.createdMs), when(entry.lastAccessMs), String(entry.hits)]);
  }
  return table(rows);
}

const LIMIT_FLAGS: Record<string, string> = { bytesLimit: '--bytes-limit', ageLimit: '--age-limit', itemsLimit: '--items-limit' };

/** prune's limits, checked before anything is opened: a bad value is a usage error (exit 2), named by its flag. */
function pruneLimits(values: { 'bytes-limit'?: string | undefined; 'age-limit'?: string | undefined; 'items-limit'?: string | undefined }): ReduceSizeOptions {
  const itemsText = values['items-limit'];
  const limits: ReduceSizeOptions = { bytesLimit: values['bytes-limit'], ageLimit: values['age-limit'], itemsLimit: itemsText === undefined ? undefined : Number(itemsText) };
  if (limits.bytesLimit === undefined && limits.ageLimit === undefined && limits.itemsLimit === undefined) {
    throw new UsageError('prune needs at least one of --bytes-limit, --age-limit, --items-limit');
  }
  if (itemsText !== undefined && !/^\d+$/.test(itemsText.trim())) throw new UsageError(`--items-limit must be a whole number, got ${JSON.stringify(itemsText)}`);
  try {
    resolveLimits(limits);
  } catch (error) {
    const message = (error as Error).message.replace(/^\[larder\/memory\] /, '');
    throw new UsageError(message.replace(/\b(bytesLimit|ageLimit|itemsLimit)\b/g, (name) => LIMIT_FLAGS[name]!));
  }
  return limits;
}

/** Runs the command line `argv` (without node and the script); returns the exit code. */
async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
        'bytes-limit': { type: 'string' }, 'age-limit': { type: 'string' }, 'items-limit': { type: 'string' },
        function: { type: 'string' },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  const [command, where, ...extra] = positionals;
  if (values.help || command === undefined) return void process.stdout.write(`${USAGE}\n`), values.help ? 0 : 2;
  if (!['stats', 'ls', 'prune', 'clear', 'reconcile'].includes(command)) throw new UsageError(`unknown command "${command}"`);
  if (extra.length > 0) throw new UsageError(`unexpected arguments: ${extra.join(' ')}`);
  const location = resolve(where ?? process.env.LARDER_LOCATION ?? '.');
  if (existsSync(location) && !statSync(location).isDirectory()) throw new UsageError(`${location} is not a larder cache: it is a file, not a folder`);
  if (!['results', 'index.sqlite', MARKER_FILE].some((name) => existsSync(join(location, name)))) {
    throw new UsageError(`${location} is not a larder cache (no ${MARKER_FILE}, results/ or index.sqlite in it); pass the folder given to new Memory(...)`);
  }
  const limits = command === 'prune' ? pruneLimits(values) : undefined;
  const memory = new Memory(location, { onWarning: (w) => void process.stderr.write(`warning: ${w.message}\n`) });
  const print = (json: unknown, text: string) => void process.stdout.write(`${values.json ? JSON.stringify(json, null, 2) : text}\n`);
  try {
    if (command === 'stats') {
      const stats = await memory.stats();
      print({ location, ...stats }, statsText(location, stats));
    } else if (command === 'ls') {
      const entries = await memory.list();
      print(entries, lsText(entries));
    } else if (command === 'prune') {
      const result = await memory.reduceSize(limits);
      print(result, `removed ${result.removed} ${result.removed === 1 ? 'entry' : 'entries'}, freed ${formatBytes(result.freedBytes)}`);
    } else if (command === 'reconcile') {
      const result = await memory.reconcile();
      print(result, `index rows added for ${result.added} ${result.added === 1 ? 'file' : 'files'}, removed for ${result.removed} missing ${result.removed === 1 ? 'file' : 'files'}`);
    } else {
      const name = values.function;
      const removed = name === undefined ? (await memory.list()).length : await memory.clearFunction(name);
      if (name === undefined) await memory.clear();
      print({ removed, function: name ?? null }, `removed ${removed} ${removed === 1 ? 'entry' : 'entries'}${name === undefined ? '' : ` of ${name}`}`);
    }
  } finally {
    await memory.close();
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => void (process.exitCode = code),
  (error: unknown) => {
    // A folder that is not a larder cache is the caller's mistake, like bad usage: exit 2.
    const usage = error instanceof UsageError || (error instanceof MemoryError && error.code === 'LARDER_NOT_A_CACHE');
    process.stderr.write(`larder: ${(error as Error)?.message ?? String(error)}\n${error instanceof UsageError ? "Run 'larder --help' for usage.\n" : ''}`);
    process.exitCode = usage ? 2 : 1;
  },
);
