#!/usr/bin/env node
/**
 * The `larder` command: look into and tidy a cache location.
 *
 *   larder stats     [location] [--json]
 *   larder ls        [location] [--json] [--function name] [--stale]     streams; --json is NDJSON
 *   larder prune     [location] [--stale] [--bytes-limit 10G] [--age-limit 30d] [--items-limit N] [--json]
 *   larder clear     [location] [--function name] [--json]
 *   larder reconcile [location] [--json]
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
import { once } from 'node:events';
import { formatBytes, formatDuration, parseDuration } from './units.js';

const USAGE = `Usage: larder <command> [location] [options]

Commands:
  stats   entries, bytes, hits, misses, compute time saved and stale entries, per function
  ls      every entry, streamed from the index: function, id, size, created, last access, hits
            --json                 one JSON object per line (NDJSON)
            --function <name>      only this function's entries
            --stale                only entries of stale bodies
  prune   remove entries until the limits hold: stale bodies first, then least recently used
            --stale                remove every entry of stale bodies (older versions of a
                                   function unused for staleAfter, 7 days)
            --bytes-limit <size>   e.g. 500M, 10G (base 1024)
            --age-limit <duration> e.g. 30d, 12h (by last access)
            --items-limit <n>
  clear   remove every entry, or only one function's with --function <name>
  reconcile
          make the index agree with the result files (after crashes, or clears
          that raced other writers): rows for files it lost, none for files gone

Options:
  --json               print JSON instead of text (ls: one object per line)
  --stale-after <d>    when an older version counts as stale (default 7d)
  --help    show this help

location defaults to $LARDER_LOCATION, then the current folder.`;

class UsageError extends Error {}

/**
 * Text for a terminal: names and ids come from the index, which anyone able to write the
 * location can fill, and a control character in them (ESC, BEL, C1) would be a command to the
 * terminal (retitle it, clear the screen, hide lines). Each is written as an escape instead.
 */
