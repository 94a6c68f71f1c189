/**
 * The larder-worker bin's command line and backend 'bullmq''s options,
 * checked without a Redis: what a user mistypes is refused with a message
 * that names the flag or option and what it got.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Parallel, ParallelError, type ParallelOptions } from '@larder/parallel';
import { t } from './fixtures/math-tasks.js';

const bin = fileURLToPath(new URL('../src/larder-worker.ts', import.meta.url));

function larderWorker(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, ['--conditions=larder-source', '--import', 'tsx', bin, ...args], { encoding: 'utf8', timeout: 30_000 });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

describe('larder-worker command line', () => {
  it('--help prints the usage and exits 0', () => {
    const run = larderWorker('--help');
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/^Usage: larder-worker --connection URL --queue NAME \[--store LOCATION\]\.\.\. \[--concurrency N\] \[--root DIR\]/);
    expect(run.stdout).toContain('--root DIR');
    expect(run.stdout).toContain('--store LOCATION');
  });

  it.each([
    [[], /--connection is required/],
    [['--connection', 'redis://127.0.0.1:1'], /--queue is required/],
    [['--connection', 'http://x', '--queue', 'q'], /--connection must be a redis:\/\/ or rediss:\/\/ URL/],
    [['--connection', 'redis://127.0.0.1:1', '--queue', 'a:b'], /--queue must be a queue name of letters, digits/],
    [['--connection', 'redis://127.0.0.1:1', '--queue', 'q', '--concurrency', '0'], /--concurrency must be a positive integer up to 1024, got "0"/],
    // Regression: past 2^31 - 1 ms Node's timers fire after 1 ms, so these were accepted and the lock was lost at once.
    [['--connection', 'redis://127.0.0.1:1', '--queue', 'q', '--lock-duration', '99999999999'], /--lock-duration must be a positive integer up to 2147483647, got "99999999999"/],
    [['--connection', 'redis://127.0.0.1:1', '--queue', 'q', '--stalled-interval', '2147483648'], /--stalled-interval must be a positive integer up to 2147483647/],
    [['--connection', 'redis://127.0.0.1:1', '--queue', 'q', '--concurrency', '100000000000000000000'], /--concurrency must be a positive integer up to 1024/],
    [['--connection', 'redis://127.0.0.1:1', '--queue', 'q', '--root', '/no/such/folder'], /--root must be a folder, got "\/no\/such\/folder"/],
    [['--connection', 'redis://127.0.0.1:1', '--queue', 'q', '--colour'], /Unknown option '--colour'/],
    [['--connection', 'redis://127.0.0.1:1', '--queue', 'q', '--store', 's3://Bad_Bucket/x'], /--store "s3:\/\/Bad_Bucket\/x": location must be .*bucket name/],
    [['--connection', 'redis://127.0.0.1:1', '--queue', 'q', '--store', 'http://x/y'], /--store "http:\/\/x\/y": location must be a folder path/],
    [['--connection', 'redis://127.0.0.1:1', '--queue', 'q', '--store', ''], /--store\[0\] must be a folder path or 's3:\/\/bucket\/prefix', got ""/],
    // Regression: a repeated flag kept its last value without a word, and an empty --root meant the working directory.
    [['--connection', 'redis://127.0.0.1:1', '--queue', 'q', '--queue', 'r'], /--queue is given more than once \(only --store may be repeated\)/],
    [['--connection', 'redis://127.0.0.1:1', '--connection', 'redis://127.0.0.1:2', '--queue', 'q'], /--connection is given more than once/],
    [['--connection', 'redis://127.0.0.1:1', '--queue', 'q', '--concurrency', '2', '--concurrency', '3'], /--concurrency is given more than once/],
    [['--connection', 'redis://127.0.0.1:1', '--queue', 'q', '--root', ''], /--root must be a folder, got ""/],
    // Regression: a query nobody read was dropped: '?tls=true' connected in plain text.
    [['--connection', 'redis://127.0.0.1:1/0?tls=true', '--queue', 'q'], /--connection must be a Redis URL without parameters/],
  ])('refuses %j with exit code 2 and a message that names the flag', (args, message) => {
    const run = larderWorker(...args);
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(message);
    expect(run.stderr).toContain('larder-worker --help');
  });
});

describe("backend 'bullmq' options", () => {
  const refused = (options: ParallelOptions): ParallelError => {
    try {
      new Parallel(options);
    } catch (error) {
      return error as ParallelError;
    }
    throw new Error('accepted');
  };

  it.each([
    [{ backend: 'bullmq' }, /connection must be a Redis URL/],
    [{ backend: 'bullmq', connection: 'redis://h:6379' }, /queue must be the name of the queue/],
    [{ backend: 'bullmq', connection: 'mysql://h', queue: 'q' }, /connection must be a redis:\/\/ or rediss:\/\/ URL/],
    [{ backend: 'bullmq', connection: 'redis://h:6379/x', queue: 'q' }, /path is a database number/],
    [{ backend: 'bullmq', connection: 'rediss://h:6379/0?family=6#x', queue: 'q' }, /connection must be a Redis URL without parameters/],
    [{ backend: 'bullmq', connection: 'redis://h:6379', queue: 'bull:q' }, /queue must be a queue name/],
    [{ backend: 'bullmq', connection: 'redis://h:6379', queue: 'q', workerInit: t.init }, /workerInit must be undefined with backend 'bullmq'/],
    [{ backend: 'bullmq', connection: 'redis://h:6379', queue: 'q', resourceLimits: { maxOldGenerationSizeMb: 64 } }, /resourceLimits bound worker threads, but backend 'bullmq' runs tasks in larder-worker processes/],
    [{ backend: 'threads', queue: 'q' }, /queue is an option of backend 'bullmq'/],
    [{ backend: 'async', store: '/tmp/x' }, /store is an option of backend 'bullmq'/],
    [{ backend: 'threads', s3: { region: 'us-east-1' } }, /s3 is an option of backend 'bullmq'/],
    [{ backend: 'bullmq', connection: 'redis://h:6379', queue: 'q', store: '/tmp/x', s3: { region: 'us-east-1' } }, /s3 must be S3 settings with an 's3:\/\/bucket\/prefix' store/],
    [{ backend: 'bullmq', connection: 'redis://h:6379', queue: 'q', store: 's3://bucket/p', s3: 'us-east-1' as never }, /s3 must be an object of S3 settings/],
  ] as [ParallelOptions, RegExp][])('new Parallel(%j) is LARDER_OPTION', (options, message) => {
    const error = refused(options);
    expect(error).toBeInstanceOf(ParallelError);
    expect(error.code).toBe('LARDER_OPTION');
    expect(error.message).toMatch(message);
  });

  it('a pool with an s3:// store and s3 settings is made without any request (the store connects on first use)', async () => {
    await using pool = new Parallel({ backend: 'bullmq', connection: 'redis://127.0.0.1:1', queue: 'q', store: 's3://bucket/prefix', s3: { endpoint: 'http://127.0.0.1:1', region: 'eu-west-3' } });
    expect(pool).toBeInstanceOf(Parallel);
  });

  it('a plain function is refused before any connection, naming tasks()', async () => {
    await using pool = new Parallel({ backend: 'bullmq', connection: 'redis://127.0.0.1:1', queue: 'q' });
    const error = (await pool.map((x: number) => x, [1]).catch((e: unknown) => e)) as ParallelError;
    expect(error.code).toBe('LARDER_NOT_A_TASK');
    expect(error.message).toMatch(/backend 'bullmq' sends tasks to larder-worker processes by module and name/);
  });
});
