#!/usr/bin/env node
/**
 * `larder-worker`: serves a 'bullmq' pool's queue on this machine.
 *
 *   larder-worker --connection redis://queue-host:6379 --queue sweep [--store LOCATION]... [--concurrency 4] [--root DIR]
 *
 * SIGTERM or SIGINT: stop taking jobs, finish the running batches, run the
 * worker hooks (teardown), exit 0. A second signal exits at once (BullMQ
 * then gives the unfinished batches to another worker).
 */
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { MAX_TIMER_MS } from './options.js';
import { RemoteWorker } from './remote-worker.js';

const USAGE = `Usage: larder-worker --connection URL --queue NAME [--store LOCATION]... [--concurrency N] [--root DIR]

Runs the tasks a @larder/parallel pool with backend 'bullmq' sends to queue NAME.

  --connection URL      the queue's Redis: redis://[user:password@]host[:port][/db], rediss:// for TLS
  --queue NAME          the pool's \`queue\` option
  --store LOCATION      a store the pool's jobs may use (the pool's \`store\` option: a folder or
                        s3://bucket/prefix); repeat it for several. A job naming any other store
                        fails and nothing is opened (default: none; jobs that need no store run)
  --concurrency N       batches run at once, each on a worker thread (default: the CPU count)
  --root DIR            where task modules resolve: their path relative to the caller's working
                        directory, or their package in DIR's node_modules (default: the working directory)
  --lock-duration MS    a worker silent this long (killed) has its batch run again elsewhere (default 30000)
  --stalled-interval MS how often to look for such batches (default 30000)
  -h, --help            this text

S3 stores take their settings from the AWS_* environment.`;

function fail(message: string): never {
  process.stderr.write(`larder-worker: ${message}\n\nRun larder-worker --help for the options.\n`);
  process.exit(2);
}

/** The most batches at once: one worker thread each, and no machine runs more usefully. */
const MAX_CONCURRENCY = 1024;

function positiveInteger(name: string, text: string | undefined, max: number): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > max) fail(`--${name} must be a positive integer up to ${max}, got ${JSON.stringify(text)}`);
  return Number(text);
}

function parse(): Parameters<typeof RemoteWorker.start>[0] | undefined {
  let values, tokens;
  try {
    ({ values, tokens } = parseArgs({
      tokens: true,
      options: {
        connection: { type: 'string' },
        queue: { type: 'string' },
        store: { type: 'string', multiple: true },
        concurrency: { type: 'string' },
        root: { type: 'string' },
        'lock-duration': { type: 'string' },
        'stalled-interval': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    return fail((error as Error).message);
  }
  if (values.help) return undefined;
  // parseArgs keeps the last of a repeated flag: '--queue a --queue b' would serve only b without a word.
  const seen = new Set<string>();
  for (const token of tokens) {
    if (token.kind !== 'option' || token.name === 'store') continue;
    if (seen.has(token.name)) fail(`--${token.name} is given more than once (only --store may be repeated)`);
    seen.add(token.name);
  }
  if (values.root !== undefined && values.root.trim() === '') fail('--root must be a folder, got "" (leave it out for the working directory)');
  if (values.connection === undefined) fail('--connection is required (the Redis URL of the queue, e.g. redis://127.0.0.1:6379)');
  if (values.queue === undefined) fail("--queue is required (the pool's queue option)");
  let root: string | undefined;
  if (values.root !== undefined) {
    root = resolve(values.root);
    let isDirectory = false;
    try {
      isDirectory = statSync(root).isDirectory();
    } catch {
      // reported below
    }
    if (!isDirectory) fail(`--root must be a folder, got ${JSON.stringify(values.root)} (no such folder)`);
  }
  const options: Parameters<typeof RemoteWorker.start>[0] = { connection: values.connection, queue: values.queue, stores: values.store ?? [] };
  const concurrency = positiveInteger('concurrency', values.concurrency, MAX_CONCURRENCY);
  if (concurrency !== undefined) options.concurrency = concurrency;
  if (root !== undefined) options.root = root;
  const lockDuration = positiveInteger('lock-duration', values['lock-duration'], MAX_TIMER_MS);
  if (lockDuration !== undefined) options.lockDuration = lockDuration;
  const stalledInterval = positiveInteger('stalled-interval', values['stalled-interval'], MAX_TIMER_MS);
  if (stalledInterval !== undefined) options.stalledInterval = stalledInterval;
  return options;
}

async function main(): Promise<void> {
  const options = parse();
  if (!options) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  let worker: RemoteWorker;
  try {
    worker = await RemoteWorker.start(options);
  } catch (error) {
    fail((error as Error).message.replace(/^\[larder\/parallel\] /, ''));
  }
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) {
      process.stderr.write(`larder-worker: ${signal} again, exiting now\n`);
      process.exit(1);
    }
    stopping = true;
    process.stderr.write(`larder-worker: ${signal}: finishing the running batches, then exiting\n`);
    worker.close().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`larder-worker: closing failed: ${String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

void main();