function printable(text: string): string {
  return text.replace(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/**
 * --json output, which also lands on terminals (`larder ls --json | head`): JSON.stringify
 * escapes C0 but writes DEL and C1 (CSI, OSC) as they are; those become `\u` escapes, which
 * parse back to the same strings.
 */
function jsonText(value: unknown, indent?: number): string {
  return JSON.stringify(value, null, indent).replace(/[\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A table whose column widths come from these rows (a small table: stats' per-function rows). */
function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, column) => rows.reduce((max, row) => Math.max(max, row[column]!.length), 0));
  return rows.map((row) => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ').trimEnd()).join('\n');
}

function statsText(location: string, stats: CacheStats): string {
  const lines = [
    `location            ${location}`,
    `entries             ${stats.entries} (${formatBytes(stats.bytes)})`,
    `hits / misses       ${stats.hits} / ${stats.misses}`,
    `compute time saved  ${formatDuration(stats.computeTimeSavedMs)}`,
  ];
  if (stats.staleEntries > 0) lines.push(`stale entries       ${stats.staleEntries} (${formatBytes(stats.staleBytes)}): older versions unused for staleAfter; larder prune --stale removes them`);
  const names = Object.keys(stats.perFunction).sort();
  if (names.length > 0) {
    const rows = [['function', 'entries', 'size', 'hits', 'misses', 'saved', 'stale']];
    for (const name of names) {
      const fn = stats.perFunction[name]!;
      rows.push([name, String(fn.entries), formatBytes(fn.bytes), String(fn.hits), String(fn.misses), formatDuration(fn.computeTimeSavedMs), String(fn.staleEntries)]);
    }
    lines.push('', table(rows));
  }
  return lines.join('\n');
}

/** A time as 'YYYY-MM-DD hh:mm:ss'; one no Date can hold (an index row another program wrote) as '-'. */
const when = (ms: number) => {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? '-'.padEnd(19) : date.toISOString().replace('T', ' ').slice(0, 19);
};

/** Fixed columns, so each line prints as soon as its entry arrives (a long function name widens only its own line). */
const LS_HEADER = `${'function'.padEnd(20)}  ${'id'.padEnd(33)}  ${'size'.padStart(10)}  ${'created'.padEnd(19)}  ${'last access'.padEnd(19)}  ${'hits'.padStart(6)}`;
function lsLine(entry: EntrySummary): string {
  return printable(`${entry.functionName.padEnd(20)}  ${entry.id.slice(entry.id.indexOf('/') + 1).padEnd(33)}  ${formatBytes(entry.bytes).padStart(10)}  ${when(entry.createdMs)}  ${when(entry.lastAccessMs)}  ${String(entry.hits).padStart(6)}${entry.stale ? '  stale' : ''}`);
}

/** Writes to stdout in chunks, waiting when the pipe is full; false once the reader went away (\`larder ls | head\`). */
class Output {
  private chunk: string[] = [];
  private size = 0;
  closed = false;

  constructor() {
    process.stdout.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE') throw error;
      this.closed = true;
    });
  }

  async line(text: string): Promise<boolean> {
    this.chunk.push(text);
    this.size += text.length + 1;
    if (this.size >= 64 * 1024) await this.flush();
    return !this.closed;
  }

  async flush(): Promise<void> {
    if (this.chunk.length === 0 || this.closed) return;
    const text = `${this.chunk.join('\n')}\n`;
    this.chunk = [];
    this.size = 0;
    // once() rejects when the stream errs while it waits for another event ('drain', 'close'):
    // a reader gone (EPIPE, handled above) ends the wait, it is no failure of the command.
    const settled = (event: string) => once(process.stdout, event).catch(() => undefined);
    if (!process.stdout.write(text)) await Promise.race([settled('drain'), settled('error'), settled('close')]);
  }
}

/** `larder ls`: streams entries from the index; the first page prints before the rest is read. */
async function ls(memory: Memory, json: boolean, options: { function?: string | undefined; stale?: boolean | undefined }): Promise<void> {
  const out = new Output();
  let count = 0;
  if (!json) await out.line(LS_HEADER);
  for await (const entry of memory.entries(options)) {
    count++;
    if (!(await out.line(json ? jsonText(entry) : lsLine(entry)))) break;
    // The first screen goes out at once; then in 64 KiB chunks.
    if (count === 50) await out.flush();
  }
  if (count === 0 && !json) {
    out.closed || process.stdout.write('no entries\n');
    return;
  }
  await out.flush();
}

const LIMIT_FLAGS: Record<string, string> = { bytesLimit: '--bytes-limit', ageLimit: '--age-limit', itemsLimit: '--items-limit' };

/** prune's limits, checked before anything is opened: a bad value is a usage error (exit 2), named by its flag. */
function pruneLimits(values: { 'bytes-limit'?: string | undefined; 'age-limit'?: string | undefined; 'items-limit'?: string | undefined }): ReduceSizeOptions {
  const itemsText = values['items-limit'];
  const limits: ReduceSizeOptions = { bytesLimit: values['bytes-limit'], ageLimit: values['age-limit'], itemsLimit: itemsText === undefined ? undefined : Number(itemsText) };
  if (limits.bytesLimit === undefined && limits.ageLimit === undefined && limits.itemsLimit === undefined) {
    throw new UsageError('prune needs --stale or at least one of --bytes-limit, --age-limit, --items-limit');
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
      tokens: true,
      options: {
        json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
        'bytes-limit': { type: 'string' }, 'age-limit': { type: 'string' }, 'items-limit': { type: 'string' },
        function: { type: 'string' }, stale: { type: 'boolean' }, 'stale-after': { type: 'string' },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals, tokens } = parsed;
  // parseArgs keeps the last of a repeated option: 'clear --function a --function b' would clear only b,
  // 'prune --bytes-limit 1G --bytes-limit 10G' keep 10G, without a word.
  const seen = new Set<string>();
  for (const token of tokens) {
    if (token.kind !== 'option') continue;
    if (seen.has(token.name)) throw new UsageError(`--${token.name} is given more than once`);
    seen.add(token.name);
  }
  const [command, where, ...extra] = positionals;
  if (values.help || command === undefined) return void process.stdout.write(`${USAGE}\n`), values.help ? 0 : 2;
  if (!['stats', 'ls', 'prune', 'clear', 'reconcile'].includes(command)) throw new UsageError(`unknown command "${command}"`);
  if (extra.length > 0) throw new UsageError(`unexpected arguments: ${extra.join(' ')}`);
  const location = resolve(where ?? process.env.LARDER_LOCATION ?? '.');
  if (existsSync(location) && !statSync(location).isDirectory()) throw new UsageError(`${location} is not a larder cache: it is a file, not a folder`);
  if (!['results', 'index.sqlite', MARKER_FILE].some((name) => existsSync(join(location, name)))) {
    throw new UsageError(`${location} is not a larder cache (no ${MARKER_FILE}, results/ or index.sqlite in it); pass the folder given to new Memory(...)`);
  }
  if (values.stale && command !== 'prune' && command !== 'ls') throw new UsageError(`--stale applies to prune and ls, not ${command}`);
  if (values.function !== undefined && command !== 'clear' && command !== 'ls') throw new UsageError(`--function applies to clear and ls, not ${command}`);
  if (values.function === '') throw new UsageError('--function needs a function name');
  // A limit only prune reads: given to clear (meaning prune), ignoring it would remove every entry.
  for (const flag of ['bytes-limit', 'age-limit', 'items-limit'] as const) {
    if (values[flag] !== undefined && command !== 'prune') throw new UsageError(`--${flag} applies to prune, not ${command}`);
  }
  const limits = command === 'prune' && !(values.stale && !values['bytes-limit'] && !values['age-limit'] && !values['items-limit']) ? pruneLimits(values) : undefined;
  const staleAfter = values['stale-after'];
  // 'clear --stale-after 30d', meaning stale entries, would remove every entry.
  if (staleAfter !== undefined && command !== 'stats' && command !== 'ls' && command !== 'prune') throw new UsageError(`--stale-after applies to stats, ls and prune, not ${command}`);
  if (staleAfter !== undefined) {
    try {
      parseDuration(staleAfter, '--stale-after');
    } catch (error) {
      throw new UsageError((error as Error).message.replace(/^\[larder\/memory\] /, ''));
    }
  }
  const memory = new Memory(location, { staleAfter, onWarning: (w) => void process.stderr.write(`warning: ${printable(w.message)}\n`) });
  const print = (json: unknown, text: string) => void process.stdout.write(`${values.json ? jsonText(json, 2) : printable(text)}\n`);
  try {
    if (command === 'stats') {
      const stats = await memory.stats();
      print({ location, ...stats }, statsText(location, stats));
    } else if (command === 'ls') {
      await ls(memory, values.json === true, { function: values.function, stale: values.stale ? true : undefined });
    } else if (command === 'prune') {
      const stale = values.stale ? await memory.clearStale() : { removed: 0, freedBytes: 0 };
      const reduced = limits ? await memory.reduceSize(limits) : { removed: 0, freedBytes: 0 };
      const result = { removed: stale.removed + reduced.removed, freedBytes: stale.freedBytes + reduced.freedBytes };
      print(result, `removed ${result.removed} ${result.removed === 1 ? 'entry' : 'entries'}, freed ${formatBytes(result.freedBytes)}`);
    } else if (command === 'reconcile') {
      const result = await memory.reconcile();
      print(result, `index rows added for ${result.added} ${result.added === 1 ? 'file' : 'files'}, removed for ${result.removed} missing ${result.removed === 1 ? 'file' : 'files'}`);
    } else {
      const name = values.function;
      const removed = name === undefined ? (await memory.stats()).entries : await memory.clearFunction(name);
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
    process.stderr.write(`larder: ${printable((error as Error)?.message ?? String(error))}\n${error instanceof UsageError ? "Run 'larder --help' for usage.\n" : ''}`);
    process.exitCode = usage ? 2 : 1;
  },
);
