/** Every public entry checks its arguments and says what was wrong, instead of failing on them later. */
import { describe, expect, it } from 'vitest';
import { delayed, onWorkerTeardown, Parallel, parallel, tasks, type BackendName } from '@larder/parallel';
import { t } from './fixtures/math-tasks.js';

const square = (x: number): number => x * x;
const optionError = (message: string): object => ({ name: 'ParallelError', code: 'LARDER_OPTION', message: `[larder/parallel] ${message}` });
// Stands in for a caller without types (plain JavaScript, or `as any`).
const untyped = (value: unknown): never => value as never;
const untypedTask = (value: unknown): typeof square => value as typeof square;

describe.each(['threads', 'async', 'sequential'] as BackendName[])('backend %s', (backend) => {
  it('regression: map() and parallel() with a task that is not a function reject with LARDER_OPTION saying what they got', async () => {
    await using pool = new Parallel({ backend, nJobs: 2 });
    await expect(pool.map(untypedTask(undefined), [1])).rejects.toMatchObject(optionError('map() needs a function or a task handle from tasks() as its first argument, got undefined'));
    await expect(pool.map(untypedTask({ task: square }), [1])).rejects.toMatchObject(optionError('map() needs a function or a task handle from tasks() as its first argument, got an object'));
    await expect(parallel(untypedTask(42), [1], { backend, nJobs: 2 })).rejects.toMatchObject(optionError('parallel() needs a function or a task handle from tasks() as its first argument, got 42'));
    expect(await pool.map(t.square, [1, 2])).toEqual([1, 4]); // the pool is untouched
  });

  it('regression: items and calls that are not an array or (async) iterable reject with LARDER_OPTION naming the entry', async () => {
    await using pool = new Parallel({ backend, nJobs: 2 });
    await expect(pool.map(t.square, untyped(5))).rejects.toMatchObject(optionError('map(): items must be an array, an iterable or an async iterable, got 5'));
    await expect(pool.map(t.square, untyped(null))).rejects.toMatchObject(optionError('map(): items must be an array, an iterable or an async iterable, got null'));
    await expect(parallel(t.square, untyped(undefined), { backend, nJobs: 2 })).rejects.toMatchObject(optionError('parallel(): items must be an array, an iterable or an async iterable, got undefined'));
    await expect(pool.run(untyped(null))).rejects.toMatchObject(optionError('run(): calls must be an array, an iterable or an async iterable of delayed(task)(...args) calls, got null'));
    await expect(pool.run(untyped(delayed(t.square)(2)))).rejects.toMatchObject(optionError('run(): calls must be an array, an iterable or an async iterable of delayed(task)(...args) calls, got an object'));
    await expect(pool.iterate(untyped(7)).next()).rejects.toMatchObject(optionError('iterate(): calls must be an array, an iterable or an async iterable of delayed(task)(...args) calls, got 7'));
    await expect(pool.iterate([delayed(t.square)(2)], { ordered: untyped('no') }).next()).rejects.toMatchObject(optionError('iterate(): ordered must be a boolean, got "no"'));
    expect(await pool.map(t.square, [3])).toEqual([9]);
  });

  it('regression: null or non-object call options reject with LARDER_OPTION naming the parameter', async () => {
    await using pool = new Parallel({ backend, nJobs: 2 });
    await expect(pool.map(t.square, [1], untyped(null))).rejects.toMatchObject(optionError('map(): options must be an object or undefined, got null'));
    await expect(pool.run([delayed(t.square)(1)], untyped(3))).rejects.toMatchObject(optionError('run(): options must be an object or undefined, got 3'));
    await expect(pool.iterate([delayed(t.square)(1)], untyped(null)).next()).rejects.toMatchObject(optionError('iterate(): options must be an object or undefined, got null'));
    await expect(parallel(t.square, [1], untyped(null))).rejects.toMatchObject(optionError('parallel(): options must be an object or undefined, got null'));
    expect(await pool.map(t.square, [2], undefined)).toEqual([4]);
    expect(await parallel(t.square, [2], { backend, nJobs: 2 })).toEqual([4]);
  });
});

describe('constructor and tasks() arguments', () => {
  it('regression: joblib spellings of options (n_jobs, batch_size, ...) throw LARDER_OPTION naming the larder option instead of being ignored', async () => {
    expect(() => new Parallel(untyped({ n_jobs: 2 }))).toThrow(expect.objectContaining(optionError('new Parallel(): unknown option n_jobs: use nJobs')));
    await expect(parallel(t.square, [1], untyped({ max_nbytes: '1M' }))).rejects.toMatchObject(optionError('parallel(): unknown option max_nbytes: use maxNbytes'));
    await using pool = new Parallel({ backend: 'sequential' });
    await expect(pool.map(t.square, [1], untyped({ batch_size: 4 }))).rejects.toMatchObject(optionError('map(): unknown option batch_size: use batchSize'));
    expect(() => onWorkerTeardown(untyped('close'))).toThrow(expect.objectContaining(optionError('onWorkerTeardown() needs a function, got "close"')));
  });

  it('regression: a misspelt option (njobs, batchsize, order) throws LARDER_OPTION listing the options instead of being ignored', async () => {
    expect(() => new Parallel(untyped({ njobs: 2 }))).toThrow(expect.objectContaining(optionError('new Parallel(): unknown option njobs: the options are nJobs, backend, connection, queue, store, s3, workerInit, resourceLimits, batchSize, preDispatch, timeout, maxNbytes, verbose, progress, signal')));
    await expect(parallel(t.square, [1], untyped({ nJobs: 1, timeOut: 5 }))).rejects.toMatchObject({ code: 'LARDER_OPTION', message: expect.stringContaining('parallel(): unknown option timeOut: the options are nJobs,') });
    await using pool = new Parallel({ backend: 'sequential' });
    await expect(pool.map(t.square, [1], untyped({ batchsize: 4 }))).rejects.toMatchObject(optionError('map(): unknown option batchsize: the options are batchSize, preDispatch, timeout, maxNbytes, verbose, progress, signal'));
    // A pool option is not a call option: nJobs per call would be ignored.
    await expect(pool.run([delayed(t.square)(1)], untyped({ nJobs: 2 }))).rejects.toMatchObject({ code: 'LARDER_OPTION', message: expect.stringContaining('run(): unknown option nJobs') });
    await expect(pool.iterate([delayed(t.square)(1)], untyped({ order: false })).next()).rejects.toMatchObject({ code: 'LARDER_OPTION', message: expect.stringContaining('iterate(): unknown option order: the options are batchSize, preDispatch, timeout, maxNbytes, verbose, progress, signal, ordered') });
    expect(await pool.map(t.square, [3], { batchSize: 1, preDispatch: 'all', timeout: 10_000, maxNbytes: null, verbose: 0, progress: false })).toEqual([9]);
  });

  it('regression: resourceLimits that are not an object of positive sizes, or given to an in-process backend, throw LARDER_OPTION naming the option', () => {
    expect(() => new Parallel({ resourceLimits: untyped('512M') })).toThrow(expect.objectContaining(optionError('resourceLimits must be an object such as { maxOldGenerationSizeMb: 512 }, got "512M"')));
    expect(() => new Parallel({ resourceLimits: { maxOldGenerationSizeMb: -1 } })).toThrow(expect.objectContaining(optionError('resourceLimits.maxOldGenerationSizeMb must be a positive number of megabytes, got -1')));
    expect(() => new Parallel({ resourceLimits: untyped({ maxOldSpace: 5 }) })).toThrow(expect.objectContaining({ code: 'LARDER_OPTION', message: expect.stringContaining('got key "maxOldSpace"') }));
    for (const backend of ['async', 'sequential'] as const) {
      expect(() => new Parallel({ backend, resourceLimits: { maxOldGenerationSizeMb: 64 } })).toThrow(
        expect.objectContaining({ code: 'LARDER_OPTION', message: expect.stringContaining(`resourceLimits bound worker threads, but backend '${backend}' runs tasks in this thread`) }),
      );
    }
  });

  it('regression: new Parallel(null) and non-object options throw LARDER_OPTION naming the parameter', () => {
    expect(() => new Parallel(untyped(null))).toThrow(expect.objectContaining(optionError('new Parallel(): options must be an object or undefined, got null')));
    expect(() => new Parallel(untyped('threads'))).toThrow(expect.objectContaining(optionError('new Parallel(): options must be an object or undefined, got "threads"')));
    expect(new Parallel(undefined).nJobs).toBeGreaterThanOrEqual(1);
  });

  it('regression: tasks() with a null or missing function map, or a first argument that is not a URL, throws LARDER_OPTION', () => {
    const needsUrl = 'tasks() needs the URL of the calling module as its first argument (pass import.meta.url)';
    expect(() => tasks(import.meta.url, untyped(null))).toThrow(expect.objectContaining(optionError('tasks() needs an object of functions as its second argument ({ name: fn }), got null')));
    expect(() => tasks(import.meta.url, untyped(undefined))).toThrow(expect.objectContaining(optionError('tasks() needs an object of functions as its second argument ({ name: fn }), got undefined')));
    expect(() => tasks(import.meta.url, untyped(square))).toThrow(expect.objectContaining(optionError('tasks() needs an object of functions as its second argument ({ name: fn }), got a function')));
    expect(() => tasks(untyped(undefined), { square })).toThrow(expect.objectContaining(optionError(`${needsUrl}, got undefined`)));
    expect(() => tasks(untyped(new URL(import.meta.url)), { square })).toThrow(expect.objectContaining(optionError(`${needsUrl}, got a URL object; pass its .href`)));
    expect(() => tasks('/srv/app/tasks.js', { square })).toThrow(
      expect.objectContaining(optionError(`${needsUrl}, got "/srv/app/tasks.js", a file path; turn a path into a URL with pathToFileURL(path).href`)),
    );
    expect(() => tasks('C:\\app\\tasks.js', { square })).toThrow(
      expect.objectContaining(optionError(`${needsUrl}, got "C:\\\\app\\\\tasks.js", a file path; turn a path into a URL with pathToFileURL(path).href`)),
    );
    expect(() => tasks('tasks.js', { square })).toThrow(expect.objectContaining(optionError(`${needsUrl}, got "tasks.js"`)));
    expect(tasks(import.meta.url, { square }).square(3)).toBe(9);
  });
});
